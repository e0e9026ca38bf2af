//! MLLP over real sockets: our client against misbehaving peers (written here as raw TCP servers),
//! against the third-party python-hl7 peer, and our sandbox listener checked by python-hl7's own
//! client, `mllp_send`.

use crate::common;

use std::time::Duration;

use common::{harness, read_json, repo, target_env, workspace};
use emr_core::hl7::Message;
use emr_transport::mllp::{FrameError, MllpClient, MllpCodec, MllpConfig, MllpError};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

const MSG: &str = "MSH|^~\\&|A|B|C|D|20260101||ADT^A08^ADT_A01|CTRL1|P|2.5.1\rEVN|A08|20260101\rPID|1||M1||Doe^Jane\rPV1|1|O\r";
const ACK: &[u8] = b"\x0bMSH|^~\\&|C|D|A|B|20260101||ACK^A08^ACK|X1|P|2.5.1\rMSA|AA|CTRL1\r\x1c\r";

/// A one-connection-at-a-time TCP peer running `behave` for each accepted connection.
async fn peer<F, Fut>(behave: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            behave(s).await;
        }
    });
    addr
}

/// Reads one MLLP frame from the client (so the peer answers only after a request).
async fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
        if buf.ends_with(&[0x1c, 0x0d]) {
            return Some(buf);
        }
    }
}

fn client(addr: &str) -> MllpClient {
    let mut cfg = MllpConfig::new(addr);
    cfg.read_timeout = Duration::from_millis(300);
    cfg.max_frame = 1024;
    MllpClient::new(cfg).expect("client")
}

