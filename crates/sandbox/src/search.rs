//! Search parameter matching for the sandbox (FHIR R4 §3.1.1 search): string, token, reference
//! and date parameters over JSON resources. Parameters combine with AND; comma-separated values
//! within one parameter with OR.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Search parameters the sandbox understands, for every type (types lacking the element match
/// nothing). The CapabilityStatement declares them per type.
pub(crate) const COMMON_PARAMS: &[(&str, &str)] = &[
    ("_id", "token"),
    ("_lastUpdated", "date"),
    ("identifier", "token"),
];

/// Extra parameters by resource type, with their FHIR search types.
pub(crate) fn type_params(rtype: &str) -> &'static [(&'static str, &'static str)] {
    match rtype {
        "Patient" | "Practitioner" | "RelatedPerson" | "Person" => &[
            ("name", "string"),
            ("family", "string"),
            ("given", "string"),
            ("birthdate", "date"),
            ("gender", "token"),
        ],
        "Organization" | "Location" | "HealthcareService" => &[("name", "string")],
        // Condition has no `status` element: its state is clinicalStatus (R4 condition.html).
        "Condition" => &[
            ("patient", "reference"),
            ("subject", "reference"),
            ("code", "token"),
            ("clinical-status", "token"),
            ("encounter", "reference"),
        ],
        "Observation" | "Procedure" | "DiagnosticReport" | "MedicationRequest"
        | "ServiceRequest" | "AllergyIntolerance" | "Immunization" | "DocumentReference"
        | "CarePlan" => &[
            ("patient", "reference"),
            ("subject", "reference"),
            ("code", "token"),
            ("status", "token"),
            ("encounter", "reference"),
            ("based-on", "reference"),
        ],
        "Encounter" => &[
            ("patient", "reference"),
            ("subject", "reference"),
            ("status", "token"),
            ("class", "token"),
        ],
        _ => &[],
    }
}

pub(crate) fn is_supported(rtype: &str, param: &str) -> bool {
    COMMON_PARAMS
        .iter()
        .chain(type_params(rtype))
        .any(|(p, _)| *p == param)
}

/// Does `resource` satisfy `param[:modifier]=value`? `value` may hold comma-separated alternatives.
pub(crate) fn matches(
    resource: &Value,
    param: &str,
    modifier: Option<&str>,
    value: &str,
) -> Result<bool, String> {
    let alternatives = split_or(value);
    for alt in alternatives {
        if match_one(resource, param, modifier, &alt)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn split_or(value: &str) -> Vec<String> {
    // `\,` is an escaped comma inside a value (§3.1.1.5.7).
    let mut out = vec![String::new()];
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                if let Some(s) = out.last_mut() {
                    s.push(',');
                }
                chars.next();
            }
            ',' => out.push(String::new()),
            c => {
                if let Some(s) = out.last_mut() {
                    s.push(c);
                }
            }
        }
    }
    out
}

