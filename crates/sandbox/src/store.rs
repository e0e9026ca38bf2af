//! The sandbox's in-memory, versioned resource store. Every write is a new version; a delete is a
//! version without content (so a read after delete can answer 410 Gone, not 404).

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Version {
    pub version_id: u64,
    pub last_updated: DateTime<Utc>,
    /// `None` for a delete.
    pub resource: Option<Value>,
    /// The interaction that made this version, for history bundles.
    pub method: &'static str,
}

/// Versions kept per resource. The sandbox is a test double under load as much as a FHIR server:
/// an interface feed updating one patient thousands of times must not grow memory without
/// bound. Older versions are trimmed in batches (vread of one answers 404, as for an unknown
/// version).
pub const VERSIONS_KEPT: usize = 100;

/// Versions the store holds at most, across every resource, before it refuses writes with 507.
/// A resource version of a typical test Patient or Observation costs 1-3 KB of heap, so this
/// bounds the sandbox near 2-3 GB however long a feed runs; `--store-max-versions` changes it.
pub const DEFAULT_MAX_VERSIONS: usize = 1_000_000;

/// A write refused because the store is at its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sandbox store holds its limit of {max} resource versions (--store-max-versions); restart it or raise the limit")]
pub struct StoreFull {
    pub max: usize,
}

#[derive(Debug, Default)]
pub struct History {
    /// Creation order of the resource, so searches page in a stable order.
    pub seq: u64,
    pub versions: Vec<Version>,
}

impl History {
    pub fn current(&self) -> Option<&Version> {
        self.versions.last()
    }

    /// Appends `v` and returns it with how many older versions were trimmed: by reference,
    /// because the HL7 feed writes thousands of versions a second and most callers only read the
    /// version id.
    fn push(&mut self, v: Version) -> (&Version, usize) {
        // Trim in batches, so a resource over the limit is not shifted on every write.
        let mut trimmed = 0;
        if self.versions.len() + 1 >= 2 * VERSIONS_KEPT {
            trimmed = self.versions.len() + 1 - VERSIONS_KEPT;
            self.versions.drain(..trimmed);
        }
        self.versions.push(v);
        (&self.versions[self.versions.len() - 1], trimmed)
    }
}

#[derive(Debug)]
pub struct Store {
    types: HashMap<String, HashMap<String, History>>,
    next_seq: u64,
    /// Versions held now, and the most allowed.
    stored: usize,
    max_versions: usize,
    /// type → identifier value → ids that carried it in some version. The HL7 feed looks up
    /// patients, visits and orders by identifier on every message; a scan of the whole type made
    /// a long load run slower with every patient it created. Entries are candidates, checked
    /// against the current version on lookup, so updates and deletes never leave wrong answers.
    /// Nested rather than keyed by a pair so that a lookup by `&str` allocates nothing.
    by_identifier: HashMap<String, HashMap<String, Vec<String>>>,
}

pub enum Read<'a> {
    Found(&'a Version),
    Gone(&'a Version),
    Missing,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_limit(DEFAULT_MAX_VERSIONS)
    }
}

impl Store {
    /// An empty store that holds at most `max_versions` versions.
    pub fn with_limit(max_versions: usize) -> Self {
        Store {
            types: HashMap::new(),
            next_seq: 0,
            stored: 0,
            max_versions,
            by_identifier: HashMap::new(),
        }
    }

    /// Ok when `n` more versions fit (a transaction checks all of its writes first).
    pub fn room_for(&self, n: usize) -> Result<(), StoreFull> {
        if self.stored.saturating_add(n) > self.max_versions {
            Err(StoreFull {
                max: self.max_versions,
            })
        } else {
            Ok(())
        }
    }

