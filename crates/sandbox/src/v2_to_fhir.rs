//! What the sandbox's MLLP listener does with a message it accepted, into the same store the FHIR
//! API serves, so one scenario can send v2 and read the result back over FHIR: ADT feeds Patient
//! and Encounter (admit, transfer, discharge, cancel; A40 merges two patients), ORM and OML feed
//! ServiceRequest, ORU feeds Observation, SIU feeds Appointment, MDM feeds DocumentReference, and
//! VXU feeds Immunization.

use serde_json::{json, Value};

use super::store::{Read, Store, StoreFull};
use emr_core::hl7::message::{decode, Delimiters, Segment};
use emr_core::hl7::Message;

/// What one accepted message means for the FHIR store, worked out from the message alone so
/// that the listener holds the store's lock only for the lookups and writes (under load, eight
/// connections contend for that lock).
#[derive(Debug)]
pub struct Mapped {
    /// PID-3.1, the identifier the patient is looked up by.
    mrn: String,
    patient: Value,
    /// Only ADT changes who the patient is; orders and results name an existing one.
    demographics: bool,
    then: Follow,
}

/// What the message adds beside the patient. References to the patient (and to the order) are
/// filled in by `write`, once the ids are known.
#[derive(Debug)]
enum Follow {
    Nothing,
    Encounter {
        resource: Value,
        visit: String,
    },
    Order {
        resource: Value,
        placer: String,
    },
    Results {
        observations: Vec<Value>,
        placer: String,
        all_final: bool,
    },
    /// A40: the patient known by `prior` (MRG-1) is replaced by this one.
    Merge {
        prior: String,
    },
    /// SIU, MDM: one resource found again by its identifier, else created.
    Keyed {
        resource: Value,
        key: String,
    },
    /// VXU: resources created each time.
    Created(Vec<Value>),
}

/// Applies `msg` to the store. Returns a description of what changed, or the reason it could not.
pub fn apply(store: &mut Store, msg: &Message) -> Result<Vec<String>, String> {
    Ok(match map(msg)? {
        Some(mapped) => write(store, mapped).map_err(|full| full.to_string())?,
        None => Vec::new(),
    })
}

/// The FHIR resources `msg` carries; `None` for an accepted type the sandbox stores nothing for.
pub fn map(msg: &Message) -> Result<Option<Mapped>, String> {
    let event = msg.message_type();
    let then = match event.as_str() {
        "ADT^A01" | "ADT^A02" | "ADT^A03" | "ADT^A04" | "ADT^A05" | "ADT^A06" | "ADT^A07"
        | "ADT^A08" | "ADT^A11" | "ADT^A12" | "ADT^A13" => {
            if msg.segment("PV1", 1).is_some() {
                encounter(msg, &event)
            } else {
                Follow::Nothing
            }
        }
        "ADT^A28" | "ADT^A31" => Follow::Nothing,
        "ADT^A40" => {
            let prior = Fields::of(msg, "MRG", 1).comp(1, 1);
            if prior.is_empty() {
                return Err("MRG-1 (prior patient identifier) is empty".into());
            }
            Follow::Merge { prior }
        }
        "ORM^O01" | "OML^O21" => order(msg),
        "ORU^R01" => results(msg),
        e if e.starts_with("SIU^S") => {
            if msg.segment("PID", 1).is_none() {
                return Ok(None);
            }
            appointment(msg, e)
        }
        e if e.starts_with("MDM^T") => document(msg),
        "VXU^V04" => immunizations(msg),
        _ => return Ok(None),
    };
    let (mrn, patient) = patient(msg)?;
    Ok(Some(Mapped {
        mrn,
        patient,
        demographics: event.starts_with("ADT"),
        then,
    }))
}

