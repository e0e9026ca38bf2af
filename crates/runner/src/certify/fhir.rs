//! `certify fhir`: the FHIR R4 RESTful API (http.html, search.html), judged against any server.
//!
//! The suite reads the server's CapabilityStatement first and plans its checks from what it
//! declares: per resource type with a built-in test fixture, each declared interaction and each
//! declared search parameter; then the general rules (status codes, Location, ETag, If-Match,
//! If-None-Exist, 404/410, OperationOutcome, Prefer, paging, _summary, _elements, Bundle.total and
//! search.mode, transaction and batch). What is not declared is skipped with that reason.
//!
//! Every check creates its own data (tagged with a run-unique identifier) and deletes it
//! afterwards, whatever the verdict. Each check judges one rule, so a server that breaks one rule
//! fails one check (the sandbox's `--fault-break` modes rely on this).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Value};

use super::{CertReport, CheckOutcome, Exchange, Verdict};
use emr_transport::fhir::{FhirClient, HttpRequest, HttpResponse};
use emr_validate::fhir::{is_operation_outcome, validate_resource};

const HTTP: &str = "FHIR R4 http.html";
const SEARCH: &str = "FHIR R4 search.html";
const JSON_TYPE: &str = "application/fhir+json";
/// Resource bodies longer than this are cut in the evidence.
const EVIDENCE_MAX: usize = 4000;

/// What the CapabilityStatement declares for one resource type.
#[derive(Debug, Default, Clone)]
struct TypeCap {
    interactions: Vec<String>,
    search_params: Vec<String>,
    conditional_create: bool,
    versioning: String,
    search_include: Vec<String>,
    search_rev_include: Vec<String>,
}

impl TypeCap {
    fn has(&self, interaction: &str) -> bool {
        self.interactions.iter().any(|i| i == interaction)
    }
}

#[derive(Debug, Default)]
struct Capability {
    types: BTreeMap<String, TypeCap>,
    system: Vec<String>,
}

fn parse_capability(cs: &Value) -> Capability {
    let mut cap = Capability::default();
    let strings = |v: Option<&Value>, key: &str| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.get(key).and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let plain = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let rests = cs
        .get("rest")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for rest in rests.filter(|r| r.get("mode").and_then(Value::as_str) == Some("server")) {
        cap.system.extend(strings(rest.get("interaction"), "code"));
        for r in rest
            .get("resource")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(t) = r.get("type").and_then(Value::as_str) else {
                continue;
            };
            cap.types.insert(
                t.to_string(),
                TypeCap {
                    interactions: strings(r.get("interaction"), "code"),
                    search_params: strings(r.get("searchParam"), "name"),
                    conditional_create: r.get("conditionalCreate").and_then(Value::as_bool)
                        == Some(true),
                    versioning: r
                        .get("versioning")
                        .and_then(Value::as_str)
                        .unwrap_or("no-version")
                        .to_string(),
                    search_include: plain(r.get("searchInclude")),
                    search_rev_include: plain(r.get("searchRevInclude")),
                },
            );
        }
    }
    cap
}

/// The checks, planned from the CapabilityStatement.
#[derive(Debug, Clone)]
enum Kind {
    Create(String),
    Read(String),
    Vread(String),
    Update(String),
    Patch(String),
    Delete(String),
    HistoryInstance(String),
    HistoryType(String),
    Search(String, String),
    Status201,
    Location,
    Etag,
    IfMatch,
    ConditionalCreate,
    NotFound,
    OperationOutcome,
    AcceptJson,
    FormatParam,
    PreferMinimal,
    PreferRepresentation,
    Paging,
    SummaryCount,
    Elements,
    SearchBundle,
    Include,
    RevInclude,
    Transaction,
    Batch,
    RejectsInvalid,
    RequiredBinding,
}

struct Planned {
    id: String,
    area: &'static str,
    title: String,
    spec: String,
    /// `Err(reason)`: skipped without sending anything.
    run: Result<Kind, String>,
}

const INTERACTIONS: &str = "interactions";
const SEARCH_AREA: &str = "search parameters";
const RULES: &str = "general rules";
const SEARCH_RULES: &str = "search rules";
const VALIDATION: &str = "validation";

