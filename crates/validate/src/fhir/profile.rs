//! Profiles: a resource validated against the StructureDefinitions it claims (`meta.profile`)
//! or the user names (`--profile`), fixed and pattern values (profiling.html#fixed), and the
//! profiles an element's type names (an extension's definition, a datatype profile).

use emr_core::outcome::Severity;
use serde_json::{Map, Value};

use super::structure::Element;
use super::walk::{Frame, Walker};

/// `v` matches `pattern` when every property of the pattern is in `v` with a matching value,
/// and every item of a pattern array matches some item of `v`'s array (profiling.html#pattern).
pub(crate) fn matches_pattern(v: &Value, pattern: &Value) -> bool {
    match (v, pattern) {
        (Value::Object(a), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| a.get(k).is_some_and(|av| matches_pattern(av, pv))),
        (Value::Array(a), Value::Array(p)) => p
            .iter()
            .all(|pv| a.iter().any(|av| matches_pattern(av, pv))),
        // A single pattern value against an array element's instances.
        (Value::Array(a), p) => a.iter().any(|av| matches_pattern(av, p)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}...", &s[..s.floor_char_boundary(117)])
    } else {
        s
    }
}

pub(crate) fn fixed_and_pattern<'a>(
    w: &mut Walker<'a>,
    el: &'a Element,
    v: &'a Value,
    frame: Frame<'a>,
) {
    if let Some(fixed) = &el.fixed {
        let equal = match (v, fixed) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            _ => v == fixed,
        };
        if !equal {
            w.report(
                &frame,
                Severity::Error,
                "value",
                format!(
                    "Value is {} but must be {} (fixed by {})",
                    short(v),
                    short(fixed),
                    el.id
                ),
                Some("fixed"),
            );
        }
    }
    if let Some(pattern) = &el.pattern {
        if !matches_pattern(v, pattern) {
            w.report(
                &frame,
                Severity::Error,
                "value",
                format!(
                    "Value {} does not match the pattern {} required by {}",
                    short(v),
                    short(pattern),
                    el.id
                ),
                Some("pattern"),
            );
        }
    }
}

/// A datatype or extension profile named by an element's type.
pub(crate) fn against_type_profile<'a>(
    w: &mut Walker<'a>,
    url: &str,
    obj: &'a Map<String, Value>,
    v: &'a Value,
    frame: Frame<'a>,
) {
    let defs = w.defs;
    match defs.structure(url) {
        Some(sd) => w.object(obj, v, sd, 0, frame, false),
        None => w.report(
            &frame,
            Severity::Warning,
            "not-supported",
            format!("Profile {url} is not loaded, so this element was not checked against it"),
            Some("profile-unknown"),
        ),
    }
}

/// The resource against one profile, as a whole: its snapshot repeats the base rules, so the
/// caller removes findings both walks made.
pub(crate) fn resource_against<'a>(
    w: &mut Walker<'a>,
    url: &str,
    v: &'a Value,
    frame: Frame<'a>,
    claimed: bool,
) {
    let defs = w.defs;
    let Some(obj) = v.as_object() else { return };
    let rtype = obj
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match defs.structure(url) {
        Some(sd) if sd.type_name == rtype || defs.is_subtype(rtype, &sd.type_name) => {
            w.object(obj, v, sd, 0, frame, true);
        }
        Some(sd) => w.report(
            &frame,
            Severity::Error,
            "structure",
            format!("Profile {url} is for {}, not {rtype}", sd.type_name),
            Some("profile-type"),
        ),
        None => w.report(
            &frame,
            if claimed {
                Severity::Warning
            } else {
                Severity::Error
            },
            "not-found",
            format!("Profile reference '{url}' has not been checked because it is unknown"),
            Some("profile-unknown"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_are_subsets() {
        let cc = json!({"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "BP"}], "text": "Blood pressure"});
        assert!(matches_pattern(
            &cc,
            &json!({"coding": [{"system": "http://loinc.org", "code": "85354-9"}]})
        ));
        assert!(!matches_pattern(
            &cc,
            &json!({"coding": [{"system": "http://loinc.org", "code": "8480-6"}]})
        ));
        assert!(matches_pattern(&json!(1.0), &json!(1)));
    }
}
