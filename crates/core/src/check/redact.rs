//! Redaction: volatile values (server ids, versions, timestamps, the target's address, generated
//! test data) and secrets are replaced by a placeholder that keeps their place, so a golden file
//! stays byte-identical across runs and servers while a missing field still shows as a diff.

use serde_json::Value;

use crate::scenario::model::RedactionRule;

/// Headers whose values change on every run, with their placeholders.
const VOLATILE_HEADERS: &[&str] = &[
    "location",
    "content-location",
    "etag",
    "last-modified",
    "date",
];

#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// The target base URL; written as `[base]`.
    base_url: String,
    /// (placeholder, value), longest value first so a longer match wins.
    generated: Vec<(String, String)>,
    extra: Vec<RedactionRule>,
    /// The rules' JSONPaths, parsed when the scenario loaded.
    compiled: Option<std::sync::Arc<super::compiled::Compiled>>,
}

impl Redactor {
    pub fn new(base_url: &str, extra: &[RedactionRule]) -> Self {
        Redactor {
            base_url: base_url.trim_end_matches('/').to_string(),
            extra: extra.to_vec(),
            ..Default::default()
        }
    }

    /// Uses the scenario's parsed JSONPaths instead of parsing its rules on every body.
    pub fn with_compiled(mut self, compiled: std::sync::Arc<super::compiled::Compiled>) -> Self {
        self.compiled = Some(compiled);
        self
    }

    /// Generated values to put back as `[label]` (a var name or generator name).
    pub fn with_generated(mut self, values: impl IntoIterator<Item = (String, String)>) -> Self {
        for (label, value) in values {
            if value.is_empty() || self.generated.iter().any(|(_, v)| *v == value) {
                continue;
            }
            self.generated.push((format!("[{label}]"), value));
        }
        self.generated.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
        self
    }

    /// Secrets this redactor must hide; they join the process-wide registry, whose scrubbing
    /// knows every form a secret takes in JSON, XML, URLs and base64.
    pub fn with_secrets(self, secrets: impl IntoIterator<Item = String>) -> Self {
        for s in secrets {
            crate::secret::register(&s);
        }
        self
    }

    /// Secrets only: for reports and logs, where test data may stay but tokens must not.
    pub fn hide_secrets(&self, text: &str) -> String {
        crate::secret::scrub(text)
    }

    /// Secrets, generated values and the base URL in free text.
    pub fn redact_text(&self, text: &str) -> String {
        let mut out = self.hide_secrets(text);
        if !self.base_url.is_empty() {
            out = out.replace(&self.base_url, "[base]");
        }
        for (label, value) in &self.generated {
            out = replace_bounded(&out, value, label);
        }
        out
    }

