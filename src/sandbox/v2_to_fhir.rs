//! What the sandbox's MLLP listener does with a message it accepted: ADT feeds Patient and
//! Encounter, ORM feeds ServiceRequest, ORU feeds Observation, all into the same store the FHIR
//! API serves, so one scenario can send v2 and read the result back over FHIR.

use serde_json::{json, Value};

use super::store::Store;
use crate::hl7::Message;

/// Applies `msg` to the store. Returns a description of what changed, or the reason it could not.
pub fn apply(store: &mut Store, msg: &Message) -> Result<Vec<String>, String> {
    let event = msg.message_type();
    match event.as_str() {
        "ADT^A01" | "ADT^A04" | "ADT^A08" | "ADT^A03" | "ADT^A05" => {
            let (pid, mut changes) = upsert_patient(store, msg)?;
            if msg.segment("PV1", 1).is_some() {
                changes.push(upsert_encounter(store, msg, &pid, &event));
            }
            Ok(changes)
        }
        "ORM^O01" => {
            let (pid, mut changes) = upsert_patient(store, msg)?;
            changes.push(upsert_order(store, msg, &pid));
            Ok(changes)
        }
        "ORU^R01" => {
            let (pid, mut changes) = upsert_patient(store, msg)?;
            changes.extend(observations(store, msg, &pid));
            Ok(changes)
        }
        // Accepted and acknowledged, with nothing to store in the sandbox's FHIR model.
        _ => Ok(Vec::new()),
    }
}

fn val(msg: &Message, path: &str) -> String {
    msg.value(path).unwrap_or_default()
}

/// HL7 TS (`YYYY[MM[DD[HHMM[SS[.S]]]]][+ZZZZ]`) as a FHIR date or dateTime.
pub fn fhir_datetime(ts: &str) -> Option<String> {
    let (body, zone) = match ts.find(['+', '-']) {
        Some(i) => (&ts[..i], Some(&ts[i..])),
        None => (ts, None),
    };
    let digits: String = body.chars().take_while(|c| c.is_ascii_digit()).collect();
    let zone = zone
        .filter(|z| z.len() == 5)
        .map(|z| format!("{}:{}", &z[..3], &z[3..]))
        .unwrap_or_else(|| "Z".into());
    Some(match digits.len() {
        4 => digits,
        6 => format!("{}-{}", &digits[..4], &digits[4..6]),
        8 => format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..8]),
        12 => format!(
            "{}-{}-{}T{}:{}:00{zone}",
            &digits[..4],
            &digits[4..6],
            &digits[6..8],
            &digits[8..10],
            &digits[10..12]
        ),
        14.. => format!(
            "{}-{}-{}T{}:{}:{}{zone}",
            &digits[..4],
            &digits[4..6],
            &digits[6..8],
            &digits[8..10],
            &digits[10..12],
            &digits[12..14]
        ),
        _ => return None,
    })
}

fn date_only(ts: &str) -> Option<String> {
    fhir_datetime(ts).map(|d| d.chars().take(10).collect())
}

/// CX.4 assigning authority as an identifier system.
fn identifier_system(msg: &Message, rep: usize) -> String {
    let oid = val(msg, &format!("PID-3[{rep}].4.2"));
    if !oid.is_empty() {
        return format!("urn:oid:{oid}");
    }
    let authority = val(msg, &format!("PID-3[{rep}].4.1"));
    if authority.is_empty() {
        "urn:emr-harness:sandbox:identifier".into()
    } else {
        format!("urn:emr-harness:sandbox:{}", authority.to_ascii_lowercase())
    }
}

fn find_by_identifier(store: &Store, rtype: &str, value: &str) -> Option<(String, Value)> {
    // The earliest-created match wins, as a search sorted by creation would give.
    store
        .with_identifier(rtype, value)
        .min_by_key(|(seq, _)| *seq)
        .map(|(_, r)| {
            (
                r.get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                r.clone(),
            )
        })
}

