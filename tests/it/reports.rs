//! Report formats: the JUnit XML parses and counts right; the JSON round-trips through its types.

use crate::common;

use common::{harness, workspace};
use emr_core::report::{ErrorKind, Status};

const MIXED: &str = r#"name: mixed
steps:
  - name: passes
    fhir: { path: /metadata }
    expect: { status: 200 }
  - name: fails twice
    fhir: { path: /Patient/nope }
    expect:
      status: 200
      operation_outcome: forbidden
  - name: also passes
    fhir: { path: /Patient?_count=1 }
    expect: { status: 2xx, resource: Bundle }
"#;

const BROKEN: &str = r#"name: broken
steps:
  - name: times out
    fhir: { path: /metadata }
    expect: { status: 200 }
"#;

#[test]
fn junit_and_json_reports_count_right() {
    let ws = workspace(&[("s/mixed.yaml", MIXED)]);
    let out = harness(
        ws.path(),
        &["run", "s", "--format", "json,junit", "--out-dir", "out"],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.all());

    let xml = std::fs::read_to_string(ws.path().join("out/junit.xml")).expect("junit.xml");
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("3"));
    assert_eq!(root.attribute("failures"), Some("1"));
    assert_eq!(root.attribute("errors"), Some("0"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 3);
    let failed = cases
        .iter()
        .find(|c| c.attribute("name") == Some("fails twice"))
        .expect("failing case");
    let failure = failed
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("<failure>");
    assert!(failure
        .attribute("message")
        .unwrap_or("")
        .contains("expect.status: expected 200, got 404"));
    assert!(failed
        .attribute("classname")
        .unwrap_or("")
        .ends_with("mixed.yaml:6"));

    let text =
        std::fs::read_to_string(ws.path().join("out/emr-harness-report.json")).expect("json");
    let report =
        emr_runner::report::json::from_str(&text).expect("JSON parses into the schema types");
    let again = emr_runner::report::json::to_string(&report).expect("serialises");
    assert_eq!(
        emr_runner::report::json::from_str(&again).expect("reparses"),
        report
    );
    assert_eq!(report.schema, "emr-harness/report/v1");
    assert_eq!(
        (
            report.summary.steps,
            report.summary.passed,
            report.summary.failed
        ),
        (3, 2, 1)
    );
    let step = &report.scenarios[0].steps[1];
    assert_eq!(step.status, Status::Failed);
    assert_eq!(step.checks.iter().filter(|c| !c.passed).count(), 2);
}

#[test]
fn junit_marks_broken_exchanges_as_errors() {
    let ws = workspace(&[("broken.yaml", BROKEN)]);
    let out = harness(
        ws.path(),
        &[
            "run",
            "broken.yaml",
            "--fault-latency",
            "2s",
            "--timeout",
            "200ms",
            "--format",
            "junit,json",
            "--out-dir",
            ".",
        ],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let xml = std::fs::read_to_string(ws.path().join("junit.xml")).expect("junit.xml");
    let doc = roxmltree::Document::parse(&xml).expect("parses");
    assert_eq!(doc.root_element().attribute("errors"), Some("1"));
    let err = doc
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .expect("<error>");
    assert_eq!(err.attribute("type"), Some("timeout"));
    let report = emr_runner::report::json::from_str(
        &std::fs::read_to_string(ws.path().join("emr-harness-report.json")).expect("json"),
    )
    .expect("parses");
    assert_eq!(
        report.scenarios[0].steps[0].error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Timeout)
    );
}