/// Writes what `map` worked out: looks the patient, visit and order up by identifier, creates or
/// updates them, and links the rest to them.
pub fn write(store: &mut Store, mapped: Mapped) -> Result<Vec<String>, StoreFull> {
    let (pid, mut changes) = write_patient(store, mapped.mrn, mapped.patient, mapped.demographics)?;
    let subject = json!({"reference": format!("Patient/{pid}")});
    match mapped.then {
        Follow::Nothing => {}
        Follow::Encounter {
            mut resource,
            visit,
        } => {
            resource["subject"] = subject;
            let existing = (!visit.is_empty())
                .then(|| find_by_identifier(store, "Encounter", &visit))
                .flatten();
            changes.push(match existing {
                Some(id) => {
                    let v = store.put("Encounter", &id, resource, "PUT")?;
                    format!("Encounter/{id} updated to version {}", v.version_id)
                }
                None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    store.put("Encounter", &id, resource, "POST")?;
                    format!("Encounter/{id} created")
                }
            });
        }
        Follow::Order {
            mut resource,
            placer,
        } => {
            resource["subject"] = subject;
            let id = (!placer.is_empty())
                .then(|| find_by_identifier(store, "ServiceRequest", &placer))
                .flatten()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let v = store.put("ServiceRequest", &id, resource, "PUT")?;
            changes.push(format!("ServiceRequest/{id} version {}", v.version_id));
        }
        Follow::Results {
            observations,
            placer,
            all_final,
        } => {
            let order = (!placer.is_empty())
                .then(|| find_by_identifier(store, "ServiceRequest", &placer))
                .flatten();
            for mut obs in observations {
                obs["subject"] = subject.clone();
                if let Some(oid) = &order {
                    obs["basedOn"] = json!([{"reference": format!("ServiceRequest/{oid}")}]);
                }
                let id = uuid::Uuid::new_v4().to_string();
                store.put("Observation", &id, obs, "POST")?;
                changes.push(format!("Observation/{id} created"));
            }
            if let (Some(oid), true) = (order, all_final) {
                let current = match store.read("ServiceRequest", &oid) {
                    Read::Found(v) => v.resource.clone(),
                    _ => None,
                };
                if let Some(mut sr) = current {
                    sr["status"] = json!("completed");
                    store.put("ServiceRequest", &oid, sr, "PUT")?;
                    changes.push(format!("ServiceRequest/{oid} completed"));
                }
            }
        }
        Follow::Merge { prior } => {
            // The surviving record points at the one it replaces; the old one is inactive and
            // points back (Patient.link, R4 patient.html#links).
            if let Some(old) = find_by_identifier(store, "Patient", &prior).filter(|o| *o != pid) {
                let current = match store.read("Patient", &old) {
                    Read::Found(v) => v.resource.clone(),
                    _ => None,
                };
                if let Some(mut p) = current {
                    p["active"] = json!(false);
                    p["link"] = json!([{"other": {"reference": format!("Patient/{pid}")}, "type": "replaced-by"}]);
                    store.put("Patient", &old, p, "PUT")?;
                    changes.push(format!("Patient/{old} replaced by Patient/{pid}"));
                }
                let survivor = match store.read("Patient", &pid) {
                    Read::Found(v) => v.resource.clone(),
                    _ => None,
                };
                if let Some(mut p) = survivor {
                    p["link"] = json!([{"other": {"reference": format!("Patient/{old}")}, "type": "replaces"}]);
                    store.put("Patient", &pid, p, "PUT")?;
                }
            }
        }
        Follow::Keyed { mut resource, key } => {
            let rtype = resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            link_patient(&mut resource, &subject);
            let id = (!key.is_empty())
                .then(|| find_by_identifier(store, &rtype, &key))
                .flatten()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let v = store.put(&rtype, &id, resource, "PUT")?;
            changes.push(format!("{rtype}/{id} version {}", v.version_id));
        }
        Follow::Created(resources) => {
            for mut r in resources {
                link_patient(&mut r, &subject);
                let rtype = r["resourceType"].as_str().unwrap_or_default().to_string();
                let id = uuid::Uuid::new_v4().to_string();
                store.put(&rtype, &id, r, "POST")?;
                changes.push(format!("{rtype}/{id} created"));
            }
        }
    }
    Ok(changes)
}

/// Puts the patient where each resource type names it.
fn link_patient(r: &mut Value, subject: &Value) {
    match r["resourceType"].as_str() {
        Some("Appointment") => {
            r["participant"] = json!([{"actor": subject, "status": "accepted"}]);
        }
        Some("Immunization") => r["patient"] = subject.clone(),
        _ => r["subject"] = subject.clone(),
    }
}

