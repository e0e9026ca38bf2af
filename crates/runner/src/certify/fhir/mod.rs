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

//!
//! The suite is split as it runs: `capability` reads what the server declares, `plan` decides the
//! checks, `fixtures` makes their data, `exchange` sends and records, and `checks` judges, one
//! function per kind of check.

mod capability;
mod checks;
mod exchange;
mod fixtures;
mod plan;

use std::time::Instant;

use serde_json::Value;

use super::{CertReport, CheckOutcome, Verdict};
use capability::{parse_capability, Capability};
use emr_transport::fhir::FhirClient;
use emr_validate::fhir::validate_resource;
use exchange::{Answer, Ctx, Step, Stop};
use fixtures::FIXTURE_TYPES;
use plan::{plan, VALIDATION};

const HTTP: &str = "FHIR R4 http.html";
const SEARCH: &str = "FHIR R4 search.html";
const JSON_TYPE: &str = "application/fhir+json";
/// Resource bodies longer than this are cut in the evidence.
const EVIDENCE_MAX: usize = 4000;

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
                let outcome = checks::run_check(&mut ctx, kind).await;
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

#[cfg(test)]
mod tests {
    use super::exchange::location_id;
    use super::*;
    use serde_json::json;

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