fn upsert_patient(store: &mut Store, msg: &Message) -> Result<(String, Vec<String>), String> {
    let mrn = val(msg, "PID-3.1");
    if mrn.is_empty() {
        return Err("PID-3 (patient identifier) is empty".into());
    }
    let raw = msg.raw_field("PID", 1, 3).unwrap_or_default();
    let reps = raw.split(msg.delimiters.repetition).count().max(1);
    let identifiers: Vec<Value> = (1..=reps)
        .filter_map(|r| {
            let v = val(msg, &format!("PID-3[{r}].1"));
            (!v.is_empty()).then(|| json!({"system": identifier_system(msg, r), "value": v}))
        })
        .collect();
    let mut patient = json!({"resourceType": "Patient", "identifier": identifiers, "active": true});
    let family = val(msg, "PID-5.1");
    let given: Vec<String> = [val(msg, "PID-5.2"), val(msg, "PID-5.3")]
        .into_iter()
        .filter(|g| !g.is_empty())
        .collect();
    if !family.is_empty() || !given.is_empty() {
        patient["name"] = json!([{"use": "official", "family": family, "given": given}]);
    }
    if let Some(d) = date_only(&val(msg, "PID-7")) {
        patient["birthDate"] = json!(d);
    }
    let gender = match val(msg, "PID-8").as_str() {
        "M" => Some("male"),
        "F" => Some("female"),
        "O" | "A" => Some("other"),
        "U" => Some("unknown"),
        _ => None,
    };
    if let Some(g) = gender {
        patient["gender"] = json!(g);
    }
    let line = val(msg, "PID-11.1");
    if !line.is_empty() {
        patient["address"] = json!([{"line": [line], "city": val(msg, "PID-11.3"), "state": val(msg, "PID-11.4"), "postalCode": val(msg, "PID-11.5")}]);
    }
    let phone = val(msg, "PID-13.1");
    if !phone.is_empty() {
        patient["telecom"] = json!([{"system": "phone", "value": phone, "use": "home"}]);
    }
    strip_empty(&mut patient);
    let demographics = msg.message_type().starts_with("ADT");
    match find_by_identifier(store, "Patient", &mrn) {
        // Orders and results name the patient; only ADT changes who the patient is.
        Some((id, _)) if !demographics => Ok((id, Vec::new())),
        Some((id, _)) => {
            let v = store.put("Patient", &id, patient, "PUT");
            Ok((
                id.clone(),
                vec![format!("Patient/{id} updated to version {}", v.version_id)],
            ))
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            store.put("Patient", &id, patient, "POST");
            Ok((id.clone(), vec![format!("Patient/{id} created")]))
        }
    }
}

fn upsert_encounter(store: &mut Store, msg: &Message, patient_id: &str, event: &str) -> String {
    let (code, display) = match val(msg, "PV1-2").as_str() {
        "I" => ("IMP", "inpatient encounter"),
        "E" => ("EMER", "emergency"),
        "P" => ("PRENC", "pre-admission"),
        _ => ("AMB", "ambulatory"),
    };
    let status = if event == "ADT^A03" {
        "finished"
    } else {
        "in-progress"
    };
    let visit = val(msg, "PV1-19.1");
    let mut enc = json!({
        "resourceType": "Encounter",
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code, "display": display},
        "subject": {"reference": format!("Patient/{patient_id}")},
    });
    if !visit.is_empty() {
        enc["identifier"] = json!([{"system": "urn:emr-harness:sandbox:visit", "value": visit}]);
    }
    let mut period = serde_json::Map::new();
    if let Some(start) = fhir_datetime(&val(msg, "PV1-44")) {
        period.insert("start".into(), json!(start));
    }
    if let Some(end) = fhir_datetime(&val(msg, "PV1-45")) {
        period.insert("end".into(), json!(end));
    }
    if !period.is_empty() {
        enc["period"] = Value::Object(period);
    }
    let existing = if visit.is_empty() {
        None
    } else {
        find_by_identifier(store, "Encounter", &visit)
    };
    match existing {
        Some((id, _)) => {
            let v = store.put("Encounter", &id, enc, "PUT");
            format!("Encounter/{id} updated to version {}", v.version_id)
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            store.put("Encounter", &id, enc, "POST");
            format!("Encounter/{id} created")
        }
    }
}