/// SIU: the appointment (SCH) as an R4 Appointment, found again by its placer id (SCH-1).
fn appointment(msg: &Message, event: &str) -> Follow {
    let sch = Fields::of(msg, "SCH", 1);
    let key = sch.comp(1, 1);
    let status = match event {
        "SIU^S15" | "SIU^S16" => "cancelled",
        "SIU^S26" => "noshow",
        _ => "booked",
    };
    let mut appt = json!({"resourceType": "Appointment", "status": status});
    if !key.is_empty() {
        appt["identifier"] =
            json!([{"system": "urn:emr-harness:sandbox:appointment", "value": key}]);
    }
    // When: TQ1-7 (v2.5+), else SCH-11.4 (the TQ start).
    let start = Fields::of(msg, "TQ1", 1).comp(7, 1);
    let start = if start.is_empty() {
        sch.comp(11, 4)
    } else {
        start
    };
    if let Some(s) = fhir_datetime(&start).filter(|s| s.contains('T')) {
        appt["start"] = json!(s);
    }
    let reason = sch.comp(7, 2);
    if !reason.is_empty() {
        appt["description"] = json!(reason);
    }
    Follow::Keyed {
        resource: appt,
        key,
    }
}

/// MDM: the document (TXA, text in OBX-5) as a DocumentReference, found again by TXA-12.
fn document(msg: &Message) -> Follow {
    use base64::Engine as _;
    let txa = Fields::of(msg, "TXA", 1);
    let key = txa.comp(12, 1);
    let text: Vec<String> = msg
        .segments
        .iter()
        .filter(|s| s.name == "OBX")
        .map(|s| msg.field_of(s, 5))
        .collect();
    let status = match txa.field(17).as_str() {
        "AU" | "LA" => "current",
        "OB" => "superseded",
        _ => "current",
    };
    let mut doc = json!({
        "resourceType": "DocumentReference",
        "status": status,
        "type": {"coding": [{"system": "urn:emr-harness:sandbox:document-type", "code": txa.comp(2, 1)}]},
        "content": [{"attachment": {"contentType": "text/plain", "data": base64::engine::general_purpose::STANDARD.encode(text.join("\n"))}}],
    });
    if !key.is_empty() {
        doc["identifier"] = json!([{"system": "urn:emr-harness:sandbox:document", "value": key}]);
    }
    Follow::Keyed { resource: doc, key }
}

/// VXU: each administration (RXA) as an Immunization.
fn immunizations(msg: &Message) -> Follow {
    let mut out = Vec::new();
    for seg in msg.segments.iter().filter(|s| s.name == "RXA") {
        let rxa = Fields {
            msg,
            seg: Some(seg),
        };
        let status = match rxa.field(20).as_str() {
            "RE" | "NA" | "PA" => "not-done",
            _ => "completed",
        };
        let mut imm = json!({
            "resourceType": "Immunization",
            "status": status,
            "vaccineCode": coding(&rxa, 5),
        });
        if let Some(at) = fhir_datetime(&rxa.comp(3, 1)) {
            imm["occurrenceDateTime"] = json!(at);
        }
        out.push(imm);
    }
    Follow::Created(out)
}

/// One segment's values, read without formatting and parsing a path for each: the listener maps
/// every message it accepts, thousands a second under load. Absent segments and fields read as
/// empty, as FHIR leaves out what v2 left empty.
struct Fields<'a> {
    msg: &'a Message,
    seg: Option<&'a Segment>,
}

impl<'a> Fields<'a> {
    fn of(msg: &'a Message, name: &str, occurrence: usize) -> Self {
        Fields {
            msg,
            seg: msg.segment(name, occurrence),
        }
    }

    /// `SEG-n`, whole.
    fn field(&self, n: usize) -> String {
        self.seg
            .map(|s| self.msg.field_of(s, n))
            .unwrap_or_default()
    }

