//! ValueSet expansion without a terminology server: a ValueSet is expanded offline when every
//! part of it is enumerable from the definitions we carry (listed concepts, whole CodeSystems
//! whose content is complete, `is-a`/`descendent-of` filters over a hierarchy, other ValueSets
//! that are themselves enumerable). Anything else (SNOMED CT, LOINC, UCUM, property filters) is
//! "not enumerable": a binding to it is reported as unchecked, never as an error, because a false
//! alarm on a valid code is worse than a note that we could not look.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::defs::Definitions;

#[derive(Debug)]
pub(crate) enum Expansion {
    /// (system, code) pairs; `codes` also answers for a bare `code` element.
    Codes {
        pairs: HashSet<(String, String)>,
        codes: HashSet<String>,
    },
    NotEnumerable(String),
}

impl Expansion {
    pub(crate) fn contains(&self, system: Option<&str>, code: &str) -> Option<bool> {
        match self {
            Expansion::Codes { pairs, codes } => Some(match system {
                Some(s) => pairs.contains(&(s.to_string(), code.to_string())),
                None => codes.contains(code),
            }),
            Expansion::NotEnumerable(_) => None,
        }
    }
}

/// The expansion of `url`, computed once per definitions set.
pub(crate) fn expand(defs: &Definitions, url: &str) -> Arc<Expansion> {
    let url = url.split('|').next().unwrap_or(url);
    if let Ok(cache) = defs.expansions.lock() {
        if let Some(e) = cache.get(url) {
            return e.clone();
        }
    }
    let mut seen = HashSet::new();
    let e = Arc::new(match expand_into(defs, url, &mut seen) {
        Ok(pairs) => {
            let codes = pairs.iter().map(|(_, c)| c.clone()).collect();
            Expansion::Codes { pairs, codes }
        }
        Err(why) => Expansion::NotEnumerable(why),
    });
    if let Ok(mut cache) = defs.expansions.lock() {
        cache.insert(url.to_string(), e.clone());
    }
    e
}

type Pairs = HashSet<(String, String)>;

fn expand_into(defs: &Definitions, url: &str, seen: &mut HashSet<String>) -> Result<Pairs, String> {
    if !seen.insert(url.to_string()) {
        return Err(format!("ValueSet {url} includes itself"));
    }
    let vs = defs
        .value_sets
        .get(url)
        .ok_or_else(|| format!("ValueSet {url} is not available offline"))?;
    if let Some(contains) = vs
        .get("expansion")
        .and_then(|e| e.get("contains"))
        .and_then(Value::as_array)
    {
        let mut out = Pairs::new();
        flatten_contains(contains, &mut out);
        return Ok(out);
    }
    let compose = vs
        .get("compose")
        .ok_or_else(|| format!("ValueSet {url} has neither compose nor expansion"))?;
    let mut out = Pairs::new();
    for inc in compose
        .get("include")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.extend(include(defs, inc, seen)?);
    }
    for exc in compose
        .get("exclude")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // An exclude we cannot enumerate could only remove codes: keep the rest, which may
        // then accept a code the server would reject; that is a missed error, not a false one.
        if let Ok(gone) = include(defs, exc, seen) {
            out.retain(|p| !gone.contains(p));
        }
    }
    Ok(out)
}

fn flatten_contains(list: &[Value], out: &mut Pairs) {
    for c in list {
        if let (Some(s), Some(code)) = (
            c.get("system").and_then(Value::as_str),
            c.get("code").and_then(Value::as_str),
        ) {
            out.insert((s.to_string(), code.to_string()));
        }
        if let Some(nested) = c.get("contains").and_then(Value::as_array) {
            flatten_contains(nested, out);
        }
    }
}