    pub fn redact_header(&self, name: &str, value: &str) -> String {
        let lname = name.to_ascii_lowercase();
        for rule in &self.extra {
            if rule
                .header
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(name))
            {
                return rule
                    .replacement
                    .clone()
                    .unwrap_or_else(|| "[redacted]".into());
            }
        }
        if lname == "authorization" || lname == "cookie" || lname == "set-cookie" {
            return "[secret]".into();
        }
        if VOLATILE_HEADERS.contains(&lname.as_str()) {
            return match lname.as_str() {
                "location" | "content-location" => self.redact_location(value),
                "etag" => redact_etag(value),
                _ => "[timestamp]".into(),
            };
        }
        self.redact_text(value)
    }

    /// `http://host/fhir/Patient/123/_history/2` → `[base]/Patient/[id]/_history/[versionId]`.
    pub fn redact_location(&self, value: &str) -> String {
        let text = self.redact_text(value);
        let re = location_regex();
        re.replace(&text, |c: &regex::Captures| {
            let mut s = format!("{}{}/[id]", &c[1], &c[2]);
            if c.get(3).is_some() {
                s.push_str("/_history/[versionId]");
            }
            s
        })
        .into_owned()
    }

    /// The whole body: FHIR volatile elements, then the scenario's own rules, then text.
    pub fn redact_body(&self, body: &Value) -> Value {
        let mut v = body.clone();
        self.redact_fhir(&mut v, false);
        for rule in &self.extra {
            let Some(path) = &rule.path else { continue };
            let compiled = self
                .compiled
                .as_deref()
                .unwrap_or_else(|| super::compiled::Compiled::none());
            let Ok(query) = compiled.jsonpath(path) else {
                continue;
            };
            let replacement = Value::String(
                rule.replacement
                    .clone()
                    .unwrap_or_else(|| "[redacted]".into()),
            );
            let locations: Vec<String> = query
                .query_located(&v)
                .locations()
                .map(|l| l.to_json_pointer())
                .collect();
            for ptr in locations {
                if let Some(slot) = v.pointer_mut(&ptr) {
                    *slot = replacement.clone();
                }
            }
        }
        self.redact_strings(&mut v);
        sort_keys(&mut v);
        v
    }

    fn redact_fhir(&self, v: &mut Value, _in_resource: bool) {
        match v {
            Value::Object(map) => {
                let is_resource = map.get("resourceType").is_some_and(Value::is_string);
                let is_bundle = map.get("resourceType").and_then(Value::as_str) == Some("Bundle");
                if is_resource {
                    if let Some(id) = map.get_mut("id") {
                        *id = Value::String("[id]".into());
                    }
                    if let Some(Value::Object(meta)) = map.get_mut("meta") {
                        if let Some(x) = meta.get_mut("versionId") {
                            *x = Value::String("[versionId]".into());
                        }
                        if let Some(x) = meta.get_mut("lastUpdated") {
                            *x = Value::String("[timestamp]".into());
                        }
                    }
                }
                if is_bundle {
                    if let Some(x) = map.get_mut("timestamp") {
                        *x = Value::String("[timestamp]".into());
                    }
                    // Paging links: decoded, so generated values inside the query can be found
                    // and redacted, and a reviewer reads `identifier=urn:x|[mrn]`, not `%7C`.
                    if let Some(Value::Array(links)) = map.get_mut("link") {
                        for l in links {
                            if let Some(Value::String(u)) = l.get_mut("url") {
                                *u = percent_encoding::percent_decode_str(u)
                                    .decode_utf8_lossy()
                                    .into_owned();
                            }
                        }
                    }
                }
                for (k, child) in map.iter_mut() {
                    match (k.as_str(), child) {
                        ("reference" | "fullUrl", Value::String(s)) => *s = self.redact_location(s),
                        ("location", Value::String(s)) => *s = self.redact_location(s),
                        ("etag", Value::String(s)) => *s = redact_etag(s),
                        ("lastModified", Value::String(s)) => *s = "[timestamp]".into(),
                        (_, child) => self.redact_fhir(child, is_resource),
                    }
                }
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|c| self.redact_fhir(c, _in_resource)),
            _ => {}
        }
    }

    fn redact_strings(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.redact_text(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.redact_strings(x)),
            Value::Object(m) => m.values_mut().for_each(|x| self.redact_strings(x)),
            _ => {}
        }
    }
}

fn location_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        // A resource reference: `Type/id` optionally followed by `/_history/vid`.
        regex::Regex::new(r"(^|/|\[base\]/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-\.]{1,64}(/_history/[A-Za-z0-9\-\.]{1,64})?")
            .expect("static regex")
    })
}

fn redact_etag(value: &str) -> String {
    if value.starts_with("W/") {
        "W/\"[versionId]\"".into()
    } else {
        "[etag]".into()
    }
}

