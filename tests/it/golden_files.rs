//! Golden files: a changed response fails with a readable diff and a `.snap.new`; review accepts
//! it; CI never writes; redaction makes two runs against fresh servers byte-identical.

use crate::common;

use common::{copy_dir, harness, repo, snaps, workspace};

const SCENARIO: &str = r#"name: golden demo
vars:
  family: "{{ fake.family }}"
steps:
  - name: create
    fhir:
      method: POST
      path: /Patient
      body: { resourceType: Patient, active: true, name: [{ family: "{{ family }}" }], gender: female }
    expect: { status: 201, snapshot: create }
    capture: { id: "$.id" }
  - name: read
    fhir: { path: "/Patient/{{ id }}" }
    expect: { status: 200, snapshot: read }
"#;

#[test]
fn changed_response_fails_with_diff_then_review_accepts_it() {
    let ws = workspace(&[("s.yaml", SCENARIO)]);
    let dir = ws.path();
    // First run: no golden files yet, so both snapshots are new and pending review.
    let out = harness(dir, &["run", "s.yaml"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout
            .contains("new snapshot in golden/golden-demo__create.snap.new"),
        "{}",
        out.stdout
    );
    let out = harness(dir, &["review", "--accept-all"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(dir.join("golden/golden-demo__read.snap").exists());
    assert_eq!(harness(dir, &["run", "s.yaml"], &[]).code, 0);

    // The server now answers differently (the scenario sends another gender): a readable diff.
    let changed = SCENARIO.replace("gender: female", "gender: male");
    std::fs::write(dir.join("s.yaml"), changed).expect("write");
    let golden_before =
        std::fs::read_to_string(dir.join("golden/golden-demo__create.snap")).expect("golden");
    let out = harness(dir, &["run", "s.yaml"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("-  \"gender\": \"female\","),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("+  \"gender\": \"male\","),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("snapshot differs; new version in golden/golden-demo__create.snap.new"),
        "{}",
        out.stdout
    );
    assert!(dir.join("golden/golden-demo__create.snap.new").exists());
    assert!(dir.join("golden/golden-demo__read.snap.new").exists());
    // The golden file itself is untouched until someone accepts.
    assert_eq!(
        std::fs::read_to_string(dir.join("golden/golden-demo__create.snap")).expect("golden"),
        golden_before
    );

    // Without a terminal, review lists what is pending and decides nothing.
    let out = harness(dir, &["review"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("2 pending snapshot(s)"),
        "{}",
        out.stdout
    );

    let out = harness(dir, &["review", "--accept-all"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!dir.join("golden/golden-demo__create.snap.new").exists());
    let out = harness(dir, &["run", "s.yaml"], &[]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn reject_all_keeps_the_golden_file() {
    let ws = workspace(&[("s.yaml", SCENARIO)]);
    let dir = ws.path();
    assert_eq!(harness(dir, &["run", "s.yaml", "--update"], &[]).code, 0);
    std::fs::write(
        dir.join("s.yaml"),
        SCENARIO.replace("active: true", "active: false"),
    )
    .expect("write");
    assert_eq!(harness(dir, &["run", "s.yaml"], &[]).code, 1);
    assert_eq!(harness(dir, &["review", "--reject-all"], &[]).code, 0);
    assert!(snaps(&dir.join("golden"))
        .iter()
        .all(|(name, _)| name.ends_with(".snap")));
    assert_eq!(
        harness(dir, &["run", "s.yaml"], &[]).code,
        1,
        "golden still holds the old answer"
    );
}

#[test]
fn ci_writes_nothing_and_fails_on_a_missing_golden() {
    let ws = workspace(&[("s.yaml", SCENARIO)]);
    let out = harness(ws.path(), &["run", "s.yaml"], &[("CI", "true")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("no golden file (CI: nothing written"),
        "{}",
        out.stdout
    );
    assert!(!ws.path().join("golden").exists());
    let out = harness(ws.path(), &["run", "s.yaml", "--update"], &[("CI", "true")]);
    assert_eq!(out.code, 2, "{}", out.all());
}

/// Every example's goldens, written twice from scratch against two fresh sandboxes with different
/// generated data, are byte-identical: redaction removes everything that varies.
#[test]
fn redaction_makes_fresh_runs_identical() {
    let ws = tempfile::tempdir().expect("tempdir");
    copy_dir(&repo().join("scenarios"), &ws.path().join("scenarios"));
    for (golden, seed) in [("g1", "1"), ("g2", "2")] {
        let out = harness(
            ws.path(),
            &[
                "run",
                "scenarios",
                "--update",
                "--golden",
                golden,
                "--seed",
                seed,
            ],
            &[],
        );
        assert_eq!(out.code, 0, "{}", out.all());
    }
    let (a, b) = (snaps(&ws.path().join("g1")), snaps(&ws.path().join("g2")));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    // ... and identical to the committed goldens.
    assert_eq!(a, snaps(&repo().join("golden")));
}
