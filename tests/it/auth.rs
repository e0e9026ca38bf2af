//! Authentication end to end against the sandbox's auth mode: SMART Backend Services (ES384 and
//! RS384 client assertions), a token that expires during a run, OAuth client credentials, bearer
//! and basic; and the secret-grep test: every command runs with known secrets and no output file,
//! log or terminal line may contain one.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{harness, repo};
use emr_sandbox::auth::{AuthClient, SandboxAuth};
use emr_sandbox::{self as sandbox, RunningSandbox, SandboxConfig};

const CLIENT_SECRET: &str = "cs-7d1f0a9e4b2c8d3f";
const BASIC_PASSWORD: &str = "bp-52c9e1a7f03d6b84";
const API_KEY: &str = "ak-0f6e2d9c1b8a7e35";

fn key(name: &str) -> String {
    repo()
        .join("tests/fixtures/auth")
        .join(name)
        .display()
        .to_string()
}

async fn auth_sandbox(lifetime: Duration) -> RunningSandbox {
    let pem = |f: &str| std::fs::read_to_string(key(f)).expect("key");
    sandbox::start(SandboxConfig {
        auth: Some(SandboxAuth {
            clients: vec![
                AuthClient {
                    id: "bot".into(),
                    public_key_pem: Some(pem("ec-public.pem")),
                    ..Default::default()
                },
                AuthClient {
                    id: "rbot".into(),
                    public_key_pem: Some(pem("rsa-public.pem")),
                    ..Default::default()
                },
                AuthClient {
                    id: "app".into(),
                    secret: Some(CLIENT_SECRET.into()),
                    ..Default::default()
                },
            ],
            basic_users: vec![("alice".into(), BASIC_PASSWORD.into())],
            token_lifetime: lifetime,
        }),
        ..Default::default()
    })
    .await
    .expect("sandbox")
}

fn run_lifecycle(dir: &Path, base: &str, auth: &[&str], env: &[(&str, &str)]) -> common::Out {
    let scenario = repo().join("scenarios/fhir/patient-lifecycle.yaml");
    let mut args = vec![
        "run",
        scenario.to_str().expect("path"),
        "--target",
        base,
        "--golden",
        "golden",
        "--update",
    ];
    args.extend_from_slice(auth);
    harness(dir, &args, env)
}

