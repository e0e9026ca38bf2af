//! FHIR over HTTPS against the sandbox with certificates made in the test: a custom CA bundle,
//! mutual TLS, a wrong CA failing with a clear error, and `--insecure` named in the report.

use crate::common;

use common::{harness, read_json, repo, Pki};
use emr_sandbox::{self as sandbox, SandboxConfig};

async fn https_sandbox(pki: &Pki, mutual: bool) -> sandbox::RunningSandbox {
    sandbox::start(SandboxConfig {
        tls: Some((
            pki.path("server.pem"),
            pki.path("server-key.pem"),
            mutual.then(|| pki.path("ca.pem")),
        )),
        ..SandboxConfig::default()
    })
    .await
    .expect("https sandbox")
}

fn run(dir: &std::path::Path, base: &str, tls: &[&str]) -> common::Out {
    let scenario = repo().join("scenarios/fhir/patient-search.yaml");
    let mut args = vec![
        "run",
        scenario.to_str().expect("path"),
        "--target",
        base,
        "--golden",
        "golden",
        "--update",
        "--format",
        "json",
        "--out-dir",
        "reports",
    ];
    args.extend_from_slice(tls);
    harness(dir, &args, &[])
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_ca_mutual_tls_wrong_ca_and_insecure() {
    let pki = Pki::new();
    let sb = https_sandbox(&pki, true).await;
    assert!(sb.base_url.starts_with("https://"), "{}", sb.base_url);
    let dir = tempfile::tempdir().expect("tempdir");
    let (d, base) = (dir.path().to_path_buf(), sb.base_url.clone());
    let p = |n: &str| pki.path(n).display().to_string();
    let (ca, cert, key, other) = (
        p("ca.pem"),
        p("client.pem"),
        p("client-key.pem"),
        p("other-ca.pem"),
    );
    let (ok, no_client_cert, wrong_ca) = tokio::task::spawn_blocking({
        let (d, base) = (d.clone(), base.clone());
        move || {
            (
                run(
                    &d,
                    &base,
                    &[
                        "--ca-file",
                        &ca,
                        "--client-cert",
                        &cert,
                        "--client-key",
                        &key,
                    ],
                ),
                run(&d, &base, &["--ca-file", &ca]),
                run(
                    &d,
                    &base,
                    &[
                        "--ca-file",
                        &other,
                        "--client-cert",
                        &cert,
                        "--client-key",
                        &key,
                    ],
                ),
            )
        }
    })
    .await
    .expect("join");
    assert_eq!(ok.code, 0, "{}", ok.all());
    let report: serde_json::Value = read_json(&d.join("reports/emr-harness-report.json"));
    assert!(
        report.get("tls_insecure").is_none(),
        "verification was on: {report}"
    );
    assert_ne!(
        no_client_cert.code, 0,
        "mutual TLS must refuse a client without a certificate"
    );
    // An untrusted certificate is a TLS error with what to do about it, not "connection
    // refused": the target could not be talked to (exit 3).
    assert_eq!(wrong_ca.code, 3, "{}", wrong_ca.all());
    assert!(
        wrong_ca.stdout.contains("UnknownIssuer")
            && wrong_ca.stdout.contains("Tls")
            && wrong_ca.stdout.contains("--ca-file"),
        "the reason and the remedy are named: {}",
        wrong_ca.stdout
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_is_explicit_and_named_in_the_report() {
    let pki = Pki::new();
    let sb = https_sandbox(&pki, false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (d, base) = (dir.path().to_path_buf(), sb.base_url.clone());
    let (default, insecure) = tokio::task::spawn_blocking({
        let d = d.clone();
        move || (run(&d, &base, &[]), run(&d, &base, &["--insecure"]))
    })
    .await
    .expect("join");
    assert_ne!(
        default.code,
        0,
        "verification is on by default: {}",
        default.all()
    );
    assert_eq!(insecure.code, 0, "{}", insecure.all());
    assert!(
        insecure.stdout.contains("--insecure"),
        "{}",
        insecure.stdout
    );
    let report: serde_json::Value = read_json(&d.join("reports/emr-harness-report.json"));
    assert_eq!(report["tls_insecure"], true, "{report}");
    sb.stop().await;
}
