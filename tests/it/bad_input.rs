//! Bad input gets a clear error naming file, line, step and field, exit code 2, and no panic;
//! a misbehaving server becomes failed steps while the run goes on.

use crate::common;

use common::{harness, workspace, Out};

fn run_file(name: &str, content: &str, extra: &[&str]) -> Out {
    let ws = workspace(&[(name, content)]);
    let mut args = vec!["run", name];
    args.extend_from_slice(extra);
    harness(ws.path(), &args, &[])
}

fn assert_usage_error(out: &Out) {
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(!out.all().contains("panicked"), "{}", out.all());
}

#[test]
fn yaml_syntax_error() {
    let out = run_file(
        "s.yaml",
        "name: x\nsteps:\n  - name: a\n    fhir: {path: /metadata\n  - name: b\n",
        &[],
    );
    assert_usage_error(&out);
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn unknown_step_field() {
    let out = run_file(
        "s.yaml",
        "name: x\nsteps:\n  - name: read it\n    fhir:\n      path: /metadata\n      heders: {Accept: x}\n",
        &[],
    );
    assert_usage_error(&out);
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn undefined_variable() {
    let out = run_file(
        "s.yaml",
        "name: x\nvars:\n  mrn: \"{{ fake.mrn }}\"\nsteps:\n  - name: search\n    fhir:\n      path: /Patient?identifier={{ mnr }}\n",
        &[],
    );
    assert_usage_error(&out);
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn every_problem_of_every_file_is_listed() {
    let ws = workspace(&[
        ("s/a.yaml", "name: a\nsteps:\n  - name: one\n    fhir: {method: FETCH, path: /x}\n    expect: {resource: Patinet}\n"),
        ("s/b.yaml", "name: b\nsteps: []\n"),
    ]);
    let out = harness(ws.path(), &["run", "s"], &[]);
    assert_usage_error(&out);
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn capture_that_matches_nothing() {
    let out = run_file(
        "s.yaml",
        "name: x\nsteps:\n  - name: create\n    fhir:\n      method: POST\n      path: /Patient\n      body: {resourceType: Patient}\n    capture:\n      mrn: \"$.identifier[0].value\"\n  - name: search\n    fhir: {path: \"/Patient?identifier={{ mrn }}\"}\n  - name: unrelated step still runs\n    fhir: {path: /metadata}\n    expect: {status: 200}\n",
        &["--format", "json", "--out-dir", "."],
    );
    assert_usage_error(&out);
    assert!(
        out.stdout.contains("s.yaml:3 step `create`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("(field `capture.mrn`): capture `mrn`: JSONPath `$.identifier[0].value` matched nothing in the body"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("needs `mrn`, which step `create` did not capture"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("1 passed, 0 failed, 1 error(s), 1 skipped"),
        "{}",
        out.stdout
    );
}

const READ: &str = "name: read\nsteps:\n  - name: metadata\n    fhir: {path: /metadata}\n    expect: {status: 200, resource: CapabilityStatement}\n  - name: search\n    fhir: {path: /Patient}\n    expect: {status: 200, jsonpath: {\"$.type\": searchset}}\n";

fn assert_all_steps_broken(out: &Out, needle: &str) {
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(!out.all().contains("panicked"), "{}", out.all());
    // Both steps ran (the run went on after the first broke) and the reason is reported.
    let broken =
        out.stdout.matches("FAIL s.yaml:").count() + out.stdout.matches("ERROR s.yaml:").count();
    assert_eq!(broken, 2, "{}", out.stdout);
    assert!(out.stdout.contains(needle), "{needle}:\n{}", out.stdout);
    assert!(out.stdout.contains("2 step(s): 0 passed"), "{}", out.stdout);
}

#[test]
fn invalid_json_response_fails_the_checks() {
    let out = run_file("s.yaml", READ, &["--fault-malformed-rate", "1"]);
    assert_all_steps_broken(&out, "the body is not JSON");
}

#[test]
fn wrong_content_type_fails_the_checks() {
    let out = run_file("s.yaml", READ, &["--fault-wrong-content-type-rate", "1"]);
    assert!(
        out.stdout.contains("wrong content type for FHIR JSON"),
        "{}",
        out.stdout
    );
    assert_all_steps_broken(&out, "not JSON");
}

#[test]
fn connection_reset_is_an_error_step() {
    let out = run_file("s.yaml", READ, &["--fault-drop-rate", "1"]);
    assert_all_steps_broken(&out, "Reset: connection closed or reset by the server");
}

#[test]
fn timeout_is_an_error_step() {
    let out = run_file(
        "s.yaml",
        READ,
        &["--fault-latency", "3s", "--timeout", "200ms"],
    );
    assert_all_steps_broken(&out, "Timeout: no response within 200ms");
}

#[test]
fn unreachable_target_exits_3() {
    // Port 9 (discard) on loopback: nothing listens there in a test environment.
    let out = run_file("s.yaml", READ, &["--target", "http://127.0.0.1:9/fhir"]);
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(
        out.stdout
            .contains("Connect: connection refused or unreachable"),
        "{}",
        out.stdout
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let ws = workspace(&[("s.yaml", READ)]);
    let out = harness(ws.path(), &["run", "s.yaml", "--var", "novalue"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    let out = harness(ws.path(), &["run", "missing-folder"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("missing-folder: cannot read"),
        "{}",
        out.stderr
    );
}