/// interaction, title (`{t}` = the type), anchor in http.html, the check.
type PerType = (&'static str, &'static str, &'static str, fn(String) -> Kind);
/// id, area, title, spec, the check or why it is skipped.
type RuleRow = (
    &'static str,
    &'static str,
    &'static str,
    String,
    Result<Kind, String>,
);

/// Resource types the suite has test data for, in the order they are checked.
const FIXTURE_TYPES: &[&str] = &[
    "Patient",
    "Observation",
    "Encounter",
    "Condition",
    "Practitioner",
    "Organization",
];

/// The element an update or a patch changes, per fixture type, and its new value.
fn edit(t: &str) -> (&'static str, Value) {
    match t {
        "Observation" => ("status", json!("amended")),
        "Encounter" => ("status", json!("finished")),
        "Condition" => ("recordedDate", json!("2026-01-02")),
        _ => ("active", json!(false)),
    }
}

fn plan(cap: &Capability) -> Vec<Planned> {
    let mut out = Vec::new();
    let p = |id: String, area, title: String, spec: String, run| Planned {
        id,
        area,
        title,
        spec,
        run,
    };
    for t in FIXTURE_TYPES {
        let tc = cap.types.get(*t);
        let declared = |i: &str| -> Result<(), String> {
            match tc {
                None => Err(format!("{t} is not in the CapabilityStatement")),
                Some(c) if c.has(i) => Ok(()),
                Some(_) => Err(format!("{t} does not declare `{i}`")),
            }
        };
        let per_type: [PerType; 8] = [
            (
                "create",
                "POST creates a {t} (2xx)",
                "#create",
                Kind::Create,
            ),
            (
                "read",
                "GET {t}/[id] returns it, valid",
                "#read",
                Kind::Read,
            ),
            (
                "vread",
                "GET {t}/[id]/_history/[vid] returns that version",
                "#vread",
                Kind::Vread,
            ),
            (
                "update",
                "PUT changes a {t} and makes a new version",
                "#update",
                Kind::Update,
            ),
            (
                "patch",
                "PATCH (JSON Patch) changes a {t}",
                "#patch",
                Kind::Patch,
            ),
            (
                "delete",
                "DELETE removes a {t}; a read after it says 410 Gone (or 404)",
                "#delete",
                Kind::Delete,
            ),
            (
                "history-instance",
                "GET {t}/[id]/_history lists its versions",
                "#history",
                Kind::HistoryInstance,
            ),
            (
                "history-type",
                "GET {t}/_history lists the type's changes",
                "#history",
                Kind::HistoryType,
            ),
        ];
        for (interaction, title, section, kind) in per_type {
            out.push(p(
                format!("fhir.{t}.{interaction}"),
                INTERACTIONS,
                title.replace("{t}", t),
                format!("{HTTP}{section}"),
                declared(interaction).map(|_| kind(t.to_string())),
            ));
        }
        let params = tc.map(|c| c.search_params.clone()).unwrap_or_default();
        for param in params {
            let run = match declared("search-type") {
                Err(e) => Err(e),
                Ok(())
                    if param != "_id"
                        && !tc.is_some_and(|c| c.search_params.iter().any(|p| p == "_id")) =>
                {
                    Err("needs `_id` to isolate the test resource".into())
                }
                Ok(()) if search_values(t, &param, &Fixture::example()).is_none() => {
                    Err(format!("no built-in test value for `{param}`"))
                }
                Ok(()) => Ok(Kind::Search(t.to_string(), param.clone())),
            };
            out.push(p(
                format!("fhir.{t}.search.{param}"),
                SEARCH_AREA,
                format!(
                    "{t}?{param}= finds the resource that matches and not the one that does not"
                ),
                format!("{SEARCH} (search parameter types)"),
                run,
            ));
        }
    }
    let patient = cap.types.get("Patient").cloned().unwrap_or_default();
    let need = |i: &str| -> Result<(), String> {
        if patient.has(i) {
            Ok(())
        } else {
            Err(format!("Patient does not declare `{i}`"))
        }
    };
    let both = |a: &str, b: &str| need(a).and_then(|_| need(b));
    let searchable = need("create")
        .and_then(|_| need("search-type"))
        .and_then(|_| {
            if patient.search_params.iter().any(|p| p == "identifier") {
                Ok(())
            } else {
                Err("Patient does not declare the `identifier` search parameter".into())
            }
        });
    let rules: Vec<RuleRow> = vec![
        ("fhir.create.201", RULES, "A create answers 201 Created", format!("{HTTP}#create"), need("create").map(|_| Kind::Status201)),
        ("fhir.create.location", RULES, "A create answers Location: [base]/Patient/[id]/_history/[vid]", format!("{HTTP}#create"), need("create").map(|_| Kind::Location)),
        ("fhir.etag", RULES, "Create, read and update answer ETag: W/\"[versionId]\"", format!("{HTTP} (managing resource contention: ETag)"), both("create", "read").map(|_| Kind::Etag)),
        ("fhir.update.if-match", RULES, "An update with a stale If-Match answers 412 Precondition Failed", format!("{HTTP} (managing resource contention: If-Match)"), both("create", "update").and_then(|_| {
            if patient.versioning == "versioned-update" { Ok(Kind::IfMatch) } else { Err(format!("versioning is `{}`, not `versioned-update`", patient.versioning)) }
        })),
        ("fhir.create.if-none-exist", RULES, "A conditional create (If-None-Exist) that matches one resource creates nothing", format!("{HTTP} (conditional create)"), need("create").and_then(|_| {
            if patient.conditional_create { Ok(Kind::ConditionalCreate) } else { Err("Patient does not declare conditionalCreate".into()) }
        })),
        ("fhir.read.404", RULES, "A read of an id that never existed answers 404 Not Found", format!("{HTTP}#read"), need("read").map(|_| Kind::NotFound)),
        ("fhir.errors.operation-outcome", RULES, "Error answers (404, 400, 412, 410) carry an OperationOutcome", format!("{HTTP} (HTTP status codes: an OperationOutcome with the error)"), both("read", "create").map(|_| Kind::OperationOutcome)),
        ("fhir.format.accept", RULES, "Accept: application/fhir+json is answered with Content-Type application/fhir+json", format!("{HTTP} (content types and encodings)"), need("read").map(|_| Kind::AcceptJson)),
        ("fhir.format.param", RULES, "_format=json is answered with JSON", format!("{HTTP} (content types and encodings: _format)"), need("read").map(|_| Kind::FormatParam)),
        ("fhir.prefer.minimal", RULES, "Prefer: return=minimal answers without a body", format!("{HTTP} (managing return content: Prefer)"), need("create").map(|_| Kind::PreferMinimal)),
        ("fhir.prefer.representation", RULES, "Prefer: return=representation answers with the resource", format!("{HTTP} (managing return content: Prefer)"), need("create").map(|_| Kind::PreferRepresentation)),
        ("fhir.search.paging", SEARCH_RULES, "_count pages a searchset and its next link reaches the rest", format!("{SEARCH} (paging)"), searchable.clone().map(|_| Kind::Paging)),
        ("fhir.search.summary-count", SEARCH_RULES, "_summary=count answers the total without entries", format!("{SEARCH} (_summary)"), searchable.clone().map(|_| Kind::SummaryCount)),
        ("fhir.search.elements", SEARCH_RULES, "_elements returns only the elements asked for (plus mandatory ones)", format!("{SEARCH} (_elements)"), searchable.clone().map(|_| Kind::Elements)),
        ("fhir.search.bundle", SEARCH_RULES, "A search answers a searchset Bundle with total and search.mode = match", format!("{SEARCH} (the searchset Bundle: total, search.mode)"), searchable.clone().map(|_| Kind::SearchBundle)),
        ("fhir.search.include", SEARCH_RULES, "_include=Observation:subject adds the Patient with search.mode = include", format!("{SEARCH} (including other resources: _include)"), {
            let obs = cap.types.get("Observation");
            match obs {
                Some(o) if o.search_include.iter().any(|i| i == "Observation:subject" || i == "*") => Ok(Kind::Include),
                _ => Err("Observation does not declare searchInclude Observation:subject".into()),
            }
        }),
        ("fhir.search.revinclude", SEARCH_RULES, "_revinclude=Observation:subject adds the Observations with search.mode = include", format!("{SEARCH} (including other resources: _revinclude)"), {
            if patient.search_rev_include.iter().any(|i| i == "Observation:subject" || i == "*") { Ok(Kind::RevInclude) } else { Err("Patient does not declare searchRevInclude Observation:subject".into()) }
        }),
        ("fhir.transaction", RULES, "A transaction Bundle is processed as a whole: transaction-response, 201 per create", format!("{HTTP}#transaction"), if cap.system.iter().any(|s| s == "transaction") { Ok(Kind::Transaction) } else { Err("the server does not declare `transaction`".into()) }),
        ("fhir.batch", RULES, "A batch Bundle answers batch-response with one response per entry", format!("{HTTP}#transaction (batch)"), if cap.system.iter().any(|s| s == "batch") { Ok(Kind::Batch) } else { Err("the server does not declare `batch`".into()) }),
        ("fhir.validation.rejects-invalid", VALIDATION, "A resource with an unknown element is rejected (4xx with OperationOutcome)", "FHIR R4 http.html#create (400/422 for an invalid resource), validation.html".to_string(), need("create").map(|_| Kind::RejectsInvalid)),
        ("fhir.validation.required-binding", VALIDATION, "A code outside a required value set (Patient.gender = banana) is rejected, never stored", "FHIR R4 terminologies.html (required bindings), patient.html (Patient.gender)".to_string(), need("create").map(|_| Kind::RequiredBinding)),
    ];
    for (id, area, title, spec, run) in rules {
        out.push(p(id.into(), area, title.into(), spec, run));
    }
    out
}

/// The test data of one check. `tag` is unique per run and check, so searches find only these.
struct Fixture {
    tag: String,
}

impl Fixture {
    fn example() -> Self {
        Fixture { tag: "X".into() }
    }

    fn identifier(&self) -> String {
        format!("CERT-{}", self.tag)
    }

    fn patient(&self) -> Value {
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

    fn encounter(&self, patient_ref: &str) -> Value {
        json!({
            "resourceType": "Encounter",
            "identifier": [{"system": "urn:emr-harness:certify", "value": self.identifier()}],
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": patient_ref}
        })
    }

    fn condition(&self, patient_ref: &str) -> Value {
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

    fn practitioner(&self) -> Value {
        json!({
            "resourceType": "Practitioner",
            "identifier": [{"system": "urn:emr-harness:certify", "value": self.identifier()}],
            "active": true,
            "name": [{"family": format!("Certify{}", self.tag), "given": [format!("Given{}", self.tag)]}],
            "gender": "female",
            "birthDate": "1970-01-01"
        })
    }

    fn organization(&self) -> Value {
        json!({
            "resourceType": "Organization",
            "identifier": [{"system": "urn:emr-harness:certify", "value": self.identifier()}],
            "active": true,
            "name": format!("Certify{} Clinic", self.tag)
        })
    }

    fn observation(&self, patient_ref: Option<&str>) -> Value {
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
fn search_values(t: &str, param: &str, f: &Fixture) -> Option<(String, String)> {
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

/// One HTTP answer, with its body parsed when it is JSON.
struct Answer {
    resp: HttpResponse,
    json: Option<Value>,
}

impl Answer {
    fn status(&self) -> u16 {
        self.resp.status
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.resp.header(name)
    }

    fn body(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.json.as_ref().unwrap_or(&NULL)
    }

    fn id(&self) -> String {
        self.body()
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

type Judged = (Verdict, String);

/// Why a check could not go on: an unexpected answer on the way to what it judges, or a broken
/// exchange. Converted into a verdict at the end of the check.
enum Stop {
    Error(String),
    Fail(String),
}

type Step<T> = Result<T, Stop>;

pub struct Ctx {
    client: FhirClient,
    run_tag: String,
    checks_run: usize,
    evidence: Vec<Exchange>,
    /// `Type/id` created by the current check, deleted when it ends.
    created: Vec<String>,
    /// Every resource body answered so far is validated (typed parse + round trip); off while a
    /// validation check sends invalid data on purpose.
    validate_answers: bool,
    answers_validated: usize,
    invalid_answers: Vec<String>,
}

impl Ctx {
    fn fixture(&mut self) -> Fixture {
        self.checks_run += 1;
        Fixture {
            tag: format!("{}{:03}", self.run_tag, self.checks_run),
        }
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Step<Answer> {
        let mut hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            hs.push(("Accept".into(), JSON_TYPE.into()));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            hs.push(("Content-Type".into(), JSON_TYPE.into()));
        }
        let req = HttpRequest {
            method: method.to_string(),
            url: self.client.url_for(path),
            headers: hs,
            body: body.map(|b| b.to_string().into_bytes()),
            ..HttpRequest::default()
        };
        let sent = render_request(&req);
        match self.client.send(&req).await {
            Err(e) => {
                let e = format!("{method} {path}: {e}");
                self.evidence.push(Exchange {
                    sent,
                    received: None,
                    error: Some(e.clone()),
                });
                Err(Stop::Error(e))
            }
            Ok(resp) => {
                let json: Option<Value> = serde_json::from_slice(&resp.body).ok();
                if let Some(body) = json.as_ref().filter(|_| self.validate_answers) {
                    if body.get("resourceType").is_some() {
                        self.answers_validated += 1;
                        if let Err(p) = validate_resource(body, None) {
                            self.invalid_answers.push(format!(
                                "{method} {path} ({}): {}",
                                resp.status,
                                p.join("; ")
                            ));
                        }
                    }
                }
                self.evidence.push(Exchange {
                    sent,
                    received: Some(render_response(&resp)),
                    error: None,
                });
                Ok(Answer { resp, json })
            }
        }
    }

    /// POSTs `resource` and remembers it for clean-up; fails the check unless the create succeeded.
    async fn create(&mut self, resource: &Value, headers: &[(&str, &str)]) -> Step<Answer> {
        let t = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let a = self.send("POST", &t, headers, Some(resource)).await?;
        if !(200..300).contains(&a.status()) {
            return Err(Stop::Fail(format!(
                "creating the test {t} answered {}{}",
                a.status(),
                outcome_text(a.body())
            )));
        }
        let id = match a.id() {
            id if !id.is_empty() => id,
            _ => location_id(a.header("location"), &t).unwrap_or_default(),
        };
        if id.is_empty() {
            return Err(Stop::Fail(format!(
                "creating the test {t} answered {} with neither a body id nor a Location",
                a.status()
            )));
        }
        self.created.push(format!("{t}/{id}"));
        Ok(a)
    }

    async fn created_id(&mut self, resource: &Value) -> Step<String> {
        self.create(resource, &[]).await?;
        Ok(self
            .created
            .last()
            .and_then(|r| r.split_once('/'))
            .map(|(_, id)| id.to_string())
            .unwrap_or_default())
    }

    /// Deletes what the check created, newest first (references before their targets).
    async fn clean_up(&mut self) -> Vec<String> {
        let mut leftovers = Vec::new();
        while let Some(r) = self.created.pop() {
            let req = HttpRequest {
                method: "DELETE".into(),
                url: self.client.url_for(&r),
                headers: vec![("Accept".into(), JSON_TYPE.into())],
                ..HttpRequest::default()
            };
            match self.client.send(&req).await {
                Ok(resp) if resp.status < 300 || resp.status == 404 || resp.status == 410 => {}
                Ok(resp) => leftovers.push(format!("{r} (DELETE answered {})", resp.status)),
                Err(e) => leftovers.push(format!("{r} ({e})")),
            }
        }
        leftovers
    }
}

fn render_request(req: &HttpRequest) -> String {
    let mut s = format!("{} {}\n", req.method, req.url);
    for (k, v) in &req.headers {
        let v = if k.eq_ignore_ascii_case("authorization") {
            "[secret]"
        } else {
            v
        };
        s.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(b) = &req.body {
        s.push('\n');
        s.push_str(&cut(&String::from_utf8_lossy(b)));
    }
    s
}

fn render_response(resp: &HttpResponse) -> String {
    let mut s = format!("{}\n", resp.status);
    for name in ["content-type", "location", "etag", "last-modified"] {
        if let Some(v) = resp.header(name) {
            s.push_str(&format!("{name}: {v}\n"));
        }
    }
    if !resp.body.is_empty() {
        s.push('\n');
        s.push_str(&cut(&String::from_utf8_lossy(&resp.body)));
    }
    s
}

fn cut(s: &str) -> String {
    if s.len() <= EVIDENCE_MAX {
        return s.to_string();
    }
    let mut end = EVIDENCE_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

/// `: diagnostics` of an OperationOutcome body, for reasons.
fn outcome_text(body: &Value) -> String {
    let text: Vec<&str> = body
        .get("issue")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("diagnostics").and_then(Value::as_str))
        .collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.join("; "))
    }
}

/// The id in a `Location` of `[base]/Type/id[/_history/vid]`.
fn location_id(location: Option<&str>, t: &str) -> Option<String> {
    let l = location?;
    let after = l.split(&format!("{t}/")).nth(1)?;
    Some(after.split('/').next()?.to_string())
}

fn version_of(a: &Answer) -> String {
    a.body()
        .pointer("/meta/versionId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn entries(bundle: &Value) -> Vec<&Value> {
    bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(|e| e.iter().collect())
        .unwrap_or_default()
}

fn entry_ids<'a>(bundle: &'a Value, t: &str) -> Vec<&'a str> {
    entries(bundle)
        .into_iter()
        .filter_map(|e| e.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some(t))
        .filter_map(|r| r.get("id").and_then(Value::as_str))
        .collect()
}

fn expect_status(a: &Answer, what: &str, ok: &[u16]) -> Step<()> {
    if ok.contains(&a.status()) {
        Ok(())
    } else {
        let want: Vec<String> = ok.iter().map(u16::to_string).collect();
        Err(Stop::Fail(format!(
            "{what} answered {}, expected {}{}",
            a.status(),
            want.join(" or "),
            outcome_text(a.body())
        )))
    }
}

fn valid(a: &Answer, t: &str, what: &str) -> Step<()> {
    validate_resource(a.body(), Some(t))
        .map_err(|p| Stop::Fail(format!("{what} is not a valid {t}: {}", p.join("; "))))
}

fn pass(reason: impl Into<String>) -> Step<Judged> {
    Ok((Verdict::Pass, reason.into()))
}

fn fail(reason: impl Into<String>) -> Step<Judged> {
    Ok((Verdict::Fail, reason.into()))
}

/// Runs the whole suite against the client's base URL.
pub async fn run(client: FhirClient) -> CertReport {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let mut report = CertReport::new("fhir", client.base().as_str(), started);
    let mut ctx = Ctx {
        client,
        run_tag: format!("{:06X}", rand::random::<u32>() & 0xFF_FFFF),
        checks_run: 0,
        evidence: Vec::new(),
        created: Vec::new(),
        validate_answers: true,
        answers_validated: 0,
        invalid_answers: Vec::new(),
    };
    let t = Instant::now();
    let metadata = ctx.send("GET", "metadata", &[], None).await;
    let (verdict, reason, cap) = judge_metadata(metadata);
    report.checks.push(CheckOutcome {
        id: "fhir.metadata".into(),
        area: "capabilities".into(),
        title: "GET [base]/metadata answers a valid R4 CapabilityStatement".into(),
        spec: format!("{HTTP}#capabilities"),
        verdict,
        reason,
        duration_ms: t.elapsed().as_secs_f64() * 1e3,
        evidence: std::mem::take(&mut ctx.evidence),
    });
    let Some(cap) = cap else {
        report.duration_ms = clock.elapsed().as_secs_f64() * 1e3;
        report.score();
        return report;
    };
    for planned in plan(&cap) {
        let t = Instant::now();
        let (verdict, reason) = match &planned.run {
            Err(why) => (Verdict::Skip, why.clone()),
            Ok(kind) => {
                ctx.validate_answers = planned.area != VALIDATION;
                let outcome = run_check(&mut ctx, kind).await;
                let leftovers = ctx.clean_up().await;
                let (v, mut r) = match outcome {
                    Ok(j) => j,
                    Err(Stop::Fail(r)) => (Verdict::Fail, r),
                    Err(Stop::Error(r)) => (Verdict::Error, r),
                };
                if !leftovers.is_empty() {
                    r.push_str(&format!(
                        " (could not delete the test data: {})",
                        leftovers.join(", ")
                    ));
                }
                (v, r)
            }
        };
        tracing::info!(check = %planned.id, verdict = verdict.as_str(), %reason);
        report.checks.push(CheckOutcome {
            id: planned.id,
            area: planned.area.into(),
            title: planned.title,
            spec: planned.spec,
            verdict,
            reason,
            duration_ms: t.elapsed().as_secs_f64() * 1e3,
            evidence: std::mem::take(&mut ctx.evidence),
        });
    }
    let (verdict, reason) = match (ctx.answers_validated, ctx.invalid_answers.len()) {
        (0, _) => (Verdict::Skip, "no resource was answered".to_string()),
        (n, 0) => (
            Verdict::Pass,
            format!("all {n} resource bodies answered were valid"),
        ),
        (n, k) => (
            Verdict::Fail,
            format!(
                "{k} of {n} resource bodies were invalid: {}",
                ctx.invalid_answers.join(" | ")
            ),
        ),
    };
    report.checks.push(CheckOutcome {
        id: "fhir.validation.answers".into(),
        area: VALIDATION.into(),
        title: "Every resource the server answered parses as FHIR R4 with no unknown elements"
            .into(),
        spec: "FHIR R4 json.html and the resource definitions (typed parse + round trip)".into(),
        verdict,
        reason,
        duration_ms: 0.0,
        evidence: Vec::new(),
    });
    report.duration_ms = clock.elapsed().as_secs_f64() * 1e3;
    report.score();
    report
}

fn judge_metadata(a: Step<Answer>) -> (Verdict, String, Option<Capability>) {
    let a = match a {
        Ok(a) => a,
        Err(Stop::Error(e)) | Err(Stop::Fail(e)) => return (Verdict::Error, e, None),
    };
    if a.status() != 200 {
        return (
            Verdict::Fail,
            format!("answered {}; every other check is skipped", a.status()),
            None,
        );
    }
    if let Err(p) = validate_resource(a.body(), Some("CapabilityStatement")) {
        let cap = parse_capability(a.body());
        let usable = !cap.types.is_empty();
        let reason = format!("not a valid CapabilityStatement: {}", p.join("; "));
        return (Verdict::Fail, reason, usable.then_some(cap));
    }
    let version = a
        .body()
        .get("fhirVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let cap = parse_capability(a.body());
    if !version.starts_with("4.0") {
        return (
            Verdict::Fail,
            format!("fhirVersion is {version:?}, not R4 (4.0.x)"),
            Some(cap),
        );
    }
    let untested = cap
        .types
        .keys()
        .filter(|t| !FIXTURE_TYPES.contains(&t.as_str()))
        .count();
    let reason = format!(
        "FHIR {version}, {} resource types ({untested} without built-in test data, not exercised), system interactions: {}",
        cap.types.len(),
        if cap.system.is_empty() {
            "none".to_string()
        } else {
            cap.system.join(", ")
        }
    );
    (Verdict::Pass, reason, Some(cap))
}

async fn run_check(ctx: &mut Ctx, kind: &Kind) -> Step<Judged> {
    let f = ctx.fixture();
    match kind {
        Kind::Create(t) => {
            let r = resource_for(ctx, t, &f).await?;
            let a = ctx.create(&r, &[]).await?;
            pass(format!("answered {}", a.status()))
        }
        Kind::Read(t) => {
            let r = resource_for(ctx, t, &f).await?;
            let id = ctx.created_id(&r).await?;
            let a = ctx.send("GET", &format!("{t}/{id}"), &[], None).await?;
            expect_status(&a, "the read", &[200])?;
            valid(&a, t, "the body")?;
            if a.id() != id {
                return fail(format!("the read returned id {:?}, not {id:?}", a.id()));
            }
            pass("200 with the resource, valid")
        }
        Kind::Vread(t) => {
            let r = resource_for(ctx, t, &f).await?;
            let created = ctx.create(&r, &[]).await?;
            let id = last_id(ctx);
            let vid = match version_of(&created) {
                v if !v.is_empty() => v,
                _ => "1".to_string(),
            };
            let a = ctx
                .send("GET", &format!("{t}/{id}/_history/{vid}"), &[], None)
                .await?;
            expect_status(&a, "the vread", &[200])?;
            valid(&a, t, "the body")?;
            if version_of(&a) != vid {
                return fail(format!(
                    "meta.versionId is {:?}, expected {vid:?}",
                    version_of(&a)
                ));
            }
            pass(format!("version {vid} returned"))
        }
        Kind::Update(t) => {
            let mut r = resource_for(ctx, t, &f).await?;
            let created = ctx.create(&r, &[]).await?;
            let id = last_id(ctx);
            let before = version_of(&created);
            r["id"] = json!(id);
            change(&mut r);
            let a = ctx.send("PUT", &format!("{t}/{id}"), &[], Some(&r)).await?;
            expect_status(&a, "the update", &[200])?;
            let read = ctx.send("GET", &format!("{t}/{id}"), &[], None).await?;
            expect_status(&read, "the read after the update", &[200])?;
            if !changed(read.body()) {
                return fail("the read after the update does not show the change");
            }
            let after = version_of(&read);
            if !before.is_empty() && after == before {
                return fail(format!("meta.versionId stayed {before:?} after the update"));
            }
            pass(format!("200; version {before} → {after}"))
        }
        Kind::Patch(t) => {
            let r = resource_for(ctx, t, &f).await?;
            let id = ctx.created_id(&r).await?;
            let (key, value) = edit(t);
            let ops = json!([{"op": "add", "path": format!("/{key}"), "value": value}]);
            let a = ctx
                .send(
                    "PATCH",
                    &format!("{t}/{id}"),
                    &[("Content-Type", "application/json-patch+json")],
                    Some(&ops),
                )
                .await?;
            expect_status(&a, "the patch", &[200])?;
            let read = ctx.send("GET", &format!("{t}/{id}"), &[], None).await?;
            if read.body().get(key) != Some(&value) {
                return fail(format!(
                    "after the patch {key} is {:?}",
                    read.body().get(key)
                ));
            }
            pass("200 and the change is visible")
        }
        Kind::Delete(t) => {
            let r = resource_for(ctx, t, &f).await?;
            let id = ctx.created_id(&r).await?;
            let a = ctx.send("DELETE", &format!("{t}/{id}"), &[], None).await?;
            expect_status(&a, "the delete", &[200, 202, 204])?;
            let read = ctx.send("GET", &format!("{t}/{id}"), &[], None).await?;
            match read.status() {
                410 => pass(format!("{} then 410 Gone on read", a.status())),
                404 => pass(format!(
                    "{} then 404 on read (allowed; 410 tells clients it was deleted)",
                    a.status()
                )),
                s => fail(format!(
                    "the read after the delete answered {s}, expected 410 (or 404)"
                )),
            }
        }
        Kind::HistoryInstance(t) => {
            let mut r = resource_for(ctx, t, &f).await?;
            let id = ctx.created_id(&r).await?;
            r["id"] = json!(id);
            change(&mut r);
            let u = ctx.send("PUT", &format!("{t}/{id}"), &[], Some(&r)).await?;
            expect_status(&u, "the update", &[200, 201])?;
            let h = ctx
                .send("GET", &format!("{t}/{id}/_history"), &[], None)
                .await?;
            expect_status(&h, "the history", &[200])?;
            let b = h.body();
            if b.get("type").and_then(Value::as_str) != Some("history") {
                return fail(format!(
                    "Bundle.type is {:?}, expected history",
                    b.get("type")
                ));
            }
            let n = entries(b).len();
            if n < 2 {
                return fail(format!(
                    "{n} entries after a create and an update, expected 2"
                ));
            }
            pass(format!("history Bundle with {n} versions"))
        }
        Kind::HistoryType(t) => {
            let r = resource_for(ctx, t, &f).await?;
            ctx.created_id(&r).await?;
            let h = ctx
                .send("GET", &format!("{t}/_history?_count=5"), &[], None)
                .await?;
            expect_status(&h, "the type history", &[200])?;
            let ty = h.body().get("type").and_then(Value::as_str);
            if ty != Some("history") {
                return fail(format!("Bundle.type is {ty:?}, expected history"));
            }
            if entries(h.body()).is_empty() {
                return fail("no entries right after a create");
            }
            pass("history Bundle with entries")
        }
        Kind::Search(t, param) => search_param(ctx, t, param, &f).await,
        Kind::Status201 => {
            let a = ctx.create(&f.patient(), &[]).await?;
            expect_status(&a, "the create", &[201])?;
            pass("201 Created")
        }
        Kind::Location => {
            let a = ctx.create(&f.patient(), &[]).await?;
            let id = last_id(ctx);
            match a.header("location") {
                None => fail("no Location header"),
                Some(l) if l.contains(&format!("Patient/{id}")) => pass(format!("Location: {l}")),
                Some(l) => fail(format!("Location {l:?} does not name Patient/{id}")),
            }
        }
        Kind::Etag => {
            let created = ctx.create(&f.patient(), &[]).await?;
            let id = last_id(ctx);
            let read = ctx.send("GET", &format!("Patient/{id}"), &[], None).await?;
            let mut changed_patient = f.patient();
            changed_patient["id"] = json!(id);
            change(&mut changed_patient);
            let update = ctx
                .send("PUT", &format!("Patient/{id}"), &[], Some(&changed_patient))
                .await?;
            let mut answers = vec![("create", &created), ("read", &read)];
            // An update the server does not offer is judged elsewhere; its ETag only when it worked.
            if (200..300).contains(&update.status()) {
                answers.push(("update", &update));
            }
            let mut wrong = Vec::new();
            for (what, a) in answers {
                let v = version_of(a);
                match a.header("etag") {
                    None => wrong.push(format!("no ETag on the {what}")),
                    Some(e) if !v.is_empty() && e != format!("W/\"{v}\"") => {
                        wrong.push(format!("the {what}'s ETag {e:?} is not W/\"{v}\""))
                    }
                    Some(_) => {}
                }
            }
            if wrong.is_empty() {
                pass("weak ETag with the versionId on create, read and update")
            } else {
                fail(wrong.join("; "))
            }
        }
        Kind::IfMatch => {
            let mut r = f.patient();
            let created = ctx.create(&r, &[]).await?;
            let id = last_id(ctx);
            let v = version_of(&created);
            let stale = format!("W/\"{}\"", v.parse::<u64>().unwrap_or(1) + 41);
            r["id"] = json!(id);
            change(&mut r);
            let a = ctx
                .send(
                    "PUT",
                    &format!("Patient/{id}"),
                    &[("If-Match", stale.as_str())],
                    Some(&r),
                )
                .await?;
            expect_status(&a, &format!("an update with If-Match {stale}"), &[412])?;
            pass("412 Precondition Failed")
        }
        Kind::ConditionalCreate => {
            ctx.created_id(&f.patient()).await?;
            let first = last_id(ctx);
            let cond = format!("identifier=urn:emr-harness:certify|{}", f.identifier());
            let a = ctx
                .send(
                    "POST",
                    "Patient",
                    &[("If-None-Exist", cond.as_str())],
                    Some(&f.patient()),
                )
                .await?;
            if a.status() == 201 {
                let extra = a.id();
                if !extra.is_empty() {
                    ctx.created.push(format!("Patient/{extra}"));
                }
                return fail("answered 201: a second Patient was created although one matched");
            }
            expect_status(&a, "the conditional create", &[200])?;
            let named = a.id();
            let loc = location_id(a.header("location"), "Patient").unwrap_or_default();
            if named != first && loc != first {
                return fail(format!(
                    "answered 200 but names {named:?}/{loc:?}, not the existing {first:?}"
                ));
            }
            pass("200 with the existing resource; nothing created")
        }
        Kind::NotFound => {
            let a = read_unknown(ctx, &f).await?;
            expect_status(&a, "a read of an unknown id", &[404])?;
            pass("404")
        }
        Kind::OperationOutcome => {
            let missing = read_unknown(ctx, &f).await?;
            let mut bad = f.patient();
            bad["birthDate"] = json!("not-a-date");
            let invalid = ctx.send("POST", "Patient", &[], Some(&bad)).await?;
            if (200..300).contains(&invalid.status()) {
                let id = invalid.id();
                if !id.is_empty() {
                    ctx.created.push(format!("Patient/{id}"));
                }
            }
            // A stale If-Match (412) and a read after delete (410), when the server has them.
            let id = ctx.created_id(&f.patient()).await?;
            let mut stale = f.patient();
            stale["id"] = json!(id);
            let conflict = ctx
                .send(
                    "PUT",
                    &format!("Patient/{id}"),
                    &[("If-Match", "W/\"999999\"")],
                    Some(&stale),
                )
                .await?;
            let deleted = ctx
                .send("DELETE", &format!("Patient/{id}"), &[], None)
                .await?;
            let gone = if (200..300).contains(&deleted.status()) {
                Some(ctx.send("GET", &format!("Patient/{id}"), &[], None).await?)
            } else {
                None
            };
            let mut answers = vec![
                ("the 404 read", &missing),
                ("the invalid create", &invalid),
                ("the stale If-Match update", &conflict),
            ];
            if let Some(g) = &gone {
                answers.push(("the read after delete", g));
            }
            let mut wrong = Vec::new();
            for (what, a) in &answers {
                if a.status() >= 400 && !is_operation_outcome(a.body()) {
                    wrong.push(format!(
                        "{what} ({}) has no OperationOutcome body",
                        a.status()
                    ));
                }
            }
            let errors = answers.iter().filter(|(_, a)| a.status() >= 400).count();
            if errors == 0 {
                return Err(Stop::Fail(
                    "neither request was answered with an error to look at".into(),
                ));
            }
            if wrong.is_empty() {
                pass(format!(
                    "{errors} error answer(s), each with an OperationOutcome"
                ))
            } else {
                fail(wrong.join("; "))
            }
        }
        Kind::AcceptJson => {
            let id = ctx.created_id(&f.patient()).await?;
            let a = ctx
                .send(
                    "GET",
                    &format!("Patient/{id}"),
                    &[("Accept", JSON_TYPE)],
                    None,
                )
                .await?;
            expect_status(&a, "the read", &[200])?;
            let ct = a.header("content-type").unwrap_or_default();
            if ct.starts_with(JSON_TYPE) && a.json.is_some() {
                pass(format!("Content-Type: {ct}"))
            } else {
                fail(format!("Content-Type {ct:?}"))
            }
        }
        Kind::FormatParam => {
            let id = ctx.created_id(&f.patient()).await?;
            let a = ctx
                .send(
                    "GET",
                    &format!("Patient/{id}?_format=json"),
                    &[("Accept", "*/*")],
                    None,
                )
                .await?;
            expect_status(&a, "the read", &[200])?;
            let ct = a.header("content-type").unwrap_or_default();
            if a.json.is_some() && ct.contains("json") {
                pass(format!("JSON, Content-Type: {ct}"))
            } else {
                fail(format!(
                    "Content-Type {ct:?}, body JSON: {}",
                    a.json.is_some()
                ))
            }
        }
        Kind::PreferMinimal => {
            let a = ctx
                .create(&f.patient(), &[("Prefer", "return=minimal")])
                .await?;
            if a.resp.body.iter().all(u8::is_ascii_whitespace) {
                pass(format!("{} with an empty body", a.status()))
            } else {
                fail(format!(
                    "{} with a {}-byte body",
                    a.status(),
                    a.resp.body.len()
                ))
            }
        }
        Kind::PreferRepresentation => {
            let a = ctx
                .create(&f.patient(), &[("Prefer", "return=representation")])
                .await?;
            valid(&a, "Patient", "the body")?;
            pass("the created Patient, valid")
        }
        Kind::Paging => {
            for _ in 0..3 {
                ctx.created_id(&f.patient()).await?;
            }
            let q = format!(
                "Patient?identifier=urn:emr-harness:certify|{}&_count=2",
                f.identifier()
            );
            let a = ctx.send("GET", &q, &[], None).await?;
            expect_status(&a, "the search", &[200])?;
            let first = entry_ids(a.body(), "Patient").len();
            if first > 2 {
                return fail(format!("_count=2 gave {first} entries"));
            }
            let Some(next) = link(a.body(), "next") else {
                return fail("3 matches, _count=2, and no next link");
            };
            let b = ctx.send("GET", &next, &[], None).await?;
            expect_status(&b, "the next page", &[200])?;
            let second = entry_ids(b.body(), "Patient").len();
            if first + second != 3 {
                return fail(format!("pages of {first} and {second}, expected 3 in all"));
            }
            pass(format!("pages of {first} and {second} via the next link"))
        }
        Kind::SummaryCount => {
            ctx.created_id(&f.patient()).await?;
            let q = format!(
                "Patient?identifier=urn:emr-harness:certify|{}&_summary=count",
                f.identifier()
            );
            let a = ctx.send("GET", &q, &[], None).await?;
            expect_status(&a, "the search", &[200])?;
            let total = a.body().get("total").and_then(Value::as_u64);
            let n = entries(a.body()).len();
            match total {
                Some(1) if n == 0 => pass("total 1, no entries"),
                _ => fail(format!(
                    "total {total:?} with {n} entries; expected total 1 and none"
                )),
            }
        }
        Kind::Elements => {
            ctx.created_id(&f.patient()).await?;
            let q = format!(
                "Patient?identifier=urn:emr-harness:certify|{}&_elements=identifier",
                f.identifier()
            );
            let a = ctx.send("GET", &q, &[], None).await?;
            expect_status(&a, "the search", &[200])?;
            let e = entries(a.body());
            let Some(r) = e.first().and_then(|e| e.get("resource")) else {
                return fail("no entry for the matching Patient");
            };
            let extra: Vec<&String> = r
                .as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| {
                            ![
                                "resourceType",
                                "id",
                                "meta",
                                "identifier",
                                "implicitRules",
                                "modifierExtension",
                            ]
                            .contains(&k.as_str())
                        })
                        .collect()
                })
                .unwrap_or_default();
            if r.get("identifier").is_none() {
                return fail("the element asked for (identifier) is missing");
            }
            if extra.is_empty() {
                pass("only identifier (and id, meta) returned")
            } else {
                fail(format!("elements not asked for were returned: {extra:?}"))
            }
        }
        Kind::SearchBundle => {
            let id = ctx.created_id(&f.patient()).await?;
            let q = format!(
                "Patient?identifier=urn:emr-harness:certify|{}",
                f.identifier()
            );
            let a = ctx.send("GET", &q, &[], None).await?;
            expect_status(&a, "the search", &[200])?;
            let b = a.body();
            let mut wrong = Vec::new();
            if b.get("type").and_then(Value::as_str) != Some("searchset") {
                wrong.push(format!("Bundle.type is {:?}", b.get("type")));
            }
            match b.get("total").and_then(Value::as_u64) {
                Some(1) => {}
                other => wrong.push(format!("Bundle.total is {other:?}, expected 1")),
            }
            let matches: Vec<&Value> = entries(b)
                .into_iter()
                .filter(|e| e.pointer("/resource/id").and_then(Value::as_str) == Some(id.as_str()))
                .collect();
            match matches.first() {
                None => wrong.push("the matching Patient is not in the entries".into()),
                Some(e) if e.pointer("/search/mode").and_then(Value::as_str) != Some("match") => {
                    wrong.push(format!(
                        "search.mode is {:?}, expected match",
                        e.pointer("/search/mode")
                    ))
                }
                Some(_) => {}
            }
            if wrong.is_empty() {
                pass("searchset, total 1, search.mode match")
            } else {
                fail(wrong.join("; "))
            }
        }
        Kind::Include | Kind::RevInclude => {
            let pid = ctx.created_id(&f.patient()).await?;
            let oid = ctx
                .created_id(&f.observation(Some(&format!("Patient/{pid}"))))
                .await?;
            let (query, t, id) = if matches!(kind, Kind::Include) {
                let q = format!("Observation?_id={oid}&_include=Observation:subject");
                (q, "Patient", pid)
            } else {
                let q = format!("Patient?_id={pid}&_revinclude=Observation:subject");
                (q, "Observation", oid)
            };
            let a = ctx.send("GET", &query, &[], None).await?;
            expect_status(&a, "the search", &[200])?;
            included(a.body(), t, &id)
        }
        Kind::Transaction | Kind::Batch => {
            let (ty, resp_ty) = if matches!(kind, Kind::Transaction) {
                ("transaction", "transaction-response")
            } else {
                ("batch", "batch-response")
            };
            let bundle = json!({
                "resourceType": "Bundle",
                "type": ty,
                "entry": [
                    {"fullUrl": "urn:uuid:6f7c0a3e-0000-4000-8000-000000000001", "resource": f.patient(), "request": {"method": "POST", "url": "Patient"}},
                    {"resource": f.observation(None), "request": {"method": "POST", "url": "Observation"}}
                ]
            });
            let a = ctx.send("POST", "", &[], Some(&bundle)).await?;
            for e in entries(a.body()) {
                if let Some(l) = e.pointer("/response/location").and_then(Value::as_str) {
                    for t in ["Patient", "Observation"] {
                        if let Some(id) = location_id(Some(l), t) {
                            ctx.created.push(format!("{t}/{id}"));
                        }
                    }
                }
            }
            expect_status(&a, &format!("the {ty}"), &[200])?;
            let b = a.body();
            if b.get("type").and_then(Value::as_str) != Some(resp_ty) {
                return fail(format!(
                    "Bundle.type is {:?}, expected {resp_ty}",
                    b.get("type")
                ));
            }
            let statuses: Vec<&str> = entries(b)
                .iter()
                .filter_map(|e| e.pointer("/response/status").and_then(Value::as_str))
                .collect();
            if statuses.len() != 2 || !statuses.iter().all(|s| s.starts_with("201")) {
                return fail(format!("entry statuses {statuses:?}, expected two 201"));
            }
            pass(format!("{resp_ty} with 201 for both entries"))
        }
        Kind::RejectsInvalid => {
            let mut bad = f.patient();
            bad["favouriteColour"] = json!("blue");
            rejected(ctx, &bad, "an unknown element (Patient.favouriteColour)").await
        }
        Kind::RequiredBinding => {
            let mut bad = f.patient();
            bad["gender"] = json!("banana");
            rejected(ctx, &bad, "Patient.gender = \"banana\"").await
        }
    }
}

/// A read of a Patient id that never existed.
async fn read_unknown(ctx: &mut Ctx, f: &Fixture) -> Step<Answer> {
    let path = format!("Patient/never-{}", f.tag.to_lowercase());
    ctx.send("GET", &path, &[], None).await
}

/// The test resource of type `t`; an Observation gets a Patient to point at.
async fn resource_for(ctx: &mut Ctx, t: &str, f: &Fixture) -> Step<Value> {
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

fn last_id(ctx: &Ctx) -> String {
    ctx.created
        .last()
        .and_then(|r| r.split_once('/'))
        .map(|(_, id)| id.to_string())
        .unwrap_or_default()
}

/// A visible change for an update: a Patient's name, an Observation's status.
/// A visible change for an update (see `edit`).
fn change(r: &mut Value) {
    let t = r["resourceType"].as_str().unwrap_or_default().to_string();
    let (key, value) = edit(&t);
    r[key] = value;
}

fn changed(r: &Value) -> bool {
    let (key, value) = edit(r["resourceType"].as_str().unwrap_or_default());
    r.get(key) == Some(&value)
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle
        .get("link")
        .and_then(Value::as_array)?
        .iter()
        .find(|l| l.get("relation").and_then(Value::as_str) == Some(relation))
        .and_then(|l| l.get("url").and_then(Value::as_str))
        .map(str::to_string)
}

fn included(bundle: &Value, t: &str, id: &str) -> Step<Judged> {
    let found = entries(bundle).into_iter().find(|e| {
        e.pointer("/resource/resourceType").and_then(Value::as_str) == Some(t)
            && e.pointer("/resource/id").and_then(Value::as_str) == Some(id)
    });
    match found {
        None => fail(format!("{t}/{id} is not in the Bundle")),
        Some(e) => match e.pointer("/search/mode").and_then(Value::as_str) {
            Some("include") => pass(format!("{t}/{id} included with search.mode include")),
            other => fail(format!(
                "{t}/{id} is there with search.mode {other:?}, expected include"
            )),
        },
    }
}

/// POSTs an invalid Patient: a 4xx with an OperationOutcome passes; a 2xx fails, and the stored
/// resource is read back and validated so the report says what the server kept.
async fn rejected(ctx: &mut Ctx, bad: &Value, what: &str) -> Step<Judged> {
    let a = ctx.send("POST", "Patient", &[], Some(bad)).await?;
    if (400..500).contains(&a.status()) {
        if is_operation_outcome(a.body()) {
            return pass(format!(
                "{} with an OperationOutcome{}",
                a.status(),
                outcome_text(a.body())
            ));
        }
        return pass(format!(
            "{} (without an OperationOutcome: fhir.errors.operation-outcome judges that)",
            a.status()
        ));
    }
    if (200..300).contains(&a.status()) {
        let id = match a.id() {
            id if !id.is_empty() => id,
            _ => location_id(a.header("location"), "Patient").unwrap_or_default(),
        };
        if !id.is_empty() {
            ctx.created.push(format!("Patient/{id}"));
        }
        let stored = match validate_resource(a.body(), Some("Patient")) {
            Err(p) => format!("; what it returned is invalid: {}", p.join("; ")),
            Ok(()) => String::new(),
        };
        return fail(format!("accepted {what} with {}{stored}", a.status()));
    }
    fail(format!(
        "answered {} to {what}, expected 400 or 422",
        a.status()
    ))
}

async fn search_param(ctx: &mut Ctx, t: &str, param: &str, f: &Fixture) -> Step<Judged> {
    let Some((hit, miss)) = search_values(t, param, f) else {
        return Err(Stop::Error(format!("no test value for {param}")));
    };
    let r = resource_for(ctx, t, f).await?;
    let id = ctx.created_id(&r).await?;
    let patient = ctx
        .created
        .iter()
        .find_map(|c| c.strip_prefix("Patient/"))
        .unwrap_or_default()
        .to_string();
    let fill = |v: String| v.replace("{id}", &id).replace("{patient}", &patient);
    let (hit, miss) = (fill(hit), fill(miss));
    let enc = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let query = |value: &str| {
        if param == "_id" {
            format!("{t}?_id={}", enc(value))
        } else {
            format!("{t}?_id={}&{param}={}", enc(&id), enc(value))
        }
    };
    let yes = ctx.send("GET", &query(&hit), &[], None).await?;
    expect_status(&yes, &format!("{param}={hit}"), &[200])?;
    let no = ctx.send("GET", &query(&miss), &[], None).await?;
    expect_status(&no, &format!("{param}={miss}"), &[200])?;
    let found = entry_ids(yes.body(), t).contains(&id.as_str());
    let wrongly = entry_ids(no.body(), t).contains(&id.as_str());
    match (found, wrongly) {
        (true, false) => pass(format!("{param}={hit} finds it; {param}={miss} does not")),
        (false, _) => fail(format!(
            "{param}={hit} does not find the resource that has it"
        )),
        (true, true) => fail(format!(
            "{param}={miss} also finds it: the parameter is ignored or matches too much"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_from_the_capability_statement() {
        let cs = json!({"resourceType": "CapabilityStatement", "rest": [{"mode": "server",
            "interaction": [{"code": "batch"}],
            "resource": [{"type": "Patient", "interaction": [{"code": "create"}, {"code": "read"}],
                "searchParam": [{"name": "_id"}, {"name": "gender"}, {"name": "weird"}]}]}]});
        let plan = plan(&parse_capability(&cs));
        let status = |id: &str| {
            plan.iter()
                .find(|p| p.id == id)
                .map(|p| p.run.clone().err().unwrap_or_else(|| "run".into()))
        };
        assert_eq!(status("fhir.Patient.read").as_deref(), Some("run"));
        assert_eq!(
            status("fhir.Patient.delete").as_deref(),
            Some("Patient does not declare `delete`")
        );
        assert_eq!(
            status("fhir.Patient.search.gender").as_deref(),
            Some("Patient does not declare `search-type`")
        );
        assert_eq!(
            status("fhir.Observation.read").as_deref(),
            Some("Observation is not in the CapabilityStatement")
        );
        assert_eq!(status("fhir.batch").as_deref(), Some("run"));
        assert_eq!(
            status("fhir.transaction").as_deref(),
            Some("the server does not declare `transaction`")
        );
    }

    #[test]
    fn location_ids() {
        assert_eq!(
            location_id(Some("http://x/fhir/Patient/abc/_history/2"), "Patient").as_deref(),
            Some("abc")
        );
        assert_eq!(
            location_id(Some("Patient/abc"), "Patient").as_deref(),
            Some("abc")
        );
        assert_eq!(location_id(Some("Observation/1"), "Patient"), None);
    }
}
