//! Test data: resources made for each check under a run-unique identifier (so a check finds its
//! own data and cleans it up), and the search values that must and must not match them.

use serde_json::{json, Value};

use super::exchange::{Ctx, Step, Stop};

/// Resource types the suite has test data for, in the order they are checked.
pub(super) const FIXTURE_TYPES: &[&str] = &[
    "Patient",
    "Observation",
    "Encounter",
    "Condition",
    "Practitioner",
    "Organization",
];

/// The element an update or a patch changes, per fixture type, and its new value.
pub(super) fn edit(t: &str) -> (&'static str, Value) {
    match t {
        "Observation" => ("status", json!("amended")),
        "Encounter" => ("status", json!("finished")),
        "Condition" => ("recordedDate", json!("2026-01-02")),
        _ => ("active", json!(false)),
    }
}

/// The test data of one check. `tag` is unique per run and check, so searches find only these.
pub(super) struct Fixture {
    pub(super) tag: String,
}

impl Fixture {
    pub(super) fn example() -> Self {
        Fixture { tag: "X".into() }
    }

    pub(super) fn identifier(&self) -> String {
        format!("CERT-{}", self.tag)
    }

    pub(super) fn patient(&self) -> Value {
        json!({
            "resourceType": "Patient",
            "identifier": [{"system": "urn:emr-harness:certify", "value": self.identifier()}],
            "active": true,
            "name": [{"family": format!("Certify{}", self.tag), "given": [format!("Given{}", self.tag)]}],
            "telecom": [{"system": "phone", "value": "555-0100", "use": "home"}],
            "gender": "female",
            "birthDate": "1970-01-01",
            "address": [{"line": ["1 Test Street"], "city": "Certifyville", "postalCode": "12345", "country": "US"}]
        })
    }

    pub(super) fn encounter(&self, patient_ref: &str) -> Value {
        json!({
            "resourceType": "Encounter",
            "identifier": [{"system": "urn:emr-harness:certify", "value": self.identifier()}],
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": patient_ref}
        })
    }

    pub(super) fn condition(&self, patient_ref: &str) -> Value {
        json!({
            "resourceType": "Condition",
            "identifier": [{"system": "urn:emr-harness:certify", "value": self.identifier()}],
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertensive disorder"}]},
            "subject": {"reference": patient_ref},
            "recordedDate": "2026-01-01"
        })
    }

    pub(super) fn practitioner(&self) -> Value {
        json!({
            "resourceType": "Practitioner",
            "identifier": [{"system": "urn:emr-harness:certify", "value": self.identifier()}],
            "active": true,
            "name": [{"family": format!("Certify{}", self.tag), "given": [format!("Given{}", self.tag)]}],
            "gender": "female",
            "birthDate": "1970-01-01"
        })
    }

    pub(super) fn organization(&self) -> Value {
        json!({
            "resourceType": "Organization",
            "identifier": [{"system": "urn:emr-harness:certify", "value": self.identifier()}],
            "active": true,
            "name": format!("Certify{} Clinic", self.tag)
        })
    }

    pub(super) fn observation(&self, patient_ref: Option<&str>) -> Value {
        let mut o = json!({
            "resourceType": "Observation",
            "identifier": [{"system": "urn:emr-harness:certify", "value": self.identifier()}],
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "effectiveDateTime": "2026-01-01T10:00:00Z",
            "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}
        });
        if let Some(r) = patient_ref {
            o["subject"] = json!({"reference": r});
        }
        o
    }
}

/// A value of `param` that matches the fixture of type `t`, and one that does not.
pub(super) fn search_values(t: &str, param: &str, f: &Fixture) -> Option<(String, String)> {
    let ident = (
        format!("urn:emr-harness:certify|{}", f.identifier()),
        format!("urn:emr-harness:certify|{}-none", f.identifier()),
    );
    let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
    let person = matches!(t, "Patient" | "Practitioner");
    let with_patient = matches!(t, "Observation" | "Encounter" | "Condition");
    match (t, param) {
        // Filled in by `search_param` from the ids the check created.
        (_, "_id") => pair("{id}", "{id}-none"),
        (_, "subject") | (_, "patient") if with_patient => {
            pair("Patient/{patient}", "Patient/{patient}-none")
        }
        (_, "_lastUpdated") => pair("ge2000-01-01", "lt2000-01-01"),
        (_, "identifier") => Some(ident),
        (_, "family") | (_, "name") if person => {
            Some((format!("Certify{}", f.tag), format!("Nomatch{}", f.tag)))
        }
        (_, "given") if person => Some((format!("Given{}", f.tag), format!("Nomatch{}", f.tag))),
        (_, "birthdate") if person => pair("1970-01-01", "1971-01-01"),
        (_, "gender") if person => pair("female", "male"),
        ("Patient" | "Practitioner" | "Organization", "active") => pair("true", "false"),
        ("Organization", "name") => {
            Some((format!("Certify{}", f.tag), format!("Nomatch{}", f.tag)))
        }
        ("Patient", "address-city") => pair("Certifyville", "Elsewhere"),
        ("Patient", "address-postalcode") => pair("12345", "99999"),
        ("Patient", "phone") | ("Patient", "telecom") => pair("555-0100", "555-0199"),
        ("Observation", "status") => pair("final", "cancelled"),
        ("Observation", "code") => pair("http://loinc.org|8867-4", "http://loinc.org|8310-5"),
        ("Observation", "date") => pair("2026-01-01", "2025-01-01"),
        ("Observation", "value-quantity") => pair("72", "99"),
        ("Encounter", "status") => pair("in-progress", "cancelled"),
        ("Encounter", "class") => pair("AMB", "IMP"),
        ("Condition", "code") => pair(
            "http://snomed.info/sct|38341003",
            "http://snomed.info/sct|44054006",
        ),
        ("Condition", "clinical-status") => pair("active", "resolved"),
        ("Condition", "recorded-date") => pair("2026-01-01", "2025-01-01"),
        _ => None,
    }
}

/// The test resource of type `t`; an Observation gets a Patient to point at.
pub(super) async fn resource_for(ctx: &mut Ctx, t: &str, f: &Fixture) -> Step<Value> {
    match t {
        "Patient" => Ok(f.patient()),
        "Observation" | "Encounter" | "Condition" => {
            let pid = ctx.created_id(&f.patient()).await?;
            let subject = format!("Patient/{pid}");
            Ok(match t {
                "Observation" => f.observation(Some(&subject)),
                "Encounter" => f.encounter(&subject),
                _ => f.condition(&subject),
            })
        }
        "Practitioner" => Ok(f.practitioner()),
        "Organization" => Ok(f.organization()),
        other => Err(Stop::Error(format!("no built-in test data for {other}"))),
    }
}

/// A visible change for an update: a Patient's name, an Observation's status.
/// A visible change for an update (see `edit`).
pub(super) fn change(r: &mut Value) {
    let t = r["resourceType"].as_str().unwrap_or_default().to_string();
    let (key, value) = edit(&t);
    r[key] = value;
}

pub(super) fn changed(r: &Value) -> bool {
    let (key, value) = edit(r["resourceType"].as_str().unwrap_or_default());
    r.get(key) == Some(&value)
}