#[tokio::test]
async fn ack_split_across_many_reads_is_reassembled() {
    let addr = peer(|mut s| async move {
        while read_frame(&mut s).await.is_some() {
            for chunk in ACK.chunks(3) {
                let _ = s.write_all(chunk).await;
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    })
    .await;
    let mut c = client(&addr);
    for _ in 0..3 {
        let ack = c.send(MSG.as_bytes()).await.expect("ack");
        assert_eq!(
            Message::parse(&String::from_utf8_lossy(&ack))
                .expect("ack parses")
                .value("MSA-2")
                .as_deref(),
            Some("CTRL1")
        );
    }
    assert_eq!(c.connections, 1, "one connection carried every message");
}

#[tokio::test]
async fn two_frames_in_one_read_are_two_messages() {
    let addr = peer(|mut s| async move {
        let mut two = ACK.to_vec();
        two.extend_from_slice(ACK);
        let _ = s.write_all(&two).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await;
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let mut frames = FramedRead::new(stream, MllpCodec::default());
    assert!(frames.next().await.expect("first").is_ok());
    assert!(frames.next().await.expect("second").is_ok());
}

#[tokio::test]
async fn missing_end_block_is_a_clear_error() {
    let addr = peer(|mut s| async move {
        if read_frame(&mut s).await.is_some() {
            let _ = s.write_all(b"\x0bMSH|^~\\&|never ends").await;
        }
    })
    .await;
    let err = client(&addr)
        .send(MSG.as_bytes())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, MllpError::Frame(FrameError::Unterminated(_))),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("closed in the middle of an MLLP frame"),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_frame_is_refused() {
    let addr = peer(|mut s| async move {
        if read_frame(&mut s).await.is_some() {
            let mut big = vec![0x0b];
            big.extend(std::iter::repeat_n(b'X', 4096));
            let _ = s.write_all(&big).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let err = client(&addr)
        .send(MSG.as_bytes())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, MllpError::Frame(FrameError::Oversized(1024))),
        "{err}"
    );
}

#[tokio::test]
async fn silent_peer_times_out() {
    let addr = peer(|mut s| async move {
        let _ = read_frame(&mut s).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let started = std::time::Instant::now();
    let err = client(&addr)
        .send(MSG.as_bytes())
        .await
        .expect_err("must fail");
    assert!(matches!(err, MllpError::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn bytes_outside_a_frame_and_closing_without_answer() {
    let addr = peer(|mut s| async move {
        if read_frame(&mut s).await.is_some() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    })
    .await;
    let err = client(&addr)
        .send(MSG.as_bytes())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, MllpError::Frame(FrameError::OutsideFrame(_))),
        "{err}"
    );

    let addr = peer(|mut s| async move {
        let _ = read_frame(&mut s).await; // read, then hang up without an ACK
    })
    .await;
    let err = client(&addr)
        .send(MSG.as_bytes())
        .await
        .expect_err("must fail");
    assert!(matches!(err, MllpError::PeerClosed), "{err}");
}

#[tokio::test]
async fn reconnects_when_the_peer_drops_idle_connections() {
    let addr = peer(|mut s| async move {
        if read_frame(&mut s).await.is_some() {
            let _ = s.write_all(ACK).await;
        }
        // then close: every connection carries exactly one message
    })
    .await;
    let mut c = client(&addr);
    for _ in 0..3 {
        c.send(MSG.as_bytes()).await.expect("ack after reconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.connections, 3);
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let err = client(&addr)
        .send(MSG.as_bytes())
        .await
        .expect_err("must fail");
    assert_eq!(err.kind(), "connect");
}

// ---------------------------------------------------------------- third-party peer (python-hl7)

#[tokio::test]
async fn python_hl7_peer_acks_many_messages_on_one_connection() {
    let Some(addr) = target_env("EMR_HARNESS_HL7_PEER") else {
        return;
    };
    let mut c = client(&addr);
    for i in 0..200 {
        let msg = MSG.replace("CTRL1", &format!("PY{i}"));
        let ack = c.send(msg.as_bytes()).await.expect("ack");
        let ack = Message::parse(&String::from_utf8_lossy(&ack)).expect("ack parses");
        assert_eq!(ack.value("MSA-1").as_deref(), Some("AA"));
        assert_eq!(ack.value("MSA-2"), Some(format!("PY{i}")));
    }
    assert_eq!(c.connections, 1);
}

const PEER_SCENARIO: &str = r#"name: python peer
steps:
  - name: first admit
    hl7:
      message: |
        MSH|^~\&|A|B|C|D|{{ now.hl7 }}||ADT^A01^ADT_A01|{{ uuid }}|P|2.5.1
        EVN|A01|20260101
        PID|1||{{ fake.mrn }}||{{ fake.family }}^{{ fake.given }}
        PV1|1|I
    expect: { ack: AA, ack_type: false }
  - name: not HL7 at all
    hl7:
      check_structure: false
      message: "this is not an HL7 message"
  - name: admit after the peer hung up
    hl7:
      message: |
        MSH|^~\&|A|B|C|D|{{ now.hl7 }}||ADT^A01^ADT_A01|{{ uuid }}|P|2.5.1
        EVN|A01|20260101
        PID|1||{{ fake.mrn }}||{{ fake.family }}^{{ fake.given }}
        PV1|1|I
    expect: { ack: AA, ack_type: false }
"#;

/// The peer closes the connection on input that is not HL7: the harness reports that step as
/// failed with the reason, reconnects, and the run goes on.
#[test]
fn python_hl7_peer_hangs_up_on_garbage_and_the_run_goes_on() {
    let Some(addr) = target_env("EMR_HARNESS_HL7_PEER") else {
        return;
    };
    let ws = workspace(&[("peer.yaml", PEER_SCENARIO)]);
    let out = harness(
        ws.path(),
        &[
            "run",
            "peer.yaml",
            "--mllp",
            &addr,
            "--timeout",
            "5s",
            "--format",
            "json",
            "--out-dir",
            ".",
        ],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    let report = emr_runner::report::json::from_str(
        &std::fs::read_to_string(ws.path().join("emr-harness-report.json")).expect("report"),
    )
    .expect("parses");
    let steps = &report.scenarios[0].steps;
    let statuses: Vec<&str> = steps.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(statuses, ["passed", "error", "passed"], "{}", out.stdout);
    let err = steps[1].error.as_ref().expect("error");
    assert_eq!(
        err.message,
        "the peer closed the connection without answering"
    );
}

// ---------------------------------------------------------------- our listener, their client

#[tokio::test]
async fn sandbox_listener_answers_python_hl7_mllp_send() {
    let mllp_send = repo().join(".venv-targets/bin/mllp_send");
    if !mllp_send.exists() {
        eprintln!(
            "SKIPPED: {} is not installed (bash .ci/targets.sh install)",
            mllp_send.display()
        );
        return;
    }
    let sb = emr_sandbox::start(Default::default())
        .await
        .expect("sandbox");
    let port = sb.mllp_addr.expect("listener").port().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("msgs.hl7");
    // Two messages, each ended by the MLLP end block as mllp_send's file mode expects.
    let text = format!(
        "{}\x1c{}\x1c",
        MSG.replace("CTRL1", "PYSEND1"),
        MSG.replace("CTRL1", "PYSEND2")
    );
    std::fs::write(&file, text).expect("write");
    let out = tokio::process::Command::new(&mllp_send)
        .args(["-p", &port, "-f", &file.to_string_lossy(), "127.0.0.1"])
        .output()
        .await
        .expect("run mllp_send");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acks: Vec<Message> = stdout
        .split(['\x0b', '\x1c'])
        .map(str::trim)
        .filter(|s| s.starts_with("MSH"))
        .map(|s| Message::parse(s).expect("ACK parses"))
        .collect();
    assert_eq!(acks.len(), 2, "{stdout:?}");
    assert_eq!(acks[0].value("MSA-1").as_deref(), Some("AA"));
    assert_eq!(acks[0].value("MSA-2").as_deref(), Some("PYSEND1"));
    assert_eq!(acks[1].value("MSA-2").as_deref(), Some("PYSEND2"));
    assert_eq!(acks[1].message_type(), "ACK^A08");
    sb.stop().await;
}

// ---------------------------------------------------------------- sandbox listener behaviour

const FAULT_SCENARIO: &str = r#"name: faults
steps:
  - name: one
    hl7:
      message: |
        MSH|^~\&|A|B|C|D|{{ now.hl7 }}||ADT^A08^ADT_A01|{{ uuid }}|P|2.5.1
        EVN|A08|20260101
        PID|1||{{ fake.mrn }}||Doe^Jane
        PV1|1|O
  - name: two
    hl7:
      message: |
        MSH|^~\&|A|B|C|D|{{ now.hl7 }}||ADT^A08^ADT_A01|{{ uuid }}|P|2.5.1|||AL|NE
        EVN|A08|20260101
        PID|1||{{ fake.mrn }}||Doe^Jane
        PV1|1|O
"#;

#[test]
fn sandbox_listener_fault_injection_and_enhanced_mode() {
    let ws = workspace(&[("f.yaml", FAULT_SCENARIO)]);
    // Healthy: AA for original mode, CA for enhanced mode (MSH-15 set); both accepted by default.
    let out = harness(
        ws.path(),
        &["run", "f.yaml", "--format", "json", "--out-dir", "."],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let report = emr_runner::report::json::from_str(
        &std::fs::read_to_string(ws.path().join("emr-harness-report.json")).expect("report"),
    )
    .expect("parses");
    let acks: Vec<Option<String>> = report.scenarios[0]
        .steps
        .iter()
        .map(|s| s.response.as_ref().and_then(|r| r.ack.clone()))
        .collect();
    assert_eq!(acks, [Some("AA".to_string()), Some("CA".to_string())]);

    let out = harness(ws.path(), &["run", "f.yaml", "--fault-nak-rate", "1"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("expect.ack: expected AA or CA, got AE"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("injected fault: application error"),
        "{}",
        out.stdout
    );

    let out = harness(ws.path(), &["run", "f.yaml", "--fault-drop-rate", "1"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(
        out.stdout
            .matches("Reset: the peer closed the connection without answering")
            .count(),
        2,
        "{}",
        out.stdout
    );
}

/// hl7apy's MLLP server closes the connection after every message (as several interface engines
/// do): ten messages give ten passes on ten connections, nine of them reopened after the peer
/// hung up, and the report counts them.
#[test]
fn a_peer_that_closes_after_every_ack_is_reconnected_to() {
    let Some(peer) = target_env("EMR_HARNESS_HL7APY_PEER") else {
        return;
    };
    let step = |i: usize| {
        format!(
            "  - name: admit {i}\n    hl7:\n      message: |\n        MSH|^~\\&|A|B|C|D|{{{{ now.hl7 }}}}||ADT^A01^ADT_A01|{{{{ uuid }}}}|P|2.5.1\n        EVN|A01|{{{{ now.hl7 }}}}\n        PID|1||{{{{ fake.mrn }}}}^^^H^MR||Doe^Jane\n        PV1|1|I\n"
        )
    };
    let steps: String = (1..=10).map(step).collect();
    let dir = workspace(&[("apy.yaml", &format!("name: hl7apy\nsteps:\n{steps}"))]);
    let out = harness(
        dir.path(),
        &[
            "run",
            "apy.yaml",
            "--mllp",
            &peer,
            "--format",
            "json",
            "--out-dir",
            "out",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("10 passed"), "{}", out.stdout);
    let report: serde_json::Value = read_json(&dir.path().join("out/emr-harness-report.json"));
    assert_eq!(report["mllp"]["messages"], 10, "{}", report["mllp"]);
    assert_eq!(report["mllp"]["connections"], 10, "{}", report["mllp"]);
    assert_eq!(report["mllp"]["reconnects"], 9, "{}", report["mllp"]);
    let noted = report["scenarios"][0]["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|st| st["notes"].to_string().contains("closed the connection"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(noted, 9);
}