fn include(defs: &Definitions, inc: &Value, seen: &mut HashSet<String>) -> Result<Pairs, String> {
    let system = inc.get("system").and_then(Value::as_str);
    let mut from_value_sets: Option<Pairs> = None;
    for vs in inc
        .get("valueSet")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let mut inner_seen = seen.clone();
        let set = expand_into(defs, vs.split('|').next().unwrap_or(vs), &mut inner_seen)?;
        // Several value sets in one include intersect (ValueSet.compose.include.valueSet).
        from_value_sets = Some(match from_value_sets {
            None => set,
            Some(prev) => prev.intersection(&set).cloned().collect(),
        });
    }
    let Some(system) = system else {
        return from_value_sets.ok_or_else(|| "an include with no system or valueSet".into());
    };
    let mut out = Pairs::new();
    if let Some(concepts) = inc.get("concept").and_then(Value::as_array) {
        for c in concepts {
            if let Some(code) = c.get("code").and_then(Value::as_str) {
                out.insert((system.to_string(), code.to_string()));
            }
        }
    } else {
        let cs = defs
            .code_systems
            .get(system)
            .ok_or_else(|| format!("code system {system} is not available offline"))?;
        match cs.get("content").and_then(Value::as_str) {
            Some("complete") | None => {}
            Some(other) => {
                return Err(format!(
                    "code system {system} is published as `{other}` only"
                ))
            }
        }
        let filters = inc
            .get("filter")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let all = concepts_of(cs);
        if filters.is_empty() {
            out.extend(all.keys().map(|c| (system.to_string(), c.clone())));
        } else {
            let mut selected: Option<HashSet<String>> = None;
            for f in &filters {
                let op = f.get("op").and_then(Value::as_str).unwrap_or_default();
                let prop = f
                    .get("property")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let value = f.get("value").and_then(Value::as_str).unwrap_or_default();
                let hit: HashSet<String> = match (prop, op) {
                    ("concept", "is-a") => descendants(&all, value, true),
                    ("concept", "descendent-of") => descendants(&all, value, false),
                    _ => {
                        return Err(format!(
                            "filter `{prop} {op} {value}` on {system} needs a terminology server"
                        ))
                    }
                };
                selected = Some(match selected {
                    None => hit,
                    Some(prev) => prev.intersection(&hit).cloned().collect(),
                });
            }
            out.extend(
                selected
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| (system.to_string(), c)),
            );
        }
    }
    Ok(match from_value_sets {
        Some(vs) => out.intersection(&vs).cloned().collect(),
        None => out,
    })
}

/// Every code of a CodeSystem with its parent (nested `concept` = is-a hierarchy).
fn concepts_of(cs: &Value) -> HashMap<String, Option<String>> {
    fn walk(list: &[Value], parent: Option<&str>, out: &mut HashMap<String, Option<String>>) {
        for c in list {
            let Some(code) = c.get("code").and_then(Value::as_str) else {
                continue;
            };
            out.insert(code.to_string(), parent.map(str::to_string));
            if let Some(nested) = c.get("concept").and_then(Value::as_array) {
                walk(nested, Some(code), out);
            }
        }
    }
    let mut out = HashMap::new();
    if let Some(list) = cs.get("concept").and_then(Value::as_array) {
        walk(list, None, &mut out);
    }
    out
}

fn descendants(
    all: &HashMap<String, Option<String>>,
    root: &str,
    self_too: bool,
) -> HashSet<String> {
    all.keys()
        .filter(|code| {
            if code.as_str() == root {
                return self_too;
            }
            let mut cur = all.get(*code).cloned().flatten();
            let mut guard = 0;
            while let Some(p) = cur {
                if p == root {
                    return true;
                }
                guard += 1;
                if guard > 64 {
                    break;
                }
                cur = all.get(&p).cloned().flatten();
            }
            false
        })
        .cloned()
        .collect()
}

/// What a CodeSystem we carry says of `code`: `Ok(display)` when the code is in it, `Err(true)`
/// when the system is complete and lacks the code, `Err(false)` when we cannot tell (a system we
/// don't carry, or one published only in part).
pub(crate) fn lookup(defs: &Definitions, system: &str, code: &str) -> Result<Option<String>, bool> {
    let Some(cs) = defs.code_systems.get(system) else {
        return Err(false);
    };
    if !matches!(
        cs.get("content").and_then(Value::as_str),
        Some("complete") | None
    ) {
        return Err(false);
    }
    let case_sensitive = cs
        .get("caseSensitive")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    fn find<'a>(list: &'a [Value], code: &str, cs: bool) -> Option<&'a Value> {
        for c in list {
            let k = c.get("code").and_then(Value::as_str).unwrap_or_default();
            if k == code || (!cs && k.eq_ignore_ascii_case(code)) {
                return Some(c);
            }
            if let Some(n) = c.get("concept").and_then(Value::as_array) {
                if let Some(hit) = find(n, code, cs) {
                    return Some(hit);
                }
            }
        }
        None
    }
    let list = cs.get("concept").and_then(Value::as_array).ok_or(false)?;
    match find(list, code, case_sensitive) {
        Some(c) => Ok(c.get("display").and_then(Value::as_str).map(str::to_string)),
        None => Err(true),
    }
}
