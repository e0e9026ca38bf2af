//! Hostile targets and hostile files. Real servers on 127.0.0.1 (written here, each a few lines
//! of std::net) misbehave as an attacker's would: an endless body, a gzip bomb, a `next` link to
//! another port that harvests credentials, a 100k-segment ACK. Each test asserts the bound that
//! held, the message that names it, and that the run still wrote its report. Then: scenario
//! files built to hurt the loader, a slowloris flood against the sandbox, and a load run killed
//! with SIGKILL whose interval log `report merge` still reads.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{harness, read_json, workspace};
use serde_json::Value;

/// A one-thread HTTP/1.1 server: `answer(request head) -> bytes to write`, then the connection
/// closes. Returns its address and every request head it read.
fn http_server(
    answer: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let (log, answer) = (log.clone(), answer.clone());
            std::thread::spawn(move || {
                let mut head = String::new();
                let mut reader = BufReader::new(s.try_clone().expect("clone"));
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                log.lock().expect("lock").push(head.clone());
                answer(&head, &mut s);
            });
        }
    });
    (addr, seen)
}

fn scenario(steps: &str) -> String {
    format!("name: hostile\nsteps:\n{steps}")
}

fn report(dir: &std::path::Path) -> Value {
    read_json(&dir.join("out/emr-harness-report.json"))
}

