//! MLLP over TLS against the sandbox listener, with certificates made in the test (rcgen):
//! verification on by default, a custom CA, mutual TLS, and a wrong CA failing clearly.

use std::path::Path;

use crate::common;
use common::Pki;

use emr_core::hl7::Message;
use emr_sandbox::{self as sandbox, SandboxConfig};
use emr_transport::mllp::{MllpClient, MllpConfig};
use emr_transport::tls::TlsOptions;

const MSG: &str = "MSH|^~\\&|A|B|C|D|20260101||ADT^A08^ADT_A01|TLS1|P|2.5.1\rEVN|A08|20260101\rPID|1||M1||Doe^Jane\rPV1|1|O\r";

async fn tls_sandbox(pki: &Pki, mutual: bool) -> sandbox::RunningSandbox {
    let client_ca = mutual.then(|| pki.path("ca.pem"));
    sandbox::start(SandboxConfig {
        mllp_tls: Some((
            pki.path("server.pem"),
            pki.path("server-key.pem"),
            client_ca,
        )),
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox with TLS")
}

async fn send(addr: &str, tls: TlsOptions) -> Result<Message, String> {
    let mut cfg = MllpConfig::new(addr);
    cfg.tls = Some(tls);
    let mut c = MllpClient::new(cfg).map_err(|e| e.to_string())?;
    let ack = c
        .send(MSG.as_bytes())
        .await
        .map_err(|e| format!("{} ({})", e, e.kind()))?;
    Message::parse(&String::from_utf8_lossy(&ack)).map_err(|e| e.to_string())
}

fn opts(ca: Option<&Path>) -> TlsOptions {
    TlsOptions {
        ca_file: ca.map(Path::to_path_buf),
        ..Default::default()
    }
}

#[tokio::test]
async fn tls_with_our_ca_is_verified_and_acked() {
    let pki = Pki::new();
    let sb = tls_sandbox(&pki, false).await;
    let addr = sb.mllp_addr.expect("listener").to_string();
    let ack = send(&addr, opts(Some(&pki.path("ca.pem"))))
        .await
        .expect("ACK over TLS");
    assert_eq!(ack.value("MSA-2").as_deref(), Some("TLS1"));

    let err = send(&addr, opts(Some(&pki.path("other-ca.pem"))))
        .await
        .expect_err("wrong CA must fail");
    assert!(
        err.starts_with("TLS: invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    assert!(err.ends_with("(tls)"), "{err}");

    // The public web roots do not know our CA either: verification is on by default.
    assert!(send(&addr, TlsOptions::default()).await.is_err());
    // ... unless the user explicitly turns it off.
    let insecure = TlsOptions {
        insecure: true,
        ..Default::default()
    };
    assert!(send(&addr, insecure).await.is_ok());
    sb.stop().await;
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate() {
    let pki = Pki::new();
    let sb = tls_sandbox(&pki, true).await;
    let addr = sb.mllp_addr.expect("listener").to_string();
    assert!(
        send(&addr, opts(Some(&pki.path("ca.pem")))).await.is_err(),
        "no client certificate: refused"
    );
    let mutual = TlsOptions {
        ca_file: Some(pki.path("ca.pem")),
        client_cert: Some(pki.path("client.pem")),
        client_key: Some(pki.path("client-key.pem")),
        ..Default::default()
    };
    let ack = send(&addr, mutual).await.expect("ACK over mutual TLS");
    assert_eq!(ack.value("MSA-1").as_deref(), Some("AA"));
    sb.stop().await;
}
