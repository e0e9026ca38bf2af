//! Load runs over real sockets: rate accuracy, SLO verdicts, error kinds, exact merges across
//! worker processes, Ctrl-C, a target dying mid-run, and the remote-target guard.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{harness, target_env, workspace, Out};
use emr_runner::load::report::LoadReport;

const READ: &str = "name: read metadata\nsteps:\n  - name: metadata\n    fhir: {path: /metadata}\n    expect: {status: 200}\n";

fn profile(extra: &str) -> String {
    format!("name: test\nscenarios: [{{path: read.yaml}}]\n{extra}")
}

fn run_load(profile_text: &str, args: &[&str]) -> (Out, Option<LoadReport>, tempfile::TempDir) {
    let ws = workspace(&[("read.yaml", READ), ("p.yaml", profile_text)]);
    let mut all = vec![
        "load",
        "p.yaml",
        "--format",
        "json,junit",
        "--out-dir",
        "out",
        "--quiet",
    ];
    all.extend_from_slice(args);
    let out = harness(ws.path(), &all, &[]);
    let report = std::fs::read_to_string(ws.path().join("out/load-report.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).expect("load report parses"));
    (out, report, ws)
}

#[test]
fn open_model_hits_the_rate_and_counts_every_request() {
    let (out, report, _ws) = run_load(&profile("rate: 50\nduration: 3s\n"), &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let r = report.expect("report");
    // 50/s for 3 s: 150 iterations, within 5%.
    assert!(
        (143..=157).contains(&r.iterations),
        "iterations {}",
        r.iterations
    );
    assert_eq!(
        r.requests, r.iterations,
        "one step per iteration, every one counted"
    );
    assert_eq!(r.steps[0].latency.count, r.requests);
    assert_eq!(r.errors, 0);
    assert_eq!(r.series.iter().map(|s| s.requests).sum::<u64>(), r.requests);
}

#[test]
fn impossible_slo_exits_1_and_names_the_breach() {
    let (out, report, ws) = run_load(&profile("rate: 20\nduration: 1s\nslo:\n  - {metric: p99, below: 1us}\n  - {metric: error_rate, below: 5%}\n"), &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    let r = report.expect("report");
    assert!(!r.slos[0].passed && r.slos[1].passed);
    assert_eq!(r.slos[0].name, "p99 of all steps < 1us");
    let xml = std::fs::read_to_string(ws.path().join("out/load-junit.xml")).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("parses");
    assert_eq!(doc.root_element().attribute("tests"), Some("2"));
    assert_eq!(doc.root_element().attribute("failures"), Some("1"));
    let out = harness(ws.path(), &["load", "p.yaml", "--out-dir", "out2"], &[]);
    assert!(
        out.stdout.contains("SLO FAIL p99 of all steps < 1us"),
        "{}",
        out.stdout
    );
}

#[test]
fn transport_slos_judge_only_their_transport() {
    let (out, report, _ws) = run_load(
        &profile("rate: 20\nduration: 1s\nslo:\n  - {transport: fhir, metric: p99, below: 10s}\n  - {transport: fhir, metric: p99, below: 1us}\n  - {transport: hl7, metric: error_rate, below: 1%}\n  - {transport: hl7, metric: p99, below: 10s}\n"),
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let r = report.expect("report");
    let verdicts: Vec<(&str, bool)> = r.slos.iter().map(|s| (s.name.as_str(), s.passed)).collect();
    assert_eq!(
        verdicts,
        [
            ("p99 of all fhir steps < 10s", true),
            ("p99 of all fhir steps < 1us", false),
            ("error_rate of all hl7 steps < 1%", true),
            ("p99 of all hl7 steps < 10s", false),
        ]
    );
    assert_eq!(r.slos[3].actual, "no requests for `all hl7 steps`");
}

#[test]
fn injected_errors_are_counted_by_kind() {
    let (out, report, _ws) = run_load(
        &profile("rate: 40\nduration: 2s\n"),
        &["--fault-error-rate", "0.5"],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let r = report.expect("report");
    let http5 = r.errors_by_kind.get("http_5xx").copied().unwrap_or(0);
    assert_eq!(http5, r.errors, "{:?}", r.errors_by_kind);
    assert!(
        r.error_rate > 0.3 && r.error_rate < 0.7,
        "error rate {}",
        r.error_rate
    );
}

#[test]
fn closed_model_runs_users_with_think_time() {
    let (out, report, _ws) = run_load(
        &profile("model: closed\nusers: 2\nthink_time: 100ms\nduration: 1s\n"),
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let r = report.expect("report");
    // Two users, each at most ~10 iterations a second with 100 ms think time.
    assert!(
        (8..=22).contains(&r.iterations),
        "iterations {}",
        r.iterations
    );
    assert_eq!(r.model, "closed");
}

#[test]
fn closed_model_stops_at_the_iteration_cap() {
    let started = Instant::now();
    let (out, report, _ws) = run_load(
        &profile("model: closed\nusers: 3\nduration: 20s\nmax_iterations: 25\n"),
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let r = report.expect("report");
    assert_eq!(r.iterations, 25, "goose users stop at the cap");
    assert!(!r.partial, "reaching the cap is a normal end");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the cap, not the 20 s duration, ended the run"
    );
}

#[test]
fn closed_model_needs_whole_seconds() {
    let (out, _, _ws) = run_load(&profile("model: closed\nusers: 1\nduration: 500ms\n"), &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.all().contains("whole seconds"), "{}", out.all());
}

#[test]
fn merge_of_three_workers_equals_the_histogram_of_all_samples() {
    let ws = workspace(&[
        ("read.yaml", READ),
        ("p.yaml", &profile("rate: 60\nduration: 2s\n")),
    ]);
    let children: Vec<_> = (0..3)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_emr-harness"))
                .args([
                    "load",
                    "p.yaml",
                    "--worker-count",
                    "3",
                    "--worker-index",
                    &i.to_string(),
                    "--format",
                    "json",
                    "--out-dir",
                    "out",
                    "--quiet",
                ])
                .current_dir(ws.path())
                .env_remove("CI")
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let mut total = 0;
    let mut expected = emr_runner::load::metrics::new_histogram();
    let mut logs = Vec::new();
    for i in 0..3 {
        let r: LoadReport =
            common::read_json(&ws.path().join(format!("out/load-report-worker{i}.json")));
        total += r.requests;
        let log = ws.path().join(format!("out/load-worker{i}.hlog"));
        let text = std::fs::read_to_string(&log).expect("log");
        let one = emr_runner::load::report::merge_logs(&[text]).expect("log parses");
        expected
            .add(&one[emr_runner::load::report::ALL])
            .expect("add");
        logs.push(log.to_string_lossy().into_owned());
    }
    // Each worker took a third of the rate.
    assert!((114..=126).contains(&total), "total {total}");
    let mut args = vec!["report", "merge"];
    args.extend(logs.iter().map(String::as_str));
    args.extend(["--format", "json", "--out-dir", "merged"]);
    let out = harness(ws.path(), &args, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let merged: serde_json::Value = common::read_json(&ws.path().join("merged/merged-report.json"));
    let overall = &merged["overall"];
    assert_eq!(overall["count"].as_u64(), Some(total));
    assert_eq!(overall["count"].as_u64(), Some(expected.len()));
    for (field, q) in [("p50_ms", 0.5), ("p99_ms", 0.99), ("p999_ms", 0.999)] {
        assert_eq!(
            overall[field].as_f64(),
            Some(expected.value_at_quantile(q) as f64 / 1000.0),
            "{field}"
        );
    }
    assert_eq!(
        overall["max_ms"].as_f64(),
        Some(expected.max() as f64 / 1000.0)
    );
}

#[test]
fn ctrl_c_writes_a_partial_report() {
    ctrl_c_mid_run(&[]);
}

/// `-j 1` runs the load and the embedded sandbox on a current-thread runtime: both models, the
/// cap and Ctrl-C must behave as on the multi-thread one.
#[test]
fn one_thread_runs_both_models_and_stops_on_ctrl_c() {
    let (out, report, _ws) = run_load(&profile("rate: 50\nduration: 2s\n"), &["-j", "1"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let r = report.expect("report");
    assert!((95..=105).contains(&r.iterations), "{}", r.iterations);
    assert_eq!(r.errors, 0);
    let (out, report, _ws) = run_load(
        &profile("model: closed\nusers: 3\nduration: 20s\nmax_iterations: 25\n"),
        &["-j", "1"],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(report.expect("report").iterations, 25);
    ctrl_c_mid_run(&["-j", "1"]);
}

fn ctrl_c_mid_run(extra: &[&str]) {
    let ws = workspace(&[
        ("read.yaml", READ),
        ("p.yaml", &profile("rate: 20\nduration: 30s\n")),
    ]);
    let child = Command::new(env!("CARGO_BIN_EXE_emr-harness"))
        .args([
            "load",
            "p.yaml",
            "--format",
            "json",
            "--out-dir",
            "out",
            "--quiet",
        ])
        .args(extra)
        .current_dir(ws.path())
        .env_remove("CI")
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill")
        .success());
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stopped promptly"
    );
    assert_eq!(out.status.code(), Some(130));
    let r: LoadReport = common::read_json(&ws.path().join("out/load-report.json"));
    assert!(r.partial);
    assert!(r.iterations > 10 && r.iterations < 100, "{}", r.iterations);
}

#[test]
fn target_killed_mid_run_gives_errors_not_a_hang() {
    let mut sb = common::spawn_sandbox();
    let base = sb.base.clone();
    let ws = workspace(&[
        ("read.yaml", READ),
        (
            "p.yaml",
            &profile("rate: 40\nduration: 3s\nslo: [{metric: error_rate, below: 1%}]\n"),
        ),
    ]);
    let child = Command::new(env!("CARGO_BIN_EXE_emr-harness"))
        .args([
            "load",
            "p.yaml",
            "--target",
            &base,
            "--timeout",
            "2s",
            "--format",
            "json",
            "--out-dir",
            "out",
            "--quiet",
        ])
        .current_dir(ws.path())
        .env_remove("CI")
        .spawn()
        .expect("spawn load");
    std::thread::sleep(Duration::from_millis(1000));
    sb.child.kill().expect("kill sandbox");
    let _ = sb.child.wait();
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "the error-rate SLO is breached");
    let r: LoadReport = common::read_json(&ws.path().join("out/load-report.json"));
    assert!(
        r.errors_by_kind
            .get("connect_refused")
            .copied()
            .unwrap_or(0)
            > 10,
        "{:?}",
        r.errors_by_kind
    );
    assert!(r.requests > r.errors, "requests before the kill succeeded");
}

#[test]
fn remote_targets_need_allow_remote() {
    // Refused before anything is sent: no traffic leaves this machine.
    for target in ["http://10.255.255.1:9/fhir", "http://192.168.200.200/fhir"] {
        let (out, report, _ws) =
            run_load(&profile("rate: 1\nduration: 1s\n"), &["--target", target]);
        assert_eq!(out.code, 2, "{}", out.all());
        assert!(
            out.stderr.contains("needs --allow-remote"),
            "{}",
            out.stderr
        );
        assert!(report.is_none());
    }
}

#[test]
fn load_against_sekmet_and_the_python_hl7_peer() {
    let (Some((url, _turn)), Some(peer)) = (common::sekmet(), target_env("EMR_HARNESS_HL7_PEER"))
    else {
        return;
    };
    let hl7 = "name: adt\nsteps:\n  - name: adt a08\n    hl7:\n      message: |\n        MSH|^~\\&|A|B|C|D|{{ now.hl7 }}||ADT^A08^ADT_A01|{{ uuid }}|P|2.5.1\n        EVN|A08|{{ now.hl7 }}\n        PID|1||{{ fake.mrn }}||Doe^Jane\n        PV1|1|O\n    expect: {ack: AA, ack_type: false}\n";
    let p = "name: third-party\nscenarios: [{path: read.yaml, weight: 1}, {path: adt.yaml, weight: 1}]\nrate: 20\nduration: 2s\nslo: [{metric: error_rate, below: 1%}]\n";
    let ws = workspace(&[("read.yaml", READ), ("adt.yaml", hl7), ("p.yaml", p)]);
    let out = harness(
        ws.path(),
        &[
            "load",
            "p.yaml",
            "--target",
            &url,
            "--mllp",
            &peer,
            "--format",
            "json",
            "--out-dir",
            "out",
            "--quiet",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let r: LoadReport = common::read_json(&ws.path().join("out/load-report.json"));
    assert!((38..=42).contains(&r.iterations), "{}", r.iterations);
    assert_eq!(r.errors, 0, "{:?}", r.errors_by_kind);
    assert_eq!(r.steps.len(), 2);
    let transports: Vec<(&str, u64)> = r
        .transports
        .iter()
        .map(|t| (t.step.as_str(), t.latency.count))
        .collect();
    let count = |step: &str| {
        r.steps
            .iter()
            .find(|s| s.step == step)
            .map_or(0, |s| s.latency.count)
    };
    assert_eq!(
        transports,
        [("fhir", count("metadata")), ("hl7", count("adt a08"))],
        "every request counted under its transport"
    );
}

#[test]
fn html_report_is_self_contained_and_its_plots_render() {
    let (out, _report, ws) = run_load(
        &profile("rate: 30\nduration: 2s\nslo: [{metric: p99, below: 1s}]\n"),
        &["--format", "html", "--fault-error-rate", "0.1"],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let path = ws.path().join("out/load-report.html");
    let html = std::fs::read_to_string(&path).expect("html report");
    // Works offline: no scripts, no external resources.
    for banned in ["<script", " src=", "<link", "@import", "url("] {
        assert!(!html.contains(banned), "found {banned}");
    }
    for id in [
        "latency-distribution",
        "latency-over-time",
        "throughput-over-time",
        "errors-over-time",
    ] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "{id} missing");
    }
    assert!(html.matches("<polyline").count() >= 5);
    assert!(
        html.contains("p99 of all steps &lt; 1s"),
        "SLO row is escaped and present"
    );

    // Rendered by a real browser when one is installed (.ci/run installs Debian's chromium).
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(chromium) = chromium else {
        eprintln!("SKIPPED browser check: no chromium installed");
        return;
    };
    let profile_dir = tempfile::tempdir().expect("tempdir");
    let dom = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.path().display()))
        .args(["--dump-dom", &format!("file://{}", path.display())])
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches("<svg").count(),
        4,
        "the browser parsed four plots"
    );
    assert!(dom.matches("<polyline").count() >= 5);
    assert!(
        dom.contains("<circle"),
        "data points are in the rendered DOM"
    );
}