fn step_error(report: &Value, step: usize) -> (String, String) {
    let e = &report["scenarios"][0]["steps"][step]["error"];
    (
        e["kind"].as_str().unwrap_or_default().to_string(),
        e["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn an_endless_body_stops_at_the_limit_and_the_report_is_written() {
    let (addr, _) = http_server(|_, s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n\r\n");
        let chunk = vec![b' '; 64 * 1024];
        // Forever, or until the client hangs up.
        while s.write_all(&chunk).is_ok() {}
    });
    let dir = workspace(&[(
        "s.yaml",
        &scenario("  - name: read\n    fhir: { path: /Patient/1 }\n    expect: { status: 200 }\n"),
    )]);
    let started = Instant::now();
    let out = harness(
        dir.path(),
        &[
            "run",
            "s.yaml",
            "--target",
            &format!("http://{addr}/fhir"),
            "--max-body-size",
            "2MB",
            "--format",
            "json",
            "--out-dir",
            "out",
        ],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(started.elapsed() < Duration::from_secs(20));
    let (kind, message) = step_error(&report(dir.path()), 0);
    assert_eq!(kind, "limit");
    assert!(
        message.contains("larger than 2097152 bytes (--max-body-size)"),
        "{message}"
    );
}

#[test]
fn a_gzip_bomb_is_counted_decompressed() {
    use flate2::write::GzEncoder;
    // 256 MB of spaces compress to about 250 KB.
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mb = vec![b' '; 1 << 20];
    for _ in 0..256 {
        enc.write_all(&mb).expect("gzip");
    }
    let bomb = Arc::new(enc.finish().expect("gzip"));
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let body = bomb.clone();
    let (addr, _) = http_server(move |_, s| {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(&body);
    });
    let dir = workspace(&[(
        "s.yaml",
        &scenario("  - name: read\n    fhir: { path: /Patient/1 }\n"),
    )]);
    let out = harness(
        dir.path(),
        &[
            "run",
            "s.yaml",
            "--target",
            &format!("http://{addr}/fhir"),
            "--max-body-size",
            "8MB",
            "--format",
            "json",
            "--out-dir",
            "out",
        ],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let (kind, message) = step_error(&report(dir.path()), 0);
    assert_eq!(kind, "limit", "{message}");
    assert!(message.contains("(--max-body-size)"), "{message}");
}

/// The target answers a search with a `next` link to another port; the server there records
/// what it is sent. Credentials stay with the target's origin; the report says they were held.
#[test]
fn a_next_link_to_another_origin_gets_no_credentials() {
    let (harvester, harvested) = http_server(|_, s| {
        let body = r#"{"resourceType":"Bundle","type":"searchset","entry":[]}"#;
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    });
    let next = format!("http://{harvester}/fhir/Patient?page=2");
    let (target, target_seen) = http_server(move |_, s| {
        let body = format!(
            r#"{{"resourceType":"Bundle","type":"searchset","link":[{{"relation":"next","url":"{next}"}}],"entry":[]}}"#
        );
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    });
    let dir = workspace(&[(
        "s.yaml",
        &scenario(
            "  - name: search\n    fhir: { path: /Patient }\n    capture:\n      next: \"$.link[?(@.relation == 'next')].url\"\n  - name: follow next\n    fhir: { path: \"{{ next }}\" }\n",
        ),
    )]);
    let token = "tok-Harvest-me-7f3a9c";
    let out = harness(
        dir.path(),
        &[
            "run",
            "s.yaml",
            "--target",
            &format!("http://{target}/fhir"),
            "--bearer-token-env",
            "TOKEN",
            "--secret-header",
            "X-Api-Key=KEY",
            "--format",
            "json",
            "--out-dir",
            "out",
        ],
        &[("TOKEN", token), ("KEY", "key-Harvest-me-2b8e")],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let to_target = target_seen.lock().expect("lock").join("\n").to_lowercase();
    assert!(
        to_target.contains(&format!("authorization: bearer {}", token.to_lowercase())),
        "the target itself gets the token: {to_target}"
    );
    let to_other = harvested.lock().expect("lock").join("\n");
    assert!(!to_other.is_empty(), "the next link was followed");
    let lower = to_other.to_lowercase();
    assert!(
        !lower.contains("authorization") && !lower.contains("x-api-key"),
        "credentials reached another origin: {to_other}"
    );
    let notes = &report(dir.path())["scenarios"][0]["steps"][1]["notes"];
    assert!(
        notes.to_string().contains("credentials withheld"),
        "{notes}"
    );
}

/// An MLLP peer whose ACK has 100,000 segments: the step ends with a limit error, fast, before
/// any check walks the segments.
#[test]
fn a_100k_segment_ack_is_refused_quickly() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(2).any(|w| w == [0x1c, 0x0d]) {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let mut ack = String::from(
                    "\x0bMSH|^~\\&|P|F|H|F|20260101||ACK^A01^ACK|A1|P|2.5.1\rMSA|AA|C1\r",
                );
                for i in 0..100_000 {
                    ack.push_str(&format!("ERR|||{i}\r"));
                }
                ack.push_str("\x1c\r");
                let _ = s.write_all(ack.as_bytes());
            });
        }
    });
    let dir = workspace(&[(
        "s.yaml",
        &scenario("  - name: admit\n    hl7:\n      message: |\n        MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|C1|P|2.5.1\n        EVN|A01|20260101\n        PID|1||M1^^^H^MR||Doe^Jane\n        PV1|1|I\n"),
    )]);
    let started = Instant::now();
    let out = harness(
        dir.path(),
        &[
            "run",
            "s.yaml",
            "--mllp",
            &addr,
            "--timeout",
            "5s",
            "--format",
            "json",
            "--out-dir",
            "out",
        ],
        &[],
    );
    let took = started.elapsed();
    assert_eq!(out.code, 1, "{}", out.all());
    let (kind, message) = step_error(&report(dir.path()), 0);
    assert_eq!(kind, "limit", "{message}");
    assert!(
        message.contains("more than 20000 segments (--max-segments)"),
        "{message}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// Files written to hurt the loader: each is an exit-2 error naming the file and the field, and
/// none aborts or hangs.
#[test]
fn hostile_scenario_files_are_errors_that_name_file_and_field() {
    let deep_flow = format!(
        "name: deep\nsteps:\n  - name: x\n    fhir: {{ method: POST, path: /Patient }}\n    body: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let deep_fhirpath = scenario(&format!(
        "  - name: x\n    fhir: {{ path: /metadata }}\n    expect:\n      fhirpath: \"{}true{}\"\n",
        "(".repeat(3000),
        ")".repeat(3000)
    ));
    let loops = scenario(
        "  - name: x\n    fhir:\n      path: /metadata\n      headers:\n        X-Long: \"{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}\"\n",
    );
    let outside = scenario(
        "  - name: x\n    fhir: { method: POST, path: /Patient, body_file: ../../../../../../etc/passwd }\n",
    );
    let device =
        scenario("  - name: x\n    fhir: { method: POST, path: /Patient, body_file: /dev/zero }\n");
    let huge = format!("name: huge\n# {}\nsteps: []\n", "x".repeat(5 << 20));
    let dir = workspace(&[
        ("deep-flow.yaml", &deep_flow),
        ("deep-fhirpath.yaml", &deep_fhirpath),
        ("loops.yaml", &loops),
        ("outside.yaml", &outside),
        ("device.yaml", &device),
        ("huge.yaml", &huge),
    ]);
    for (file, field, says, flag) in [
        ("deep-flow.yaml", "deep-flow.yaml:5:", "field `body`", None),
        ("deep-fhirpath.yaml", "expect.fhirpath", "--max-depth", None),
        (
            "outside.yaml",
            "fhir.body_file",
            "--allow-outside-files",
            None,
        ),
        (
            "device.yaml",
            "fhir.body_file",
            "--allow-outside-files",
            None,
        ),
        // Even when outside files are allowed, a device never is.
        (
            "device.yaml",
            "fhir.body_file",
            "not a regular file",
            Some("--allow-outside-files"),
        ),
        ("huge.yaml", "huge.yaml", "--max-scenario-size", None),
    ] {
        let started = Instant::now();
        let mut args = vec!["lint", file];
        args.extend(flag);
        let out = harness(dir.path(), &args, &[]);
        assert_eq!(out.code, 2, "{file}: {}", out.all());
        assert!(out.stderr.contains(file), "{file}: {}", out.stderr);
        assert!(out.stderr.contains(field), "{file}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{file}: {}", out.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{file} took too long"
        );
    }
    // The endless template loads (its variables are fine) and fails when rendered: a scenario
    // error of that step, with the fuel limit named, and the run goes on to write its report.
    let started = Instant::now();
    let out = harness(
        dir.path(),
        &["run", "loops.yaml", "--format", "json", "--out-dir", "out"],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.all());
    let (kind, message) = step_error(&report(dir.path()), 0);
    assert_eq!(kind, "scenario");
    assert!(message.contains("--template-fuel"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Two thousand idle and slowloris sockets against the sandbox: its FHIR API still answers, and
/// the header timeout closes the idle ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_keeps_answering_under_a_slowloris_flood() {
    use emr_sandbox::{self as sandbox, serve::ConnLimits, SandboxConfig};
    let sb = sandbox::start(SandboxConfig {
        conn_limits: ConnLimits {
            header_timeout: Duration::from_secs(2),
            ..ConnLimits::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox");
    let addr = sb.addr;
    let mut sockets = Vec::new();
    for i in 0..2000 {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        if i % 2 == 0 {
            // Slowloris: a request head that never ends.
            use tokio::io::AsyncWriteExt;
            let _ = s
                .write_all(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await;
        }
        sockets.push(s);
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let r = client
        .get(format!("{}/metadata", sb.base_url))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the FHIR API answers with 2,000 idle sockets open");
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    // After the header timeout the server has closed them: a read sees the end.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut closed = 0;
    for s in sockets.iter_mut().take(100) {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            Ok(Ok(_)) => closed += 1, // a 408 before the close counts too
            Err(_) => {}
        }
    }
    assert_eq!(closed, 100, "idle connections outlived the header timeout");
    sb.stop().await;
}

/// `load` killed with SIGKILL mid-run leaves an interval log that `report merge` reads.
#[test]
fn a_load_run_killed_mid_run_leaves_a_usable_hlog() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::copy_dir(
        &common::repo().join("scenarios"),
        &dir.path().join("scenarios"),
    );
    common::copy_dir(
        &common::repo().join("profiles"),
        &dir.path().join("profiles"),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_emr-harness"))
        .args([
            "load",
            "profiles/smoke.yaml",
            "--duration",
            "20s",
            "--out-dir",
            "out",
            "-q",
        ])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .spawn()
        .expect("spawn load");
    std::thread::sleep(Duration::from_secs(4));
    let status = std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let _ = child.wait();
    let log = dir.path().join("out/load.hlog");
    assert!(log.exists(), "no interval log after SIGKILL");
    let out = harness(
        dir.path(),
        &[
            "report",
            "merge",
            "out/load.hlog",
            "--format",
            "json",
            "--out-dir",
            "out",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let merged: Value = read_json(&dir.path().join("out/merged-report.json"));
    let count = merged["overall"]["count"].as_u64().unwrap_or(0);
    assert!(count >= 20, "only {count} samples survived: {merged}");
}

/// The forms a secret takes in the formats the tool writes.
fn written_forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).expect("json");
    let xml = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let url: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let pct = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    vec![
        secret.to_string(),
        json[1..json.len() - 1].to_string(),
        xml.clone(),
        xml.replace('"', "&quot;"),
        url,
        pct,
    ]
}

fn all_files(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&p).expect("read")).into_owned();
            out.push((p.display().to_string(), text));
        }
    }
}

/// Secrets with `"`, `\`, `<`, `&`, `%` and one of three characters, read from the environment,
/// sent in a body, a header and a URL, echoed back by the server, named in failing checks and
/// snapshots: no form of any of them is in stdout, stderr, the JSON report, JUnit or a golden.
#[test]
fn secrets_in_every_escaped_form_stay_out_of_every_output() {
    let secrets = [
        ("S_QUOTE", "pw\"q\\uo7-1f"),
        ("S_XML", "a<b&c>9d-77"),
        ("S_PCT", "50%off x&y"),
        ("S_SHORT", "Zq9"),
    ];
    let dir = workspace(&[(
        "s.yaml",
        &scenario(
            r#"  - name: create
    fhir:
      method: POST
      path: /Patient
      headers: { Prefer: return=representation, X-Note: "{{ env.S_XML }}" }
      body:
        resourceType: Patient
        name: [{ family: "{{ env.S_QUOTE }}", given: ["{{ env.S_XML }}", "{{ env.S_PCT }}", "{{ env.S_SHORT }}"] }]
    expect:
      status: 201
      jsonpath: { "$.name[0].family": "{{ env.S_QUOTE }}-not" }
      fhirpath: "Patient.name.given.first() = '{{ env.S_SHORT }}x'"
      snapshot: created
  - name: search
    fhir: { path: "/Patient?name={{ env.S_PCT | urlencode }}&_x={{ env.S_SHORT }}" }
    expect:
      status: 404
      snapshot: found
"#,
        ),
    )]);
    let env: Vec<(&str, &str)> = secrets.to_vec();
    let out = harness(
        dir.path(),
        &[
            "run",
            "s.yaml",
            "-vv",
            "--update",
            "--golden",
            "g",
            "--format",
            "json,junit",
            "--out-dir",
            "out",
        ],
        &env,
    );
    assert_eq!(
        out.code,
        1,
        "the checks were written to fail: {}",
        out.all()
    );
    let mut texts = vec![
        ("stdout".to_string(), out.stdout.clone()),
        ("stderr".to_string(), out.stderr.clone()),
    ];
    all_files(&dir.path().join("out"), &mut texts);
    all_files(&dir.path().join("g"), &mut texts);
    assert!(
        texts.len() >= 6,
        "{:?}",
        texts.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    assert!(
        texts.iter().any(|(_, t)| t.contains("[secret]")),
        "the secrets were redacted somewhere, so they did reach the outputs"
    );
    for (var, secret) in secrets {
        for form in written_forms(secret) {
            for (what, text) in &texts {
                assert!(!text.contains(&form), "{var} as {form:?} is in {what}");
            }
        }
    }
}

/// A HAR whose URLs carry `access_token` and `api_key` (and a Bundle `next` link repeating the
/// token): the imported scenario asks the environment for them, and no file holds the values.
#[test]
fn query_string_credentials_never_reach_an_imported_scenario() {
    let token = "tok-QueryToken-5d1e0c";
    let key = "KEY-abc-98765";
    let bundle = format!(
        r#"{{"resourceType":"Bundle","type":"searchset","link":[{{"relation":"next","url":"http://127.0.0.1:9/fhir/Patient?name=x&access_token={token}&_offset=10"}}],"entry":[]}}"#
    );
    let har = serde_json::json!({"log": {"entries": [
        {"request": {"method": "GET", "url": format!("http://127.0.0.1:9/fhir/Patient?name=x&access_token={token}"), "headers": []},
         "response": {"status": 200, "headers": [{"name": "Content-Type", "value": "application/fhir+json"}], "content": {"text": bundle}}},
        {"request": {"method": "GET", "url": format!("http://127.0.0.1:9/fhir/metadata?api_key={key}"), "headers": []},
         "response": {"status": 200, "headers": [], "content": {"text": "{\"resourceType\":\"CapabilityStatement\"}"}}}
    ]}});
    let dir = workspace(&[("s.har", &har.to_string())]);
    let out = harness(
        dir.path(),
        &["import", "har", "s.har", "-o", "imported.yaml"],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let yaml = std::fs::read_to_string(dir.path().join("imported.yaml")).expect("yaml");
    assert!(yaml.contains("{{ env.ACCESS_TOKEN }}"), "{yaml}");
    assert!(yaml.contains("{{ env.API_KEY }}"), "{yaml}");
    assert!(out.stderr.contains("ACCESS_TOKEN"), "{}", out.stderr);
    let mut texts = vec![("stdout+stderr".to_string(), out.all())];
    all_files(dir.path(), &mut texts);
    for (what, text) in &texts {
        if what.ends_with("s.har") {
            continue;
        }
        assert!(
            !text.contains(token) && !text.contains(key),
            "a credential is in {what}"
        );
    }
}

/// The same through the recording proxy: a client's `?access_token=` never lands in the file.
#[test]
fn query_string_credentials_never_reach_a_recording() {
    let sandbox = common::spawn_sandbox();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut proxy = std::process::Command::new(env!("CARGO_BIN_EXE_emr-harness"))
        .args([
            "record",
            "http",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &sandbox.base,
            "-o",
            "rec.yaml",
        ])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("proxy");
    let mut line = String::new();
    BufReader::new(proxy.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("banner");
    let via = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("proxy address")
        .to_string();
    let token = "tok-Recorded-3c9f41";
    let (host, path) = via
        .trim_start_matches("http://")
        .split_once('/')
        .expect("host/path");
    let mut s = TcpStream::connect(host).expect("connect proxy");
    write!(
        s,
        "GET /{path}/metadata?access_token={token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = std::process::Command::new("kill")
        .args(["-INT", &proxy.id().to_string()])
        .status();
    let output = proxy.wait_with_output().expect("proxy output");
    let mut sandbox = sandbox;
    let _ = sandbox.child.kill();
    let recorded = std::fs::read_to_string(dir.path().join("rec.yaml")).expect("recording");
    assert!(recorded.contains("{{ env.ACCESS_TOKEN }}"), "{recorded}");
    let mut texts = vec![(
        "proxy output".to_string(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )];
    all_files(dir.path(), &mut texts);
    for (what, text) in &texts {
        assert!(!text.contains(token), "the token is in {what}");
    }
}

/// A server that answers with something that is not HTTP: a protocol error, not a "reset".
#[test]
fn an_answer_that_is_not_http_is_a_protocol_error() {
    let (addr, _) = http_server(|_, s| {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\nnot http at all\r\n\r\n");
    });
    let dir = workspace(&[(
        "s.yaml",
        &scenario("  - name: read\n    fhir: { path: /metadata }\n"),
    )]);
    let out = harness(
        dir.path(),
        &[
            "run",
            "s.yaml",
            "--target",
            &format!("http://{addr}/fhir"),
            "--format",
            "json",
            "--out-dir",
            "out",
        ],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let (kind, message) = step_error(&report(dir.path()), 0);
    assert_eq!(kind, "protocol", "{message}");
    assert!(message.contains("not valid HTTP"), "{message}");
}

/// Load stays on this machine unless the command line says otherwise: a profile cannot opt in
/// for the operator, and every host the run can name up front is checked before anything is
/// sent (a scenario's absolute URL, the token endpoint). 192.0.2.1 is TEST-NET-1: never routed.
#[test]
fn load_refuses_every_remote_host_without_the_flag() {
    let profile = |extra: &str, scenario: &str| {
        format!("name: p\nrate: 5\nduration: 2s\n{extra}scenarios:\n  - path: {scenario}\n")
    };
    let dir = workspace(&[
        (
            "local.yaml",
            &scenario("  - name: meta\n    fhir: { path: /metadata }\n"),
        ),
        (
            "remote-url.yaml",
            &scenario("  - name: meta\n    fhir: { path: \"http://192.0.2.1/fhir/metadata\" }\n"),
        ),
        (
            "opt-in.yaml",
            &profile("allow_remote: true\n", "local.yaml"),
        ),
        ("absolute.yaml", &profile("", "remote-url.yaml")),
        ("plain.yaml", &profile("", "local.yaml")),
    ]);
    let started = Instant::now();
    let opt_in = harness(dir.path(), &["load", "opt-in.yaml", "--out-dir", "o1"], &[]);
    assert_eq!(opt_in.code, 2, "{}", opt_in.all());
    assert!(
        opt_in
            .stderr
            .contains("needs --allow-remote on the command line"),
        "{}",
        opt_in.stderr
    );
    let absolute = harness(
        dir.path(),
        &["load", "absolute.yaml", "--out-dir", "o2"],
        &[],
    );
    assert_eq!(absolute.code, 2, "{}", absolute.all());
    assert!(absolute.stderr.contains("192.0.2.1"), "{}", absolute.stderr);
    let token = harness(
        dir.path(),
        &[
            "load",
            "plain.yaml",
            "--out-dir",
            "o3",
            "--oauth-token-url",
            "https://192.0.2.1/token",
            "--oauth-client-id",
            "c",
            "--oauth-client-secret-env",
            "SECRET",
        ],
        &[("SECRET", "s3cr3t-value-1")],
    );
    assert_eq!(token.code, 2, "{}", token.all());
    assert!(token.stderr.contains("192.0.2.1"), "{}", token.stderr);
    // Nothing was attempted: refusing takes no connection timeout.
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// Golden file names come from scenario names by their slug: two scenarios whose names differ
/// only in case or punctuation would overwrite each other's goldens, so `lint` refuses them.
#[test]
fn scenario_names_that_share_golden_files_are_refused() {
    let step = "  - name: meta\n    fhir: { path: /metadata }\n    expect: { snapshot: meta }\n";
    let dir = workspace(&[
        (
            "a.yaml",
            &format!("name: Patient Lifecycle\nsteps:\n{step}"),
        ),
        (
            "b.yaml",
            &format!("name: patient-lifecycle!\nsteps:\n{step}"),
        ),
    ]);
    let out = harness(dir.path(), &["lint", "."], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("a.yaml") && out.stderr.contains("patient-lifecycle__*.snap"),
        "{}",
        out.stderr
    );
}

/// A golden write that fails after its temp file was made (here: the pending snapshot's path
/// is a folder, so the final rename fails) leaves no temp file behind.
#[test]
fn a_failed_golden_write_leaves_no_temp_file() {
    let dir = workspace(&[(
        "s.yaml",
        &scenario(
            "  - name: meta\n    fhir: { path: /metadata }\n    expect: { snapshot: meta }\n",
        ),
    )]);
    std::fs::create_dir_all(dir.path().join("g/hostile__meta.snap.new/blocker")).expect("mkdir");
    let out = harness(dir.path(), &["run", "s.yaml", "--golden", "g"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("cannot write"), "{}", out.stdout);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("g"))
        .expect("g")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Arithmetic on numbers a client sends is checked, and a full store says so with 507.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_survives_hostile_numbers_and_a_full_store() {
    use emr_sandbox::{self as sandbox, SandboxConfig};
    let sb = sandbox::start(SandboxConfig {
        max_versions: 3,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox");
    let client = reqwest::Client::new();
    for q in [
        "_offset=18446744073709551615",
        "_count=18446744073709551615",
        "_offset=-1",
    ] {
        let r = client
            .get(format!("{}/Patient?{q}", sb.base_url))
            .send()
            .await
            .expect("answer");
        assert!(
            r.status() == 200 || r.status() == 400,
            "{q}: {}",
            r.status()
        );
    }
    let mut last = 0;
    for _ in 0..4 {
        let r = client
            .post(format!("{}/Patient", sb.base_url))
            .header("Content-Type", "application/fhir+json")
            .body(r#"{"resourceType":"Patient"}"#)
            .send()
            .await
            .expect("answer");
        last = r.status().as_u16();
        if last == 507 {
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["resourceType"], "OperationOutcome");
            assert!(body.to_string().contains("--store-max-versions"), "{body}");
        }
    }
    assert_eq!(
        last, 507,
        "the fourth version does not fit a store of three"
    );
    // The API still answers reads.
    let r = client
        .get(format!("{}/metadata", sb.base_url))
        .send()
        .await
        .expect("metadata");
    assert_eq!(r.status(), 200);
    sb.stop().await;
}