/// Replaces `needle` where it is not part of a longer word, so redacting the generated gender
/// `male` leaves `female` alone while `family=Smith&` still becomes `family=[family]&`.
fn replace_bounded(haystack: &str, needle: &str, with: &str) -> String {
    if needle.len() < 3 {
        return if haystack == needle {
            with.to_string()
        } else {
            haystack.to_string()
        };
    }
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let mut out = String::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(pos) = rest.find(needle) {
        let before = rest[..pos].chars().next_back();
        let after = rest[pos + needle.len()..].chars().next();
        let glued_before = is_word(before) && needle.starts_with(char::is_alphanumeric);
        let glued_after = is_word(after) && needle.ends_with(char::is_alphanumeric);
        let boundary = !glued_before && !glued_after;
        out.push_str(&rest[..pos]);
        out.push_str(if boundary { with } else { needle });
        rest = &rest[pos + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// Sorts object keys recursively so key order never makes a diff, whatever the map type.
pub fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut child) in entries {
                sort_keys(&mut child);
                map.insert(k, child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redactor() -> Redactor {
        Redactor::new("http://127.0.0.1:4000/fhir", &[])
            .with_generated([
                ("mrn".to_string(), "MRN00001234".to_string()),
                ("fake.gender".into(), "male".into()),
            ])
            .with_secrets(["s3cret-token".to_string()])
    }

    #[test]
    fn fhir_volatile_fields_keep_their_place() {
        let body = json!({
            "resourceType": "Bundle", "id": "b1", "type": "searchset", "timestamp": "2026-01-01T00:00:00Z",
            "link": [{"relation": "self", "url": "http://127.0.0.1:4000/fhir/Patient?identifier=urn%3Ax%7CMRN00001234"}],
            "entry": [{"fullUrl": "http://127.0.0.1:4000/fhir/Patient/abc", "resource": {
                "resourceType": "Patient", "id": "abc", "meta": {"versionId": "3", "lastUpdated": "2026-01-01T00:00:00Z"},
                "gender": "male", "managingOrganization": {"reference": "Organization/xyz"},
                "identifier": [{"value": "MRN00001234"}], "text": {"div": "female s3cret-token"}}}]
        });
        let r = redactor().redact_body(&body);
        assert_eq!(r["id"], "[id]");
        assert_eq!(r["timestamp"], "[timestamp]");
        assert_eq!(r["link"][0]["url"], "[base]/Patient?identifier=urn:x|[mrn]");
        let e = &r["entry"][0];
        assert_eq!(e["fullUrl"], "[base]/Patient/[id]");
        assert_eq!(e["resource"]["id"], "[id]");
        assert_eq!(e["resource"]["meta"]["versionId"], "[versionId]");
        assert_eq!(e["resource"]["gender"], "[fake.gender]");
        assert_eq!(
            e["resource"]["managingOrganization"]["reference"],
            "Organization/[id]"
        );
        assert_eq!(e["resource"]["identifier"][0]["value"], "[mrn]");
        assert_eq!(e["resource"]["text"]["div"], "female [secret]");
    }

    #[test]
    fn headers() {
        let r = redactor();
        assert_eq!(
            r.redact_header(
                "Location",
                "http://127.0.0.1:4000/fhir/Patient/9f/_history/1"
            ),
            "[base]/Patient/[id]/_history/[versionId]"
        );
        assert_eq!(r.redact_header("ETag", "W/\"7\""), "W/\"[versionId]\"");
        assert_eq!(r.redact_header("Date", "Tue"), "[timestamp]");
        assert_eq!(r.redact_header("Authorization", "Bearer x"), "[secret]");
    }

    #[test]
    fn scenario_rules_apply() {
        let rules = vec![
            RedactionRule {
                path: Some("$.birthDate".into()),
                header: None,
                field: None,
                replacement: Some("[dob]".into()),
            },
            RedactionRule {
                path: None,
                header: Some("X-Request-Id".into()),
                field: None,
                replacement: None,
            },
        ];
        let r = Redactor::new("", &rules);
        assert_eq!(
            r.redact_body(&json!({"birthDate": "1970-01-01"}))["birthDate"],
            "[dob]"
        );
        assert_eq!(r.redact_header("x-request-id", "abc"), "[redacted]");
    }

    #[test]
    fn keys_sorted() {
        let mut v = json!({"b": 1, "a": {"d": 1, "c": 2}});
        sort_keys(&mut v);
        assert_eq!(v.to_string(), r#"{"a":{"c":2,"d":1},"b":1}"#);
    }
}