#[tokio::test(flavor = "multi_thread")]
async fn smart_backend_services_es384_and_rs384() {
    let sb = auth_sandbox(Duration::from_secs(300)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let base = sb.base_url.clone();
    let (ec, rsa, other) = (
        key("ec-private.pem"),
        key("rsa-private.pem"),
        key("other-ec-private.pem"),
    );
    let d = dir.path().to_path_buf();
    let (no_auth, es, rs, wrong) = tokio::task::spawn_blocking(move || {
        (
            run_lifecycle(&d, &base, &[], &[]),
            run_lifecycle(
                &d,
                &base,
                &["--oauth-client-id", "bot", "--smart-key", &ec],
                &[],
            ),
            run_lifecycle(
                &d,
                &base,
                &[
                    "--oauth-client-id",
                    "rbot",
                    "--smart-key",
                    &rsa,
                    "--smart-alg",
                    "RS384",
                ],
                &[],
            ),
            run_lifecycle(
                &d,
                &base,
                &["--oauth-client-id", "bot", "--smart-key", &other],
                &[],
            ),
        )
    })
    .await
    .expect("join");
    assert_ne!(no_auth.code, 0, "{}", no_auth.all());
    assert!(no_auth.stdout.contains("401"), "{}", no_auth.stdout);
    assert_eq!(es.code, 0, "{}", es.all());
    assert_eq!(rs.code, 0, "{}", rs.all());
    assert_ne!(wrong.code, 0, "{}", wrong.all());
    assert!(
        wrong.stdout.contains("invalid_client") && wrong.stdout.contains("InvalidSignature"),
        "{}",
        wrong.stdout
    );
    let a = sb.auth.as_ref().expect("auth mode");
    assert_eq!(a.tokens_issued(), 2, "one token per authenticated run");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_expires_mid_run_is_fetched_again() {
    let sb = auth_sandbox(Duration::from_secs(1)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = repo().join("scenarios/fhir/patient-lifecycle.yaml");
    std::fs::write(
        dir.path().join("p.yaml"),
        format!(
            "name: refresh\nmodel: open\nrate: 20\nduration: 4s\nscenarios:\n  - path: {}\n",
            scenario.display()
        ),
    )
    .expect("profile");
    let base = sb.base_url.clone();
    let ec = key("ec-private.pem");
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        harness(
            &d,
            &[
                "load",
                "p.yaml",
                "--target",
                &base,
                "--quiet",
                "--format",
                "json",
                "--out-dir",
                "out",
                "--oauth-client-id",
                "bot",
                "--smart-key",
                &ec,
            ],
            &[],
        )
    })
    .await
    .expect("join");
    assert_eq!(out.code, 0, "{}", out.all());
    let report: serde_json::Value = common::read_json(&dir.path().join("out/load-report.json"));
    assert!(report["requests"].as_u64().unwrap_or(0) >= 500, "{report}");
    assert_eq!(
        report["errors"], 0,
        "no request went out with an expired token: {report}"
    );
    let a = sb.auth.as_ref().expect("auth mode");
    assert!(
        a.tokens_issued() >= 4,
        "a 4 s run with 1 s tokens fetched {} token(s)",
        a.tokens_issued()
    );
    assert_eq!(a.requests_refused(), 0);
    sb.stop().await;
}

/// Client credentials with a secret, a bearer token, basic: each passes; each leaves no secret.
#[tokio::test(flavor = "multi_thread")]
async fn client_secret_bearer_basic_and_no_secret_in_any_output() {
    let sb = auth_sandbox(Duration::from_secs(300)).await;
    let base = sb.base_url.clone();
    let token_url = sb.auth.as_ref().expect("auth").token_url.clone();
    // A bearer token issued by the sandbox, handed over the way CI hands one over: in the environment.
    let bearer: String = {
        let resp = reqwest::Client::new()
            .post(&token_url)
            .basic_auth("app", Some(CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token");
        let v: serde_json::Value = resp.json().await.expect("json");
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_path_buf();
    let ec = key("ec-private.pem");
    let b = bearer.clone();
    let outs = tokio::task::spawn_blocking(move || {
        let env = [
            ("APP_SECRET", CLIENT_SECRET),
            ("ALICE_PASSWORD", BASIC_PASSWORD),
            ("API_KEY", API_KEY),
            ("BEARER", b.as_str()),
        ];
        let verbose = ["-vv", "--format", "json,junit", "--out-dir", "reports"];
        let mut outs = Vec::new();
        let secret_flags: [&[&str]; 4] = [
            &[
                "--oauth-client-id",
                "app",
                "--oauth-client-secret-env",
                "APP_SECRET",
                "--oauth-token-url",
                &token_url,
            ],
            &[
                "--bearer-token-env",
                "BEARER",
                "--secret-header",
                "X-Api-Key=API_KEY",
            ],
            &[
                "--basic-user",
                "alice",
                "--basic-password-env",
                "ALICE_PASSWORD",
            ],
            &["--oauth-client-id", "bot", "--smart-key", &ec],
        ];
        for flags in secret_flags {
            let mut a: Vec<&str> = flags.to_vec();
            a.extend_from_slice(&verbose);
            outs.push(("run", run_lifecycle(&d, &base, &a, &env)));
        }
        std::fs::write(
            d.join("p.yaml"),
            format!(
                "name: s\nmodel: open\nrate: 10\nduration: 2s\nscenarios:\n  - path: {}\n",
                repo()
                    .join("scenarios/fhir/patient-lifecycle.yaml")
                    .display()
            ),
        )
        .expect("profile");
        outs.push((
            "load",
            harness(
                &d,
                &[
                    "load",
                    "p.yaml",
                    "--target",
                    &base,
                    "-vv",
                    "--format",
                    "json,junit,html",
                    "--out-dir",
                    "load-out",
                    "--bearer-token-env",
                    "BEARER",
                ],
                &env,
            ),
        ));
        // The recording proxy in front of the EMR: the client's token passes through, and must
        // not land in the recording.
        let mut proxy = std::process::Command::new(env!("CARGO_BIN_EXE_emr-harness"))
            .args([
                "record",
                "http",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                &base,
                "-o",
                "rec.yaml",
                "-v",
            ])
            .current_dir(&d)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("proxy");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(proxy.stdout.as_mut().expect("stdout")),
            &mut line,
        )
        .expect("line");
        let via = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("proxy address")
            .to_string();
        outs.push((
            "run via proxy",
            run_lifecycle(&d, &via, &["--bearer-token-env", "BEARER"], &env),
        ));
        let _ = std::process::Command::new("kill")
            .args(["-INT", &proxy.id().to_string()])
            .status();
        let proxied = proxy.wait_with_output().expect("proxy output");
        assert!(proxied.status.success());
        outs.push((
            "record",
            common::Out {
                code: 0,
                stdout: String::from_utf8_lossy(&proxied.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&proxied.stderr).into_owned(),
            },
        ));
        outs.push((
            "certify",
            harness(
                &d,
                &[
                    "certify",
                    "fhir",
                    "--target",
                    &base,
                    "-vv",
                    "--format",
                    "json,junit,html",
                    "--out-dir",
                    "cert-out",
                    "--basic-user",
                    "alice",
                    "--basic-password-env",
                    "ALICE_PASSWORD",
                    "--secret-header",
                    "X-Api-Key=API_KEY",
                ],
                &env,
            ),
        ));
        outs
    })
    .await
    .expect("join");
    for (cmd, out) in &outs {
        assert!(
            out.code == 0 || (*cmd == "certify" && out.code == 1),
            "{cmd}: {}",
            out.all()
        );
    }
    let recorded = std::fs::read_to_string(dir.path().join("rec.yaml")).expect("recording");
    assert!(recorded.contains("POST /Patient"), "{recorded}");
    let issued = sb.auth.as_ref().expect("auth").issued_tokens();
    assert!(issued.len() >= 3, "{issued:?}");
    let mut secrets: Vec<String> = vec![
        CLIENT_SECRET.into(),
        BASIC_PASSWORD.into(),
        API_KEY.into(),
        bearer,
        // What `Authorization: Basic` carries.
        "YWxpY2U6YnAtNTJjOWUxYTdmMDNkNmI4NA==".into(),
    ];
    secrets.extend(issued);
    let pem = std::fs::read_to_string(key("ec-private.pem")).expect("pem");
    secrets.extend(
        pem.lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_string),
    );
    let mut texts: Vec<(String, String)> = outs
        .iter()
        .map(|(cmd, o)| (format!("{cmd} stdout+stderr"), o.all()))
        .collect();
    let mut files = Vec::new();
    collect_files(dir.path(), &mut files);
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        if f.ends_with("p.yaml") {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&f).expect("read")).into_owned();
        texts.push((f.display().to_string(), text));
    }
    for (what, text) in &texts {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "a secret ({}…) is in {what}",
                &s[..6]
            );
        }
    }
    sb.stop().await;
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}