    pub fn read(&self, rtype: &str, id: &str) -> Read<'_> {
        match self
            .types
            .get(rtype)
            .and_then(|m| m.get(id))
            .and_then(History::current)
        {
            Some(v) if v.resource.is_some() => Read::Found(v),
            Some(v) => Read::Gone(v),
            None => Read::Missing,
        }
    }

    pub fn vread(&self, rtype: &str, id: &str, vid: u64) -> Option<&Version> {
        self.history(rtype, id)?
            .versions
            .iter()
            .find(|v| v.version_id == vid)
    }

    pub fn history(&self, rtype: &str, id: &str) -> Option<&History> {
        self.types.get(rtype)?.get(id)
    }

    /// Live resources of a type, in creation order.
    /// Live resources of `rtype` whose current version has an identifier with this value, with
    /// their creation order.
    pub fn with_identifier<'a>(
        &'a self,
        rtype: &str,
        value: &'a str,
    ) -> impl Iterator<Item = (u64, &'a Value)> + 'a {
        let map = self.types.get(rtype);
        self.by_identifier
            .get(rtype)
            .and_then(|values| values.get(value))
            .into_iter()
            .flatten()
            .filter_map(move |id| {
                let h = map?.get(id)?;
                let r = h.current()?.resource.as_ref()?;
                identifier_values(r)
                    .any(|v| v == value)
                    .then_some((h.seq, r))
            })
    }

    pub fn live(&self, rtype: &str) -> Vec<&Value> {
        let Some(map) = self.types.get(rtype) else {
            return Vec::new();
        };
        let mut items: Vec<(&u64, &Value)> = map
            .values()
            .filter_map(|h| {
                h.current()
                    .and_then(|v| v.resource.as_ref())
                    .map(|r| (&h.seq, r))
            })
            .collect();
        items.sort_by_key(|(seq, _)| **seq);
        items.into_iter().map(|(_, r)| r).collect()
    }

    /// Every version of every resource of a type, newest first (type-level history).
    pub fn type_history(&self, rtype: &str) -> Vec<(&str, &Version)> {
        let Some(map) = self.types.get(rtype) else {
            return Vec::new();
        };
        let mut all: Vec<(&str, &Version)> = map
            .iter()
            .flat_map(|(id, h)| h.versions.iter().map(move |v| (id.as_str(), v)))
            .collect();
        all.sort_by(|a, b| {
            b.1.last_updated
                .cmp(&a.1.last_updated)
                .then(b.1.version_id.cmp(&a.1.version_id))
        });
        all
    }

    /// Stores `resource` as the next version of `rtype/id`, stamping `id` and `meta`.
    pub fn put(
        &mut self,
        rtype: &str,
        id: &str,
        mut resource: Value,
        method: &'static str,
    ) -> Result<&Version, StoreFull> {
        self.room_for(1)?;
        let now = Utc::now();
        let seq = self.next_seq;
        // Looked up before inserting, so the common write (an update) allocates no keys.
        if !self.types.contains_key(rtype) {
            self.types.insert(rtype.to_string(), HashMap::new());
        }
        let of_type = self.types.get_mut(rtype).expect("inserted above");
        if !of_type.contains_key(id) {
            let fresh = History {
                seq,
                versions: Vec::new(),
            };
            of_type.insert(id.to_string(), fresh);
        }
        let history = of_type.get_mut(id).expect("inserted above");
        if history.versions.is_empty() {
            self.next_seq += 1;
        }
        let version_id = history.versions.last().map_or(1, |v| v.version_id + 1);
        if let Some(obj) = resource.as_object_mut() {
            obj.insert("id".into(), Value::String(id.to_string()));
            let meta = obj
                .entry("meta")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("versionId".into(), Value::String(version_id.to_string()));
                meta.insert("lastUpdated".into(), Value::String(instant(now)));
            }
        }
        if identifier_values(&resource).next().is_some() {
            let index = match self.by_identifier.get_mut(rtype) {
                Some(index) => index,
                None => self.by_identifier.entry(rtype.to_string()).or_default(),
            };
            for value in identifier_values(&resource) {
                let ids = match index.get_mut(value) {
                    Some(ids) => ids,
                    None => index.entry(value.to_string()).or_default(),
                };
                if !ids.iter().any(|known| known == id) {
                    ids.push(id.to_string());
                }
            }
        }
        let v = Version {
            version_id,
            last_updated: now,
            resource: Some(resource),
            method,
        };
        let (v, trimmed) = history.push(v);
        self.stored = self.stored + 1 - trimmed;
        Ok(v)
    }

    /// Marks `rtype/id` deleted. Returns the delete version, or `None` when nothing was live.
    pub fn delete(&mut self, rtype: &str, id: &str) -> Option<Version> {
        // A delete is a version too, but refusing one would keep data a client asked to remove:
        // it may go past the limit.
        let history = self.types.get_mut(rtype)?.get_mut(id)?;
        let current = history.current()?;
        current.resource.as_ref()?;
        let v = Version {
            version_id: current.version_id + 1,
            last_updated: Utc::now(),
            resource: None,
            method: "DELETE",
        };
        let (_, trimmed) = history.push(v.clone());
        self.stored = self.stored + 1 - trimmed;
        Some(v)
    }
}