fn match_one(r: &Value, param: &str, modifier: Option<&str>, value: &str) -> Result<bool, String> {
    if modifier == Some("missing") {
        let want_missing = value == "true";
        let present = !element_values(r, param).is_empty();
        return Ok(present != want_missing);
    }
    Ok(match param {
        "_id" => r.get("id").and_then(Value::as_str) == Some(value),
        "_lastUpdated" => date_match(
            r.pointer("/meta/lastUpdated").and_then(Value::as_str),
            value,
        )?,
        "identifier" => token_match(&items(r.get("identifier")), value, |i| {
            (
                i.get("system").and_then(Value::as_str),
                i.get("value").and_then(Value::as_str),
            )
        }),
        "name" if r.get("name").is_some_and(Value::is_string) => {
            string_match(r.get("name").and_then(Value::as_str), modifier, value)
        }
        "name" | "family" | "given" => {
            let names = items(r.get("name"));
            names.iter().any(|n| {
                let mut parts: Vec<&str> = Vec::new();
                if param != "given" {
                    parts.extend(n.get("family").and_then(Value::as_str));
                }
                if param != "family" {
                    parts.extend(items(n.get("given")).iter().filter_map(|g| g.as_str()));
                }
                if param == "name" {
                    parts.extend(n.get("text").and_then(Value::as_str));
                    parts.extend(items(n.get("prefix")).iter().filter_map(|g| g.as_str()));
                    parts.extend(items(n.get("suffix")).iter().filter_map(|g| g.as_str()));
                }
                parts
                    .into_iter()
                    .any(|p| string_match(Some(p), modifier, value))
            })
        }
        "birthdate" => date_match(r.get("birthDate").and_then(Value::as_str), value)?,
        "gender" | "status" => {
            let field = if param == "gender" {
                "gender"
            } else {
                "status"
            };
            let code = r.get(field).and_then(Value::as_str);
            code.is_some_and(|c| c == value.rsplit('|').next().unwrap_or(value))
        }
        "code" | "class" => {
            let field = r.get(param);
            // `code` is a CodeableConcept; Encounter.class is a bare Coding.
            let codings: Vec<&Value> = match field {
                Some(v) if v.get("coding").is_some() => items(v.get("coding")),
                Some(v) if v.get("code").is_some() => vec![v],
                _ => vec![],
            };
            token_match(&codings, value, |c| {
                (
                    c.get("system").and_then(Value::as_str),
                    c.get("code").and_then(Value::as_str),
                )
            })
        }
        "clinical-status" => {
            let codings = r
                .get("clinicalStatus")
                .map(|c| items(c.get("coding")))
                .unwrap_or_default();
            token_match(&codings, value, |c| {
                (
                    c.get("system").and_then(Value::as_str),
                    c.get("code").and_then(Value::as_str),
                )
            })
        }
        "patient" | "subject" | "encounter" => {
            let field = match param {
                "patient" if r.get("patient").is_some() => "patient",
                "patient" | "subject" => "subject",
                _ => "encounter",
            };
            let reference = r
                .pointer(&format!("/{field}/reference"))
                .and_then(Value::as_str);
            let want_type = match param {
                "patient" => Some("Patient"),
                "encounter" => Some("Encounter"),
                _ => None,
            };
            reference_match(reference, want_type, value)
        }
        "based-on" => items(r.get("basedOn")).iter().any(|b| {
            reference_match(
                b.get("reference").and_then(Value::as_str),
                Some("ServiceRequest"),
                value,
            )
        }),
        other => return Err(format!("unknown search parameter `{other}`")),
    })
}

fn element_values<'a>(r: &'a Value, param: &str) -> Vec<&'a Value> {
    let key = match param {
        "birthdate" => "birthDate",
        "patient" if r.get("patient").is_some() => "patient",
        "patient" => "subject",
        "family" | "given" => "name",
        other => other,
    };
    items(r.get(key))
}

fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Null) | None => vec![],
        Some(v) => vec![v],
    }
}

/// Token search `[system]|[code]`, `|code` (no system) and bare `code` (any system).
fn token_match<'a>(
    items: &[&'a Value],
    value: &str,
    parts: impl Fn(&'a Value) -> (Option<&'a str>, Option<&'a str>),
) -> bool {
    let (system, code) = match value.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, value),
    };
    items.iter().any(|i| {
        let (isys, icode) = parts(i);
        let code_ok = code.is_empty() || icode == Some(code);
        let system_ok = match system {
            None => true,
            Some("") => isys.is_none(),
            Some(s) => isys == Some(s),
        };
        code_ok && system_ok
    })
}

/// String search: starts-with, case-insensitive by default; `:exact` and `:contains` modifiers.
fn string_match(actual: Option<&str>, modifier: Option<&str>, value: &str) -> bool {
    let Some(a) = actual else { return false };
    match modifier {
        Some("exact") => a == value,
        Some("contains") => a.to_lowercase().contains(&value.to_lowercase()),
        _ => a.to_lowercase().starts_with(&value.to_lowercase()),
    }
}

/// Reference search: `id`, `Type/id` or an absolute URL ending in `Type/id`.
fn reference_match(reference: Option<&str>, want_type: Option<&str>, value: &str) -> bool {
    let Some(reference) = reference else {
        return false;
    };
    let tail = |s: &str| -> (Option<String>, String) {
        let parts: Vec<&str> = s.trim_end_matches('/').rsplitn(3, '/').collect();
        match parts.as_slice() {
            [id, t, ..] => (Some((*t).to_string()), (*id).to_string()),
            [id] => (None, (*id).to_string()),
            _ => (None, s.to_string()),
        }
    };
    let (rtype, rid) = tail(reference);
    let (vtype, vid) = tail(value);
    if rid != vid {
        return false;
    }
    if let (Some(w), Some(r)) = (want_type, rtype.as_deref()) {
        if w != r {
            return false;
        }
    }
    match (vtype, rtype) {
        (Some(v), Some(r)) => v == r,
        _ => true,
    }
}

