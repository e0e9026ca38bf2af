//! The plan: which checks to run, from what the CapabilityStatement declares; what is not declared
//! is planned as a skip with that reason, so the report shows it.

use super::capability::Capability;
use super::fixtures::{search_values, Fixture, FIXTURE_TYPES};
use super::{HTTP, SEARCH};

/// The checks, planned from the CapabilityStatement.
#[derive(Debug, Clone)]
pub(super) enum Kind {
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

pub(super) struct Planned {
    pub(super) id: String,
    pub(super) area: &'static str,
    pub(super) title: String,
    pub(super) spec: String,
    /// `Err(reason)`: skipped without sending anything.
    pub(super) run: Result<Kind, String>,
}

pub(super) const INTERACTIONS: &str = "interactions";
pub(super) const SEARCH_AREA: &str = "search parameters";
pub(super) const RULES: &str = "general rules";
pub(super) const SEARCH_RULES: &str = "search rules";
pub(super) const VALIDATION: &str = "validation";

/// interaction, title (`{t}` = the type), anchor in http.html, the check.
pub(super) type PerType = (&'static str, &'static str, &'static str, fn(String) -> Kind);
/// id, area, title, spec, the check or why it is skipped.
pub(super) type RuleRow = (
    &'static str,
    &'static str,
    &'static str,
    String,
    Result<Kind, String>,
);

pub(super) fn plan(cap: &Capability) -> Vec<Planned> {
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