fn identifier_values(r: &Value) -> impl Iterator<Item = &str> {
    r.get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("value").and_then(Value::as_str))
}

/// FHIR `instant`: RFC 3339 with milliseconds and `Z`.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifier_index_follows_updates_and_deletes() {
        let mut s = Store::default();
        let p = |mrn: &str| serde_json::json!({"resourceType": "Patient", "identifier": [{"value": mrn}]});
        s.put("Patient", "a", p("M1"), "POST").unwrap();
        s.put("Patient", "b", p("M1"), "POST").unwrap();
        let ids = |s: &Store, v: &str| {
            let mut found: Vec<(u64, String)> = s
                .with_identifier("Patient", v)
                .map(|(seq, r)| (seq, r["id"].as_str().unwrap().to_string()))
                .collect();
            found.sort();
            found.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
        };
        assert_eq!(ids(&s, "M1"), ["a", "b"]);
        s.put("Patient", "a", p("M2"), "PUT").unwrap();
        assert_eq!(ids(&s, "M1"), ["b"], "a no longer carries M1");
        assert_eq!(ids(&s, "M2"), ["a"]);
        s.delete("Patient", "b");
        assert!(ids(&s, "M1").is_empty(), "deleted resources are not found");
        assert!(s.with_identifier("Encounter", "M2").next().is_none());
    }

    #[test]
    fn history_is_bounded_and_keeps_the_latest_versions() {
        let mut s = Store::default();
        for i in 0..(3 * VERSIONS_KEPT) {
            s.put(
                "Patient",
                "p",
                serde_json::json!({"resourceType": "Patient", "n": i}),
                "PUT",
            )
            .unwrap();
        }
        let h = s.history("Patient", "p").unwrap();
        assert!(h.versions.len() <= 2 * VERSIONS_KEPT);
        assert_eq!(h.current().unwrap().version_id, 3 * VERSIONS_KEPT as u64);
        assert!(s
            .vread("Patient", "p", 3 * VERSIONS_KEPT as u64 - 50)
            .is_some());
        assert!(
            s.vread("Patient", "p", 1).is_none(),
            "the oldest were trimmed"
        );
    }

    #[test]
    fn versions_and_delete() {
        let mut s = Store::default();
        let v1 = s
            .put("Patient", "a", json!({"resourceType": "Patient"}), "POST")
            .unwrap();
        assert_eq!(v1.version_id, 1);
        let v2 = s
            .put(
                "Patient",
                "a",
                json!({"resourceType": "Patient", "active": true}),
                "PUT",
            )
            .unwrap();
        assert_eq!(v2.version_id, 2);
        assert_eq!(v2.resource.as_ref().unwrap()["meta"]["versionId"], "2");
        assert!(matches!(s.read("Patient", "a"), Read::Found(v) if v.version_id == 2));
        assert_eq!(s.delete("Patient", "a").unwrap().version_id, 3);
        assert!(matches!(s.read("Patient", "a"), Read::Gone(_)));
        assert!(s.delete("Patient", "a").is_none());
        assert!(matches!(s.read("Patient", "b"), Read::Missing));
        assert_eq!(s.vread("Patient", "a", 1).unwrap().version_id, 1);
        assert_eq!(s.type_history("Patient").len(), 3);
        assert!(s.live("Patient").is_empty());
    }

    #[test]
    fn the_store_refuses_writes_at_its_limit_and_counts_trimmed_versions_out() {
        let mut s = Store::with_limit(3);
        for id in ["a", "b", "c"] {
            s.put("Patient", id, json!({"resourceType": "Patient"}), "POST")
                .unwrap();
        }
        let e = s
            .put("Patient", "d", json!({"resourceType": "Patient"}), "POST")
            .unwrap_err();
        assert!(e.to_string().contains("--store-max-versions"), "{e}");
        assert!(s.room_for(1).is_err());
        // Trimming old versions makes room again.
        let mut t = Store::with_limit(2 * VERSIONS_KEPT);
        for i in 0..(5 * VERSIONS_KEPT) {
            t.put(
                "Patient",
                "p",
                json!({"resourceType": "Patient", "n": i}),
                "PUT",
            )
            .unwrap();
        }
    }
}