fn coding(msg: &Message, path: &str) -> Value {
    let code = val(msg, &format!("{path}.1"));
    let display = val(msg, &format!("{path}.2"));
    let system = match val(msg, &format!("{path}.3")).as_str() {
        "LN" => "http://loinc.org".to_string(),
        "SCT" | "SNM" => "http://snomed.info/sct".to_string(),
        "" => "urn:emr-harness:sandbox:local".to_string(),
        other => format!("urn:emr-harness:sandbox:{}", other.to_ascii_lowercase()),
    };
    let mut c = json!({"system": system, "code": code});
    if !display.is_empty() {
        c["display"] = json!(display);
    }
    json!({"coding": [c]})
}

fn upsert_order(store: &mut Store, msg: &Message, patient_id: &str) -> String {
    let placer = val(msg, "ORC-2.1");
    let status = match val(msg, "ORC-1").as_str() {
        "CA" | "OC" => "revoked",
        "HD" => "on-hold",
        _ => "active",
    };
    let mut order = json!({
        "resourceType": "ServiceRequest",
        "status": status,
        "intent": "order",
        "code": coding(msg, "OBR-4"),
        "subject": {"reference": format!("Patient/{patient_id}")},
    });
    if !placer.is_empty() {
        order["identifier"] =
            json!([{"system": "urn:emr-harness:sandbox:placer", "value": placer}]);
    }
    let existing = if placer.is_empty() {
        None
    } else {
        find_by_identifier(store, "ServiceRequest", &placer)
    };
    let id = existing
        .map(|(id, _)| id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let v = store.put("ServiceRequest", &id, order, "PUT");
    format!("ServiceRequest/{id} version {}", v.version_id)
}

fn observations(store: &mut Store, msg: &Message, patient_id: &str) -> Vec<String> {
    let mut changes = Vec::new();
    let placer = val(msg, "OBR-2.1");
    let order = if placer.is_empty() {
        None
    } else {
        find_by_identifier(store, "ServiceRequest", &placer)
    };
    let count = msg.segments.iter().filter(|s| s.name == "OBX").count();
    let effective = fhir_datetime(&val(msg, "OBR-7"));
    let mut all_final = count > 0;
    for n in 1..=count {
        let p = |f: &str| format!("OBX[{n}]-{f}");
        let status = match val(msg, &p("11")).as_str() {
            "F" => "final",
            "C" => "corrected",
            "P" => "preliminary",
            "X" | "D" => "cancelled",
            "W" => "entered-in-error",
            _ => "registered",
        };
        all_final &= status == "final" || status == "corrected";
        let mut obs = json!({
            "resourceType": "Observation",
            "status": status,
            "code": coding(msg, &p("3")),
            "subject": {"reference": format!("Patient/{patient_id}")},
        });
        let value = val(msg, &p("5"));
        match val(msg, &p("2")).as_str() {
            "NM" => {
                if let Ok(n) = value.parse::<f64>() {
                    let unit = val(msg, &format!("{}.1", p("6")));
                    let mut q = json!({"value": n});
                    if !unit.is_empty() {
                        q["unit"] = json!(unit);
                        q["system"] = json!("http://unitsofmeasure.org");
                        q["code"] = json!(unit);
                    }
                    obs["valueQuantity"] = q;
                }
            }
            _ if !value.is_empty() => obs["valueString"] = json!(value),
            _ => {}
        }
        let flag = val(msg, &p("8"));
        if !flag.is_empty() {
            obs["interpretation"] = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": flag}]}]);
        }
        if let Some(t) = fhir_datetime(&val(msg, &p("14"))).or_else(|| effective.clone()) {
            obs["effectiveDateTime"] = json!(t);
        }
        if let Some((oid, _)) = &order {
            obs["basedOn"] = json!([{"reference": format!("ServiceRequest/{oid}")}]);
        }
        let id = uuid::Uuid::new_v4().to_string();
        store.put("Observation", &id, obs, "POST");
        changes.push(format!("Observation/{id} created"));
    }
    if let (Some((oid, mut sr)), true) = (order, all_final) {
        sr["status"] = json!("completed");
        store.put("ServiceRequest", &oid, sr, "PUT");
        changes.push(format!("ServiceRequest/{oid} completed"));
    }
    changes
}

/// Removes empty strings, arrays and objects, which FHIR forbids.
fn strip_empty(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.values_mut().for_each(strip_empty);
            m.retain(|_, x| !is_empty(x));
        }
        Value::Array(a) => {
            a.iter_mut().for_each(strip_empty);
            a.retain(|x| !is_empty(x));
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::validate::validate_resource;

    #[test]
    fn timestamps() {
        assert_eq!(fhir_datetime("19800101").as_deref(), Some("1980-01-01"));
        assert_eq!(
            fhir_datetime("202611250930").as_deref(),
            Some("2026-11-25T09:30:00Z")
        );
        assert_eq!(
            fhir_datetime("20261125093015-0500").as_deref(),
            Some("2026-11-25T09:30:15-05:00")
        );
        assert_eq!(fhir_datetime("bad"), None);
    }

    #[test]
    fn adt_then_oru_build_valid_fhir() {
        let mut store = Store::default();
        let adt = Message::parse("MSH|^~\\&|A|B|C|D|202611250930||ADT^A01|1|P|2.5.1\rEVN|A01\rPID|1||M1^^^HOSP^MR||Doe^Jane^Q||19800101|F|||1 Main St^^Springfield^IL^62701||(555)555-0100\rPV1|1|I|W^1^1||||||||||||||||V100|||||||||||||||||||||||||202611250930\r").unwrap();
        let changes = apply(&mut store, &adt).unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        let oru = Message::parse("MSH|^~\\&|LAB|L|EMR|H|202611251000||ORU^R01|2|P|2.5.1\rPID|1||M1^^^HOSP^MR||Doe^Jane\rOBR|1||F1|2345-7^Glucose^LN|||202611250955\rOBX|1|NM|2345-7^Glucose^LN||95|mg/dL|70-99|N|||F\rOBX|2|ST|8251-1^Comment^LN||fasting||||||F\r").unwrap();
        let changes = apply(&mut store, &oru).unwrap();
        assert_eq!(
            changes.len(),
            2,
            "two Observations; the patient is only named: {changes:?}"
        );
        assert_eq!(
            store.live("Patient").len(),
            1,
            "the ORU found the admitted patient"
        );
        for t in ["Patient", "Encounter", "Observation"] {
            for r in store.live(t) {
                assert_eq!(validate_resource(r, Some(t)), Ok(()), "{r}");
            }
        }
        let obs = store.live("Observation");
        assert_eq!(obs[0]["valueQuantity"]["value"], 95.0);
        assert_eq!(obs[0]["code"]["coding"][0]["system"], "http://loinc.org");
        assert_eq!(obs[1]["valueString"], "fasting");
        let a08 = Message::parse("MSH|^~\\&|A|B|C|D|202611251100||ADT^A08|3|P|2.5.1\rEVN|A08\rPID|1||M1^^^HOSP^MR||Doe^Janet\rPV1|1|I\r").unwrap();
        apply(&mut store, &a08).unwrap();
        assert_eq!(store.live("Patient")[0]["name"][0]["given"][0], "Janet");
    }
}
