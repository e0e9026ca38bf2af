//! The example scenarios, replayed by the real binary against real servers: the embedded sandbox
//! (always) and the third-party SEKMET FHIR server (when `.ci/run` started it).

use crate::common;

use common::{harness, repo};
use emr_core::report::{RunReport, Status};

fn count_steps(folder: &str) -> usize {
    let scenarios = emr_core::scenario::load_paths(&[repo().join(folder)], &Default::default())
        .expect("example scenarios load");
    scenarios.iter().map(|s| s.steps.len()).sum()
}

fn run_examples(folder: &str, extra: &[&str]) -> (common::Out, RunReport) {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out_path = out_dir.path().to_string_lossy().into_owned();
    let mut args = vec!["run", folder, "--format", "json", "--out-dir", &out_path];
    args.extend_from_slice(extra);
    // CI=true: compare with the committed goldens and write nothing into the repository.
    let out = harness(&repo(), &args, &[("CI", "true")]);
    let text = std::fs::read_to_string(out_dir.path().join("emr-harness-report.json"))
        .unwrap_or_else(|e| panic!("no JSON report ({e}); output:\n{}", out.all()));
    let report = emr_runner::report::json::from_str(&text).expect("report parses");
    (out, report)
}

#[test]
fn examples_pass_against_the_embedded_sandbox() {
    let (out, report) = run_examples("scenarios", &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(report.summary.steps, count_steps("scenarios"));
    assert_eq!(report.summary.passed, report.summary.steps);
    assert!(report.scenarios.iter().all(|s| s.status == Status::Passed));
    // Every snapshot check ran and matched its golden file.
    let snapshots = report
        .scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|st| &st.checks)
        .filter(|c| c.kind == "snapshot")
        .count();
    assert_eq!(snapshots, common::snaps(&repo().join("golden")).len());
    assert!(out.stdout.contains("passed, 0 failed"), "{}", out.stdout);
}

/// SEKMET passes every example check; its answers differ from the sandbox's in legitimate ways
/// (its own OperationOutcome wording, a default page size of 20, absolute `location` in
/// transaction responses), so it has its own golden set in golden/sekmet.
#[test]
fn examples_pass_against_sekmet() {
    let Some((url, _turn)) = common::sekmet() else {
        return;
    };
    let (out, report) = run_examples(
        "scenarios/fhir",
        &["--target", &url, "--golden", "golden/sekmet"],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(report.summary.passed, count_steps("scenarios/fhir"));
    assert_eq!(
        report.target.trim_end_matches('/'),
        url.trim_end_matches('/')
    );
}
