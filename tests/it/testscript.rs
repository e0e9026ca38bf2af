//! `import testscript`: FHIR TestScripts written for these tests are converted, and the scenarios
//! they become are run against the sandbox (and SEKMET when it is up). A TestScript whose
//! expectation is wrong must fail when run: the mapping carries the asserts, not just the requests.

use crate::common;

use common::{harness, repo};

fn import(dir: &std::path::Path, name: &str) -> (common::Out, String) {
    let src = repo()
        .join("tests/fixtures/testscript")
        .join(format!("{name}.json"));
    let out_file = dir.join(format!("{name}.yaml"));
    let out = harness(
        dir,
        &[
            "import",
            "testscript",
            src.to_str().expect("path"),
            "--out",
            out_file.to_str().expect("path"),
        ],
        &[],
    );
    let yaml = std::fs::read_to_string(&out_file).unwrap_or_default();
    (out, yaml)
}

#[test]
fn imported_testscripts_run_against_the_sandbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["patient-crud", "autocreate"] {
        let (out, yaml) = import(dir.path(), name);
        assert_eq!(out.code, 0, "{}", out.all());
        assert!(out.stderr.contains("was mapped"), "{}", out.stderr);
        assert!(yaml.contains("fhirpath:"), "asserts became checks:\n{yaml}");
        let run = harness(dir.path(), &["run", &format!("{name}.yaml")], &[]);
        assert_eq!(run.code, 0, "{name}:\n{yaml}\n{}", run.all());
        assert!(run.stdout.contains("0 failed"), "{}", run.stdout);
    }
}

#[test]
fn a_wrong_expectation_fails_and_unmapped_parts_are_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, yaml) = import(dir.path(), "wrong-expectation");
    assert_eq!(out.code, 0, "{}", out.all());
    for part in ["validateProfileId", "compareToSourceId", "warningOnly"] {
        assert!(
            out.stderr.contains(part),
            "{part} not reported:\n{}",
            out.stderr
        );
        assert!(
            yaml.contains(&format!(": {part}")),
            "{part} not in the file's header"
        );
    }
    let run = harness(dir.path(), &["run", "wrong-expectation.yaml"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("expected 410, got 200"),
        "{}",
        run.stdout
    );
}

#[test]
fn not_a_testscript_is_a_usage_error() {
    let dir = common::workspace(&[
        ("p.json", r#"{"resourceType": "Patient"}"#),
        ("bad.json", "{ nope"),
    ]);
    let out = harness(dir.path(), &["import", "testscript", "p.json"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("not TestScript"), "{}", out.stderr);
    let out = harness(dir.path(), &["import", "testscript", "bad.json"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("bad.json: not JSON"), "{}", out.stderr);
}

#[test]
fn imported_testscript_runs_against_sekmet() {
    let Some((base, _turn)) = common::sekmet() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, _) = import(dir.path(), "patient-crud");
    assert_eq!(out.code, 0, "{}", out.all());
    let run = harness(
        dir.path(),
        &["run", "patient-crud.yaml", "--target", &base],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.all());
}
