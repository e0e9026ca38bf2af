//! The command line from the outside: the standalone sandbox serves a separate `run`, Ctrl-C
//! leaves a valid partial report, `lint` and `--help` behave.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{harness, repo, workspace};

fn sigint(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn standalone_sandbox_serves_another_process() {
    let mut sandbox = common::spawn_sandbox();
    let (base, mllp) = (sandbox.base.clone(), sandbox.mllp.clone());

    let out = harness(
        &repo(),
        &[
            "run",
            "scenarios",
            "--target",
            &base,
            "--mllp",
            &mllp,
            "--quiet",
        ],
        &[("CI", "true")],
    );
    sigint(sandbox.child.id());
    let status = sandbox.child.wait().expect("wait");
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(status.code(), Some(0));
}

#[test]
fn ctrl_c_leaves_a_valid_partial_report() {
    let scenario = "name: slow\nsteps:\n  - name: one\n    fhir: {path: /metadata}\n  - name: two\n    fhir: {path: /metadata}\n  - name: three\n    fhir: {path: /metadata}\n";
    let ws = workspace(&[("slow.yaml", scenario)]);
    let child = Command::new(env!("CARGO_BIN_EXE_emr-harness"))
        .args([
            "run",
            "slow.yaml",
            "--fault-latency",
            "700ms",
            "--format",
            "json,junit",
            "--out-dir",
            "out",
        ])
        .current_dir(ws.path())
        .env("NO_COLOR", "1")
        .env_remove("CI")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    // Step one finishes at ~0.7 s; interrupt while step two is in flight.
    std::thread::sleep(Duration::from_millis(1000));
    sigint(child.id());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(ws.path().join("out/emr-harness-report.json"))
        .expect("report written");
    let report = emr_runner::report::json::from_str(&text).expect("valid JSON report");
    assert!(report.partial);
    let statuses: Vec<&str> = report.scenarios[0]
        .steps
        .iter()
        .map(|s| s.status.as_str())
        .collect();
    assert_eq!(statuses, vec!["passed", "skipped", "skipped"]);
    let xml = std::fs::read_to_string(ws.path().join("out/junit.xml")).expect("junit written");
    roxmltree::Document::parse(&xml).expect("valid JUnit XML");
    assert!(String::from_utf8_lossy(&out.stdout).contains("PARTIAL: interrupted"));
}

#[test]
fn lint_and_help() {
    let out = harness(&repo(), &["lint", "scenarios"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("9 scenario(s)"), "{}", out.stdout);
    let ws = workspace(&[("bad.yaml", "name: x\nsteps:\n  - name: a\n")]);
    let out = harness(ws.path(), &["lint", "bad.yaml"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("bad.yaml:3"), "{}", out.stderr);
    for sub in ["run", "review", "sandbox", "lint"] {
        let out = harness(&repo(), &[sub, "--help"], &[]);
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("Usage: emr-harness"), "{}", out.stdout);
    }
}