    /// `SEG-n.c` of the first repetition.
    fn comp(&self, n: usize, c: usize) -> String {
        self.seg
            .map(|s| self.msg.component_of(s, n, c))
            .unwrap_or_default()
    }
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

/// One PID-3 repetition (a CX) as a FHIR identifier: CX.1 the value, CX.4 (assigning authority:
/// namespace^OID^type) the system.
fn identifier(cx: &str, d: &Delimiters) -> Option<Value> {
    let mut comps = cx.split(d.component);
    let value = decode(comps.next().unwrap_or_default(), d);
    if value.is_empty() {
        return None;
    }
    let authority = comps.nth(2).unwrap_or_default();
    let mut subs = authority.split(d.subcomponent);
    let namespace = decode(subs.next().unwrap_or_default(), d);
    let oid = decode(subs.next().unwrap_or_default(), d);
    let system = if !oid.is_empty() {
        format!("urn:oid:{oid}")
    } else if namespace.is_empty() {
        "urn:emr-harness:sandbox:identifier".into()
    } else {
        format!("urn:emr-harness:sandbox:{}", namespace.to_ascii_lowercase())
    };
    Some(json!({"system": system, "value": value}))
}

/// The id of the earliest-created `rtype` carrying identifier `value`, as a search sorted by
/// creation would give.
fn find_by_identifier(store: &Store, rtype: &str, value: &str) -> Option<String> {
    store
        .with_identifier(rtype, value)
        .min_by_key(|(seq, _)| *seq)
        .and_then(|(_, r)| r.get("id").and_then(Value::as_str))
        .map(str::to_string)
}

fn patient(msg: &Message) -> Result<(String, Value), String> {
    let pid = Fields::of(msg, "PID", 1);
    let mrn = pid.comp(3, 1);
    if mrn.is_empty() {
        return Err("PID-3 (patient identifier) is empty".into());
    }
    let d = &msg.delimiters;
    let identifiers: Vec<Value> = msg
        .raw_field("PID", 1, 3)
        .unwrap_or_default()
        .split(d.repetition)
        .filter_map(|cx| identifier(cx, d))
        .collect();
    let mut patient = json!({"resourceType": "Patient", "identifier": identifiers, "active": true});
    let family = pid.comp(5, 1);
    let given: Vec<String> = [pid.comp(5, 2), pid.comp(5, 3)]
        .into_iter()
        .filter(|g| !g.is_empty())
        .collect();
    if !family.is_empty() || !given.is_empty() {
        patient["name"] = json!([{"use": "official", "family": family, "given": given}]);
    }
    if let Some(d) = date_only(&pid.field(7)) {
        patient["birthDate"] = json!(d);
    }
    let gender = match pid.field(8).as_str() {
        "M" => Some("male"),
        "F" => Some("female"),
        "O" | "A" => Some("other"),
        "U" => Some("unknown"),
        _ => None,
    };
    if let Some(g) = gender {
        patient["gender"] = json!(g);
    }
    let line = pid.comp(11, 1);
    if !line.is_empty() {
        patient["address"] = json!([{"line": [line], "city": pid.comp(11, 3), "state": pid.comp(11, 4), "postalCode": pid.comp(11, 5)}]);
    }
    let phone = pid.comp(13, 1);
    if !phone.is_empty() {
        patient["telecom"] = json!([{"system": "phone", "value": phone, "use": "home"}]);
    }
    strip_empty(&mut patient);
    Ok((mrn, patient))
}

fn write_patient(
    store: &mut Store,
    mrn: String,
    patient: Value,
    demographics: bool,
) -> Result<(String, Vec<String>), StoreFull> {
    Ok(match find_by_identifier(store, "Patient", &mrn) {
        Some(id) if !demographics => (id, Vec::new()),
        Some(id) => {
            let v = store.put("Patient", &id, patient, "PUT")?;
            let change = format!("Patient/{id} updated to version {}", v.version_id);
            (id, vec![change])
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            store.put("Patient", &id, patient, "POST")?;
            let change = format!("Patient/{id} created");
            (id, vec![change])
        }
    })
}

fn encounter(msg: &Message, event: &str) -> Follow {
    let pv1 = Fields::of(msg, "PV1", 1);
    let (code, display) = match pv1.field(2).as_str() {
        "I" => ("IMP", "inpatient encounter"),
        "E" => ("EMER", "emergency"),
        "P" => ("PRENC", "pre-admission"),
        _ => ("AMB", "ambulatory"),
    };
    let status = match event {
        "ADT^A03" => "finished",
        "ADT^A11" | "ADT^A12" | "ADT^A13" => "cancelled",
        "ADT^A05" => "planned",
        _ => "in-progress",
    };
    let visit = pv1.comp(19, 1);
    let mut enc = json!({
        "resourceType": "Encounter",
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": code, "display": display},
    });
    if !visit.is_empty() {
        enc["identifier"] = json!([{"system": "urn:emr-harness:sandbox:visit", "value": visit}]);
    }
    let mut period = serde_json::Map::new();
    if let Some(start) = fhir_datetime(&pv1.field(44)) {
        period.insert("start".into(), json!(start));
    }
    if let Some(end) = fhir_datetime(&pv1.field(45)) {
        period.insert("end".into(), json!(end));
    }
    if !period.is_empty() {
        enc["period"] = Value::Object(period);
    }
    Follow::Encounter {
        resource: enc,
        visit,
    }
}

/// A CE/CWE field (code^text^coding system) as a CodeableConcept.
fn coding(seg: &Fields, field: usize) -> Value {
    let code = seg.comp(field, 1);
    let display = seg.comp(field, 2);
    let system = match seg.comp(field, 3).as_str() {
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

fn order(msg: &Message) -> Follow {
    let orc = Fields::of(msg, "ORC", 1);
    let placer = orc.comp(2, 1);
    let status = match orc.field(1).as_str() {
        "CA" | "OC" => "revoked",
        "HD" => "on-hold",
        _ => "active",
    };
    let mut order = json!({
        "resourceType": "ServiceRequest",
        "status": status,
        "intent": "order",
        "code": coding(&Fields::of(msg, "OBR", 1), 4),
    });
    if !placer.is_empty() {
        order["identifier"] =
            json!([{"system": "urn:emr-harness:sandbox:placer", "value": placer}]);
    }
    Follow::Order {
        resource: order,
        placer,
    }
}

fn results(msg: &Message) -> Follow {
    let count = msg.segments.iter().filter(|s| s.name == "OBX").count();
    let obr = Fields::of(msg, "OBR", 1);
    let effective = fhir_datetime(&obr.field(7));
    let mut all_final = count > 0;
    let mut observations = Vec::with_capacity(count);
    for seg in msg.segments.iter().filter(|s| s.name == "OBX") {
        let obx = Fields {
            msg,
            seg: Some(seg),
        };
        let status = match obx.field(11).as_str() {
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
            "code": coding(&obx, 3),
        });
        let value = obx.field(5);
        match obx.field(2).as_str() {
            "NM" => {
                if let Ok(n) = value.parse::<f64>() {
                    let unit = obx.comp(6, 1);
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
        let flag = obx.field(8);
        if !flag.is_empty() {
            obs["interpretation"] = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": flag}]}]);
        }
        if let Some(t) = fhir_datetime(&obx.field(14)).or_else(|| effective.clone()) {
            obs["effectiveDateTime"] = json!(t);
        }
        observations.push(obs);
    }
    Follow::Results {
        observations,
        placer: obr.comp(2, 1),
        all_final,
    }
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
    use emr_validate::fhir::validate_resource;

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

    #[test]
    fn identifiers_repetitions_and_order_links() {
        let mut store = Store::default();
        let orm = Message::parse("MSH|^~\\&|CPOE|H|LAB|L|202611251000||ORM^O01|5|P|2.5.1\rPID|1||M9^^^HOSP&1.2.3&ISO^MR~S\\T\\9^^^SSA^SS~^^^EMPTY||Roe^Rick\rORC|NW|P77\rOBR|1|P77||2345-7^Glucose^LN\r").unwrap();
        apply(&mut store, &orm).unwrap();
        let patient = store.live("Patient")[0].clone();
        assert_eq!(
            patient["identifier"],
            json!([
                {"system": "urn:oid:1.2.3", "value": "M9"},
                {"system": "urn:emr-harness:sandbox:ssa", "value": "S&9"}
            ]),
            "OID wins over the namespace; escapes decoded; an empty CX.1 is left out"
        );
        let oru = Message::parse("MSH|^~\\&|LAB|L|EMR|H|202611251030||ORU^R01|6|P|2.5.1\rPID|1||M9^^^HOSP^MR\rOBR|1|P77||2345-7^Glucose^LN|||202611251020\rOBX|1|NM|2345-7^Glucose^LN||101|mg/dL|||||F\r").unwrap();
        apply(&mut store, &oru).unwrap();
        let order = store.live("ServiceRequest")[0].clone();
        let obs = store.live("Observation")[0].clone();
        let pid = patient["id"].as_str().unwrap();
        assert_eq!(obs["subject"]["reference"], format!("Patient/{pid}"));
        assert_eq!(order["subject"]["reference"], format!("Patient/{pid}"));
        assert_eq!(
            obs["basedOn"][0]["reference"],
            format!("ServiceRequest/{}", order["id"].as_str().unwrap())
        );
        assert_eq!(order["status"], "completed", "every result final");
        assert_eq!(obs["effectiveDateTime"], "2026-11-25T10:20:00Z");
    }
}
