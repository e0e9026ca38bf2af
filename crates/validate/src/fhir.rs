//! Is this JSON a valid FHIR R4 resource? Checked with fhir-sdk's typed model.
//!
//! fhir-sdk has no R4 model; R4 (4.0.1) JSON parses with its R4B model, which is close enough for
//! the core resources. The model is lenient (unknown elements are dropped silently), so after the
//! parse we serialise back and report every element of the input that did not survive the round
//! trip: an unknown or misplaced element.

use std::str::FromStr;

use fhir_sdk::r4b::resources::{Resource, ResourceType};
use serde_json::Value;

/// The validator the runner hands to the checks (`expect.resource`).
#[derive(Debug, Default, Clone, Copy)]
pub struct FhirValidator;

impl emr_core::check::ResourceValidator for FhirValidator {
    fn validate(&self, value: &Value, expected: Option<&str>) -> Result<(), Vec<String>> {
        validate_resource(value, expected)
    }
}

/// Validates `value` as a FHIR resource, of type `expected` when given. Returns every problem found.
pub fn validate_resource(value: &Value, expected: Option<&str>) -> Result<(), Vec<String>> {
    let Some(obj) = value.as_object() else {
        return Err(vec!["the body is not a JSON object".to_string()]);
    };
    let Some(rtype) = obj.get("resourceType").and_then(Value::as_str) else {
        return Err(vec!["the body has no `resourceType`".to_string()]);
    };
    if ResourceType::from_str(rtype).is_err() {
        return Err(vec![format!("`{rtype}` is not a FHIR R4 resource type")]);
    }
    if let Some(want) = expected {
        if rtype != want {
            return Err(vec![format!("expected a {want}, got a {rtype}")]);
        }
    }
    // The typed model takes any string as an id; R4 allows [A-Za-z0-9\-\.]{1,64} (datatypes.html#id).
    if let Some(id) = obj.get("id").and_then(Value::as_str) {
        let ok = (1..=64).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            return Err(vec![format!(
                "`{rtype}.id` {id:?} is not a FHIR id (1-64 of A-Z a-z 0-9 - .)"
            )]);
        }
    }
    let parsed: Resource = match serde_json::from_value(value.clone()) {
        Ok(r) => r,
        Err(e) => return Err(vec![format!("does not parse as a FHIR R4 {rtype}: {e}")]),
    };
    let back = match serde_json::to_value(&parsed) {
        Ok(v) => v,
        Err(e) => return Err(vec![format!("cannot serialise the parsed {rtype}: {e}")]),
    };
    let mut problems = Vec::new();
    lost_elements(value, &back, rtype, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Elements present in `input` but missing from `back`, as FHIRPath-like locations.
fn lost_elements(input: &Value, back: &Value, at: &str, out: &mut Vec<String>) {
    match (input, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => lost_elements(v, w, &format!("{at}.{k}"), out),
                    // `null` and empty containers are not FHIR content; dropping them loses nothing.
                    None if is_empty(v) => {}
                    // The model also drops a value of the wrong form silently (a dateTime
                    // without a zone, `valueInteger: 1.5`), so the message names both causes.
                    None => out.push(format!(
                        "unknown or misplaced element, or a value of the wrong form: `{at}.{k}`"
                    )),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, v) in a.iter().enumerate() {
                if let Some(w) = b.get(i) {
                    lost_elements(v, w, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

pub use emr_core::check::is_operation_outcome;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_valid_patient() {
        let p = json!({"resourceType": "Patient", "id": "1", "name": [{"family": "Doe"}], "birthDate": "1980-01-02", "gender": "female"});
        assert_eq!(validate_resource(&p, Some("Patient")), Ok(()));
    }

    #[test]
    fn rejects_wrong_type_unknown_element_and_bad_date() {
        let p = json!({"resourceType": "Patient"});
        assert!(validate_resource(&p, Some("Observation")).unwrap_err()[0]
            .contains("expected a Observation"));
        let p = json!({"resourceType": "Patient", "nmae": [{"family": "Doe"}]});
        assert_eq!(
            validate_resource(&p, None).unwrap_err(),
            vec![
                "unknown or misplaced element, or a value of the wrong form: `Patient.nmae`"
                    .to_string()
            ]
        );
        let p = json!({"resourceType": "Patient", "birthDate": "yesterday"});
        assert!(validate_resource(&p, None).is_err());
        let o = json!({"resourceType": "Observation", "code": {"text": "x"}});
        assert!(validate_resource(&o, None).unwrap_err()[0].contains("status"));
    }

    #[test]
    fn required_bindings_are_enforced_by_the_typed_model() {
        // fhir-sdk models required-binding codes as enums: a code outside the value set fails.
        let p = json!({"resourceType": "Patient", "gender": "banana"});
        let e = validate_resource(&p, None).unwrap_err();
        assert!(e[0].contains("banana"), "{e:?}");
        let o = json!({"resourceType": "Observation", "status": "done", "code": {"text": "x"}});
        assert!(validate_resource(&o, None).is_err());
    }

    #[test]
    fn nested_unknown_elements_are_found() {
        let p = json!({"resourceType": "Patient", "name": [{"family": "Doe", "middle": "Q"}]});
        assert_eq!(
            validate_resource(&p, None).unwrap_err(),
            vec![
                "unknown or misplaced element, or a value of the wrong form: `Patient.name[0].middle`"
                    .to_string()
            ]
        );
    }
}