/// Date search with prefixes (§3.1.1.4.2): compares the ranges the two values stand for.
fn date_match(actual: Option<&str>, value: &str) -> Result<bool, String> {
    let Some(actual) = actual else {
        return Ok(false);
    };
    let (prefix, date) = match value.get(..2) {
        Some(p @ ("eq" | "ne" | "gt" | "lt" | "ge" | "le" | "sa" | "eb" | "ap")) => {
            (p, &value[2..])
        }
        _ => ("eq", value),
    };
    let (plo, phi) = date_range(date).ok_or_else(|| format!("`{date}` is not a FHIR date"))?;
    let Some((alo, ahi)) = date_range(actual) else {
        return Ok(false);
    };
    Ok(match prefix {
        "eq" | "ap" => alo >= plo && ahi <= phi,
        "ne" => !(alo >= plo && ahi <= phi),
        "gt" => ahi > phi,
        "lt" => alo < plo,
        // `ge` = `gt` or `eq`; `le` = `lt` or `eq` (written out by clippy's simplification).
        "ge" => !(ahi <= phi && alo < plo),
        "le" => !(alo >= plo && ahi > phi),
        "sa" => alo >= phi,
        "eb" => ahi <= plo,
        _ => false,
    })
}

/// The [start, end) instant range a FHIR date/dateTime/instant stands for, at its precision.
pub(crate) fn date_range(s: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let utc = |d: NaiveDateTime| Utc.from_utc_datetime(&d);
    match s.len() {
        4 => {
            let y: i32 = s.parse().ok()?;
            let lo = NaiveDate::from_ymd_opt(y, 1, 1)?.and_hms_opt(0, 0, 0)?;
            let hi = NaiveDate::from_ymd_opt(y + 1, 1, 1)?.and_hms_opt(0, 0, 0)?;
            Some((utc(lo), utc(hi)))
        }
        7 => {
            let (y, m) = s.split_once('-')?;
            let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
            let lo = NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?;
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let hi = NaiveDate::from_ymd_opt(ny, nm, 1)?.and_hms_opt(0, 0, 0)?;
            Some((utc(lo), utc(hi)))
        }
        10 => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)?;
            Some((utc(d), utc(d) + Duration::days(1)))
        }
        _ => {
            let t = DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
                .or_else(|| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
                        .ok()
                        .map(utc)
                })
                .or_else(|| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
                        .ok()
                        .map(utc)
                })?;
            let step = if s.contains('.') {
                Duration::milliseconds(1)
            } else {
                Duration::seconds(1)
            };
            Some((t, t + step))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patient() -> Value {
        json!({"resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "urn:mrn", "value": "M1"}],
            "name": [{"family": "Doe", "given": ["Jane"]}], "birthDate": "1980-05-17", "gender": "female",
            "meta": {"lastUpdated": "2026-11-25T10:00:00.000Z"}})
    }

    #[test]
    fn tokens_strings_dates() {
        let p = patient();
        let m =
            |param: &str, modifier: Option<&str>, v: &str| matches(&p, param, modifier, v).unwrap();
        assert!(m("identifier", None, "urn:mrn|M1"));
        assert!(m("identifier", None, "M1"));
        assert!(!m("identifier", None, "urn:other|M1"));
        assert!(!m("identifier", None, "|M1"));
        assert!(m("name", None, "do"));
        assert!(m("given", None, "JA"));
        assert!(!m("family", None, "Jane"));
        assert!(m("family", Some("exact"), "Doe"));
        assert!(!m("family", Some("exact"), "doe"));
        assert!(m("name", None, "x,jan"));
        assert!(m("birthdate", None, "1980-05-17"));
        assert!(m("birthdate", None, "1980"));
        assert!(m("birthdate", None, "ge1980-05-17"));
        assert!(m("birthdate", None, "lt1981"));
        assert!(!m("birthdate", None, "gt1980-05-17"));
        assert!(m("_lastUpdated", None, "gt2026-11-25T09:00:00Z"));
        assert!(m("gender", None, "female"));
        assert!(m("_id", None, "p1"));
    }

    #[test]
    fn references_and_codes() {
        let o = json!({"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]}});
        assert!(matches(&o, "patient", None, "p1").unwrap());
        assert!(matches(&o, "subject", None, "Patient/p1").unwrap());
        assert!(matches(&o, "patient", None, "http://x/fhir/Patient/p1").unwrap());
        assert!(!matches(&o, "patient", None, "Patient/p2").unwrap());
        assert!(matches(&o, "code", None, "http://loinc.org|2345-7").unwrap());
        assert!(!matches(&o, "code", None, "http://snomed.info/sct|2345-7").unwrap());
        assert!(matches(&o, "code", Some("missing"), "false").unwrap());
        assert!(matches(&o, "bogus", None, "x").is_err());
    }
}
