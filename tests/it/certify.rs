//! `certify hl7` against real MLLP endpoints: the sandbox listener (every rule kept), the sandbox
//! told to break one rule (exactly that check fails), and the python-hl7 peer (which answers AA to
//! everything: its known behaviour is judged as such).

use crate::common;

use common::{harness, read_json, target_env};
use emr_runner::certify::{CertReport, Verdict};
use emr_sandbox::fault::Rule;
use emr_sandbox::{self as sandbox, Faults, SandboxConfig};
use emr_transport::mllp::MllpConfig;

fn verdicts(r: &CertReport) -> Vec<(&str, Verdict)> {
    r.checks
        .iter()
        .map(|c| (c.id.as_str(), c.verdict))
        .collect()
}

async fn certify_sandbox(faults: Faults) -> CertReport {
    let sb = sandbox::start(SandboxConfig {
        faults,
        ..Default::default()
    })
    .await
    .expect("sandbox");
    let addr = sb.mllp_addr.expect("listener").to_string();
    let report = emr_runner::certify::hl7::run(MllpConfig::new(addr)).await;
    sb.stop().await;
    report
}

#[tokio::test]
async fn sandbox_keeps_every_hl7_rule() {
    let r = certify_sandbox(Faults::default()).await;
    let failed: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| format!("{}: {:?} {}", c.id, c.verdict, c.reason))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(r.checks.len() >= 12, "{}", r.checks.len());
    assert_eq!(r.areas.last().map(|a| a.score), Some(100.0));
    for c in &r.checks {
        assert!(c.spec.contains("HL7"), "{} cites no standard", c.id);
        assert!(!c.evidence.is_empty(), "{} kept no evidence", c.id);
    }
}

#[tokio::test]
async fn an_ack_that_names_another_message_fails_every_check_that_sent_one() {
    // Every ACK is matched to its message by MSA-2, in every check: a peer whose MSA-2 is wrong
    // fails them all, not only the check that is about MSA-2.
    let r = certify_sandbox(Faults {
        broken: vec![Rule::WrongMsa2],
        ..Default::default()
    })
    .await;
    let passed: Vec<_> = verdicts(&r)
        .into_iter()
        .filter(|(_, v)| *v == Verdict::Pass)
        .collect();
    assert!(passed.is_empty(), "{passed:?}");
    let msa2 = r
        .checks
        .iter()
        .find(|c| c.id == "hl7.original.msa2")
        .expect("msa2 check");
    assert!(msa2.reason.contains("-WRONG"), "{}", msa2.reason);
}

#[tokio::test]
async fn a_peer_answering_with_stale_acks_fails_certify() {
    // The right code for the wrong message: each message after the first on a connection gets
    // the ACK of the one before. Judging MSA-1 alone, this passed the many-messages check.
    let r = certify_sandbox(Faults {
        broken: vec![Rule::StaleAck],
        ..Default::default()
    })
    .await;
    let v: std::collections::BTreeMap<&str, Verdict> = verdicts(&r).into_iter().collect();
    assert_eq!(v.get("hl7.mllp.many"), Some(&Verdict::Fail), "{v:?}");
    let many = r
        .checks
        .iter()
        .find(|c| c.id == "hl7.mllp.many")
        .expect("many");
    assert!(
        many.reason.contains("answers another message"),
        "{}",
        many.reason
    );
    // Checks that send one message per connection (or one message twice: the duplicate check)
    // see no difference.
    assert_eq!(v.get("hl7.original.accept"), Some(&Verdict::Pass), "{v:?}");
}

#[tokio::test]
async fn python_hl7_peer_is_judged_for_what_it_does() {
    let Some(addr) = target_env("EMR_HARNESS_HL7_PEER") else {
        return;
    };
    let r = emr_runner::certify::hl7::run(MllpConfig::new(addr)).await;
    let v = verdicts(&r);
    // The peer ACKs every message AA with MSA-2 = MSH-10 (python-hl7's create_ack), so the
    // transport and the positive path pass, and every rule about saying no fails.
    let expected = [
        ("hl7.original.accept", Verdict::Pass),
        ("hl7.original.msa2", Verdict::Pass),
        ("hl7.original.ack-header", Verdict::Pass),
        ("hl7.original.error", Verdict::Fail),
        ("hl7.original.unsupported-type", Verdict::Fail),
        ("hl7.original.version", Verdict::Fail),
        ("hl7.original.processing-id", Verdict::Fail),
        ("hl7.original.duplicate", Verdict::Pass),
        ("hl7.enhanced.commit", Verdict::Fail),
        ("hl7.enhanced.reject", Verdict::Fail),
        ("hl7.mllp.split", Verdict::Pass),
        ("hl7.mllp.many", Verdict::Pass),
    ];
    assert_eq!(v, expected);
    let unsupported = r
        .checks
        .iter()
        .find(|c| c.id == "hl7.original.unsupported-type")
        .expect("check");
    assert!(
        unsupported.reason.contains("\"AA\"") && unsupported.reason.contains("expected AR"),
        "{}",
        unsupported.reason
    );
}

#[test]
fn cli_writes_json_junit_and_html_and_exits_by_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = harness(
        dir.path(),
        &[
            "certify",
            "hl7",
            "--format",
            "json,junit,html",
            "--out-dir",
            "out",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("overall"), "{}", out.stdout);
    let report: CertReport = read_json(&dir.path().join("out/certify-hl7.json"));
    assert_eq!(report.schema, "emr-harness/certify/v1");
    let xml = std::fs::read_to_string(dir.path().join("out/certify-hl7-junit.xml")).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("junit parses");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, report.checks.len());
    let html = std::fs::read_to_string(dir.path().join("out/certify-hl7.html")).expect("html");
    for c in &report.checks {
        assert!(html.contains(&c.id), "{} missing from the HTML", c.id);
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );

    let broken = harness(
        dir.path(),
        &["certify", "hl7", "--fault-break", "wrong-msa2"],
        &[],
    );
    assert_eq!(broken.code, 1, "{}", broken.all());
    assert!(broken.stdout.contains("FAIL"), "{}", broken.stdout);
}

