//! Recording and importing: the HTTP proxy in front of SEKMET and the MLLP proxy in front of the
//! python-hl7 peer record a client's traffic, and the recordings replay (SEKMET freshly reset);
//! a killed proxy leaves a loadable recording; HAR and HL7 batch imports replay against the
//! sandbox; and scrubbing leaves no original name, birth date or identifier in any output.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{harness, repo, target_env};

/// Starts `emr-harness record ...` in `dir`; returns the child and its first stdout line.
fn proxy(dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_emr-harness"))
        .arg("record")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn proxy");
    let mut line = String::new();
    let out = child.stdout.as_mut().expect("stdout");
    BufReader::new(out)
        .read_line(&mut line)
        .expect("first line");
    (child, line)
}

/// A real client through the proxy: `emr-harness run` of an example scenario against `via`.
fn client_through(dir: &Path, scenario: &str, via: &str) -> common::Out {
    let path = repo().join("scenarios/fhir").join(scenario);
    let args = [
        "run",
        path.to_str().expect("path"),
        "--target",
        via,
        "--golden",
        "client-golden",
        "--update",
    ];
    harness(dir, &args, &[])
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// `http://127.0.0.1:PORT/fhir` (or `127.0.0.1:PORT`) out of the proxy's first line.
fn address(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}

#[test]
fn http_recording_through_the_proxy_replays_against_a_reset_sekmet() {
    let Some((sekmet, _turn)) = common::sekmet() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, line) = proxy(
        dir.path(),
        &[
            "http",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &sekmet,
            "-o",
            "recorded.yaml",
        ],
    );
    let via = address(&line);
    // A real client through the proxy: create → read → search → update (and more).
    let client = client_through(dir.path(), "patient-lifecycle.yaml", &via);
    assert_eq!(client.code, 0, "{}", client.all());
    signal(&child, "-INT");
    let status = child.wait().expect("wait");
    assert!(status.success(), "the proxy finishes cleanly on Ctrl-C");
    let yaml = std::fs::read_to_string(dir.path().join("recorded.yaml")).expect("recording");
    for needed in [
        "POST",
        "GET /Patient/[patient_id]",
        "PUT",
        "{{ patient_id }}",
        "capture:",
    ] {
        assert!(yaml.contains(needed), "{needed} missing:\n{yaml}");
    }
    let reset = Command::new("bash")
        .args([".ci/targets.sh", "reset"])
        .current_dir(repo())
        .status()
        .expect("reset");
    assert!(reset.success(), "SEKMET reset");
    let replay = harness(
        dir.path(),
        &["run", "recorded.yaml", "--target", &sekmet],
        &[("CI", "true")],
    );
    assert_eq!(replay.code, 0, "{yaml}\n{}", replay.all());
}

#[test]
fn mllp_recording_through_the_proxy_replays_against_the_peer() {
    let Some(peer) = target_env("EMR_HARNESS_HL7_PEER") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, line) = proxy(
        dir.path(),
        &[
            "mllp",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &peer,
            "-o",
            "v2.yaml",
            "--scrub",
        ],
    );
    let via = address(&line);
    std::fs::write(
        dir.path().join("send.yaml"),
        "name: send\nsteps:\n  - name: admit\n    hl7:\n      message: |\n        MSH|^~\\&|REG|HOSP|EMR|HOSP|20261126090000||ADT^A01^ADT_A01|R1|P|2.5.1\n        EVN|A01|20261126090000\n        PID|1||MRN-90210^^^HOSP^MR||EVERYMAN^ADAM||19610615|M\n        PV1|1|I\n  - name: update\n    hl7:\n      message: |\n        MSH|^~\\&|REG|HOSP|EMR|HOSP|20261126090500||ADT^A08^ADT_A01|R2|P|2.5.1\n        EVN|A08|20261126090500\n        PID|1||MRN-90210^^^HOSP^MR||EVERYMAN^ADAM^Q||19610615|M\n        PV1|1|I\n",
    )
    .expect("write");
    let client = harness(dir.path(), &["run", "send.yaml", "--mllp", &via], &[]);
    assert_eq!(client.code, 0, "{}", client.all());
    signal(&child, "-INT");
    assert!(child.wait().expect("wait").success());
    let replay = harness(
        dir.path(),
        &["run", "v2.yaml", "--mllp", &peer],
        &[("CI", "true")],
    );
    assert_eq!(replay.code, 0, "{}", replay.all());
    let mut texts = vec![std::fs::read_to_string(dir.path().join("v2.yaml")).expect("v2")];
    for e in std::fs::read_dir(dir.path().join("golden"))
        .expect("golden")
        .flatten()
    {
        texts.push(std::fs::read_to_string(e.path()).expect("snap"));
    }
    for t in &texts {
        for original in ["EVERYMAN", "ADAM", "MRN-90210", "19610615"] {
            assert!(!t.contains(original), "{original} was not scrubbed:\n{t}");
        }
    }
}

#[test]
fn a_killed_proxy_leaves_a_loadable_recording() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sb = rt
        .block_on(emr_sandbox::start(Default::default()))
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, line) = proxy(
        dir.path(),
        &[
            "http",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &sb.base_url,
            "-o",
            "r.yaml",
        ],
    );
    let via = address(&line);
    let client = client_through(dir.path(), "patient-search.yaml", &via);
    assert_eq!(client.code, 0, "{}", client.all());
    signal(&child, "-KILL");
    let _ = child.wait();
    let lint = harness(dir.path(), &["lint", "r.yaml"], &[]);
    assert_eq!(lint.code, 0, "{}", lint.all());
    assert!(lint.stdout.contains("1 scenario(s)"), "{}", lint.stdout);
    // Against a fresh sandbox (no --target): the recorded one holds the first run's data.
    let replay = harness(dir.path(), &["run", "r.yaml"], &[("CI", "true")]);
    assert_eq!(replay.code, 0, "{}", replay.all());
}

#[test]
fn imported_har_and_hl7_batch_replay_with_nothing_original_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = repo().join("tests/fixtures/import");
    let har = fixtures.join("patient-session.har");
    let batch = fixtures.join("adt-batch.hl7");
    for (kind, file, out) in [("har", &har, "har.yaml"), ("hl7", &batch, "batch.yaml")] {
        let o = harness(
            dir.path(),
            &["import", kind, file.to_str().expect("path"), "-o", out],
            &[],
        );
        assert_eq!(o.code, 0, "{}", o.all());
        assert!(o.stderr.contains("Scrubbed: names:"), "{}", o.stderr);
    }
    let replay = harness(
        dir.path(),
        &["run", "har.yaml", "batch.yaml"],
        &[("CI", "true")],
    );
    assert_eq!(replay.code, 0, "{}", replay.all());
    assert!(replay.stdout.contains("9 passed"), "{}", replay.stdout);
    let originals = [
        "Everyman",
        "Quincy",
        "1961-06-15",
        "MRN-48213",
        "555-867-5309",
        "Elm Street",
        "Greensboro",
        "27401",
        "Washington",
        "Martha",
        "19520114",
        "MRN-77120",
        "123-45-6789",
        "Evergreen",
        "Springfield",
        "62704",
        "555-0142",
        "dizziness",
        "Curie",
        // The HAR's Authorization header: credentials are never written.
        "devtools-captured-token",
    ];
    let mut files = Vec::new();
    collect(dir.path(), &mut files);
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f)
            .unwrap_or_default()
            .to_lowercase();
        for o in originals {
            assert!(
                !text.contains(&o.to_lowercase()),
                "{o} is in {}",
                f.display()
            );
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if e.path().is_dir() {
            collect(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}