#[test]
fn unreachable_endpoint_is_an_error_not_a_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{port}");
    let out = harness(
        dir.path(),
        &["certify", "hl7", "--mllp", &addr, "--timeout", "2s"],
        &[],
    );
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(out.stdout.contains("ERROR"), "{}", out.stdout);
}

// ---------------------------------------------------------------- certify fhir

async fn certify_fhir_sandbox(faults: Faults) -> (CertReport, Vec<serde_json::Value>) {
    let sb = sandbox::start(SandboxConfig {
        faults,
        ..Default::default()
    })
    .await
    .expect("sandbox");
    let base = url::Url::parse(&sb.base_url).expect("url");
    let client = emr_transport::fhir::FhirClient::new(base, std::time::Duration::from_secs(10))
        .expect("client");
    let report = emr_runner::certify::fhir::run(client.clone()).await;
    // A fresh sandbox holds only what the suite made, so any live resource was left behind.
    let mut left = Vec::new();
    for t in [
        "Patient",
        "Observation",
        "Encounter",
        "Condition",
        "Practitioner",
        "Organization",
    ] {
        let req = emr_core::HttpRequest {
            method: "GET".into(),
            url: client.url_for(t),
            ..Default::default()
        };
        let resp = client.send(&req).await.expect("search");
        let bundle: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
        left.extend(bundle["entry"].as_array().cloned().unwrap_or_default());
    }
    sb.stop().await;
    (report, left)
}

#[tokio::test]
async fn sandbox_passes_every_declared_fhir_check_and_leaves_nothing_behind() {
    let (r, left) = certify_fhir_sandbox(Faults::default()).await;
    let bad: Vec<_> = r
        .checks
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skip))
        .map(|c| format!("{}: {:?} {}", c.id, c.verdict, c.reason))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let passed = r
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Pass)
        .count();
    assert!(passed >= 45, "only {passed} checks passed");
    for c in &r.checks {
        assert!(c.spec.contains("FHIR R4"), "{} cites no section", c.id);
        if c.verdict == Verdict::Skip {
            assert!(!c.reason.is_empty(), "{} skipped without a reason", c.id);
        }
    }
    assert!(left.is_empty(), "test data left behind: {left:#?}");
}

#[tokio::test]
async fn each_broken_fhir_rule_fails_exactly_its_check() {
    for (rule, check) in [
        (Rule::NoEtag, "fhir.etag"),
        (Rule::Create200, "fhir.create.201"),
        (Rule::NoOperationOutcome, "fhir.errors.operation-outcome"),
    ] {
        let (r, _) = certify_fhir_sandbox(Faults {
            broken: vec![rule],
            ..Default::default()
        })
        .await;
        let not_ok: Vec<_> = verdicts(&r)
            .into_iter()
            .filter(|(_, v)| !matches!(v, Verdict::Pass | Verdict::Skip))
            .collect();
        assert_eq!(not_ok, vec![(check, Verdict::Fail)], "{rule:?}");
    }
}

#[tokio::test]
// The guard orders this test against the others that use SEKMET; on this current-thread
// runtime nothing else waits for it.
#[allow(clippy::await_holding_lock)]
async fn sekmet_known_behaviours_are_judged_correctly() {
    let Some((base, _turn)) = common::sekmet() else {
        return;
    };
    let client = emr_transport::fhir::FhirClient::new(
        url::Url::parse(&base).expect("url"),
        std::time::Duration::from_secs(30),
    )
    .expect("client");
    let r = emr_runner::certify::fhir::run(client.clone()).await;
    let get = |id: &str| {
        r.checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id}"))
    };
    // SEKMET-NOTES.md: 410 after delete, 201 + Location + ETag on create, 412 on a stale
    // If-Match, 404 + OperationOutcome, and `gender: "banana"` accepted with 201.
    let delete = get("fhir.Patient.delete");
    assert_eq!(delete.verdict, Verdict::Pass, "{}", delete.reason);
    assert!(delete.reason.contains("410"), "{}", delete.reason);
    for id in [
        "fhir.metadata",
        "fhir.create.201",
        "fhir.create.location",
        "fhir.etag",
        "fhir.update.if-match",
        "fhir.read.404",
        "fhir.errors.operation-outcome",
        "fhir.create.if-none-exist",
        "fhir.prefer.minimal",
        "fhir.search.paging",
        "fhir.transaction",
        "fhir.validation.rejects-invalid",
    ] {
        let c = get(id);
        assert_eq!(c.verdict, Verdict::Pass, "{id}: {}", c.reason);
    }
    let binding = get("fhir.validation.required-binding");
    assert_eq!(binding.verdict, Verdict::Fail, "{}", binding.reason);
    assert!(binding.reason.contains("banana"), "{}", binding.reason);
    // Nothing left behind: no resource carries the suite's identifier system.
    let req = emr_core::HttpRequest {
        method: "GET".into(),
        url: client.url_for("Patient?identifier=urn:emr-harness:certify|&_summary=count"),
        ..Default::default()
    };
    let resp = client.send(&req).await.expect("search");
    let total: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
    assert_eq!(total["total"], 0, "test data left on SEKMET: {total}");
}
