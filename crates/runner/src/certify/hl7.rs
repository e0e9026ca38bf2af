//! `certify hl7`: HL7 v2 acknowledgement rules (HL7 v2.5.1 chapter 2) and MLLP transport behaviour,
//! judged against any MLLP endpoint. Every check opens its own connection and sends messages with
//! a run-unique control id and patient identifier; v2 has no delete, so the data a check sends
//! stays behind on the receiver (a test patient per run, named CERTIFY).
//!
//! Each check judges one rule only, so an endpoint that breaks one rule fails exactly one check
//! (the sandbox's `--fault-break` modes rely on this).

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Framed;

use super::{CertReport, CheckOutcome, Exchange, Verdict};
use emr_core::hl7::Message;
use emr_transport::mllp::{MllpClient, MllpCodec, MllpConfig};

pub struct Ctx {
    config: MllpConfig,
    /// Run tag in every control id and identifier, so runs never collide on the receiver.
    tag: String,
    sent: usize,
}

type Judged = (Verdict, String, Vec<Exchange>);
type CheckFn = for<'a> fn(&'a mut Ctx) -> BoxFuture<'a, Judged>;

struct Def {
    id: &'static str,
    area: &'static str,
    title: &'static str,
    spec: &'static str,
    run: CheckFn,
}

const ORIGINAL: &str = "original-mode acknowledgement";
const ENHANCED: &str = "enhanced-mode acknowledgement";
const TRANSPORT: &str = "MLLP transport";

const CHECKS: &[Def] = &[
    Def {
        id: "hl7.original.accept",
        area: ORIGINAL,
        title: "A valid message is accepted: MSA-1 = AA",
        spec: "HL7 v2.5.1 Ch. 2 §2.9.2 (original processing rules)",
        run: accept,
    },
    Def {
        id: "hl7.original.msa2",
        area: ORIGINAL,
        title: "The ACK names the message it answers: MSA-2 = the sent MSH-10",
        spec: "HL7 v2.5.1 Ch. 2 §2.15.8 (MSA-2 message control ID)",
        run: msa2,
    },
    Def {
        id: "hl7.original.ack-header",
        area: ORIGINAL,
        title: "The ACK is addressed back: ACK MSH-5/6 = sent MSH-3/4, MSH-9 = ACK",
        spec: "HL7 v2.5.1 Ch. 2 §2.15.9 (MSH) and §2.9.2",
        run: ack_header,
    },
    Def {
        id: "hl7.original.error",
        area: ORIGINAL,
        title: "A message that breaks its structure (ADT^A01 without PID) is answered AE or AR with ERR",
        spec: "HL7 v2.5.1 Ch. 2 §2.9.2 and §2.15.5 (ERR)",
        run: malformed,
    },
    Def {
        id: "hl7.original.unsupported-type",
        area: ORIGINAL,
        title: "An unsupported message type (ZZZ^Z99) is rejected: AR",
        spec: "HL7 v2.5.1 Ch. 2 §2.9.2 (MSH-9 not acceptable → AR; table 0357 code 200)",
        run: unsupported_type,
    },
    Def {
        id: "hl7.original.version",
        area: ORIGINAL,
        title: "An unsupported version (MSH-12 = 9.9) is rejected: AR",
        spec: "HL7 v2.5.1 Ch. 2 §2.9.2 (MSH-12 not acceptable → AR; table 0357 code 203)",
        run: version,
    },
    Def {
        id: "hl7.original.processing-id",
        area: ORIGINAL,
        title: "An unknown processing ID (MSH-11 = X) is rejected: AR",
        spec: "HL7 v2.5.1 Ch. 2 §2.9.2 (MSH-11 not acceptable → AR; table 0357 code 202)",
        run: processing_id,
    },
    Def {
        id: "hl7.original.duplicate",
        area: ORIGINAL,
        title: "A repeated control ID (a retransmission) is answered again, or rejected with ERR",
        spec: "HL7 v2.5.1 Ch. 2 §2.9.2 (the sender retransmits when no ACK arrives)",
        run: duplicate,
    },
    Def {
        id: "hl7.enhanced.commit",
        area: ENHANCED,
        title: "MSH-15 = AL asks for a commit ACK: MSA-1 = CA",
        spec: "HL7 v2.5.1 Ch. 2 §2.9.3 (enhanced acknowledgement)",
        run: enhanced_commit,
    },
    Def {
        id: "hl7.enhanced.reject",
        area: ENHANCED,
        title: "Enhanced mode, unsupported message type: MSA-1 = CR",
        spec: "HL7 v2.5.1 Ch. 2 §2.9.3 (commit reject)",
        run: enhanced_reject,
    },
    Def {
        id: "hl7.mllp.split",
        area: TRANSPORT,
        title: "A frame split across four TCP segments is reassembled and answered",
        spec: "HL7 MLLP Release 2, block format (a frame is a byte stream, not a packet)",
        run: split_frame,
    },
    Def {
        id: "hl7.mllp.many",
        area: TRANSPORT,
        title: "Ten messages on one connection are each answered, without a reconnect",
        spec: "HL7 MLLP Release 2 (a connection carries consecutive messages)",
        run: many_on_one_connection,
    },
];

/// Runs the whole suite against `config.addr`.
pub async fn run(config: MllpConfig) -> CertReport {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let mut report = CertReport::new("hl7", &config.addr, started);
    let tag = format!("{:08X}", rand::random::<u32>());
    let mut ctx = Ctx {
        config,
        tag,
        sent: 0,
    };
    for def in CHECKS {
        let t = Instant::now();
        let (verdict, reason, evidence) = (def.run)(&mut ctx).await;
        tracing::info!(check = def.id, verdict = verdict.as_str(), %reason);
        report.checks.push(CheckOutcome {
            id: def.id.into(),
            area: def.area.into(),
            title: def.title.into(),
            spec: def.spec.into(),
            verdict,
            reason,
            duration_ms: t.elapsed().as_secs_f64() * 1e3,
            evidence,
        });
    }
    report.duration_ms = clock.elapsed().as_secs_f64() * 1e3;
    report.score();
    report
}

/// How a test message differs from a valid ADT^A01.
#[derive(Default, Clone, Copy)]
struct Variant {
    message_type: Option<&'static str>,
    version: Option<&'static str>,
    processing_id: Option<&'static str>,
    enhanced: bool,
    without_pid: bool,
}

impl Ctx {
    fn control_id(&mut self) -> String {
        self.sent += 1;
        format!("EH{}{:03}", self.tag, self.sent)
    }

    fn message(&mut self, v: Variant) -> (String, String) {
        let ctrl = self.control_id();
        let ts = chrono::Utc::now().format("%Y%m%d%H%M%S");
        let mtype = v.message_type.unwrap_or("ADT^A01^ADT_A01");
        let mut text = format!(
            "MSH|^~\\&|EMRHARNESS|CERTIFY|EMR|HOSP|{ts}||{mtype}|{ctrl}|{}|{}",
            v.processing_id.unwrap_or("P"),
            v.version.unwrap_or("2.5.1"),
        );
        if v.enhanced {
            text.push_str("|||AL|NE");
        }
        text.push_str(&format!("\rEVN|A01|{ts}\r"));
        if !v.without_pid {
            text.push_str(&format!(
                "PID|1||CERT{}^^^CERTIFY^MR||CERTIFY^PATIENT||19700101|F\r",
                self.tag
            ));
        }
        text.push_str(&format!("PV1|1|I|W1^101^A||||||||||||||||V{}\r", self.tag));
        (text, ctrl)
    }

    fn client(&self) -> Result<MllpClient, String> {
        MllpClient::new(self.config.clone()).map_err(|e| e.to_string())
    }

    /// Sends one message on a fresh connection.
    async fn exchange(&mut self, v: Variant) -> (Exchange, Result<Message, String>, String) {
        let (text, ctrl) = self.message(v);
        let mut client = match self.client() {
            Ok(c) => c,
            Err(e) => return (exchange(&text, None, Some(&e)), Err(e), ctrl),
        };
        let (ex, ack) = send(&mut client, &text).await;
        (ex, ack, ctrl)
    }
}

fn exchange(sent: &str, received: Option<&str>, error: Option<&str>) -> Exchange {
    Exchange {
        sent: sent.to_string(),
        received: received.map(str::to_string),
        error: error.map(str::to_string),
    }
}

/// Sends `text` and parses the answer; the error is the reason there is no usable ACK.
async fn send(client: &mut MllpClient, text: &str) -> (Exchange, Result<Message, String>) {
    match client.send(text.as_bytes()).await {
        Err(e) => {
            let e = format!("no ACK: {e}");
            (exchange(text, None, Some(&e)), Err(e))
        }
        Ok(bytes) => {
            let got = String::from_utf8_lossy(&bytes).into_owned();
            match Message::parse(&got) {
                Ok(m) => (exchange(text, Some(&got), None), Ok(m)),
                Err(e) => {
                    let e = format!("the answer is not an HL7 message: {e}");
                    (exchange(text, Some(&got), Some(&e)), Err(e))
                }
            }
        }
    }
}

fn msa(ack: &Message, n: usize) -> String {
    ack.value(&format!("MSA-{n}")).unwrap_or_default()
}

fn has_err(ack: &Message) -> bool {
    ack.segment("ERR", 1).is_some()
}

fn err_code(ack: &Message) -> String {
    ack.value("ERR-3.1").unwrap_or_default()
}

fn judged(verdict: Verdict, reason: impl Into<String>, evidence: Exchange) -> Judged {
    (verdict, reason.into(), vec![evidence])
}

/// The common shape: send one variant, judge its ACK with `judge`; no ACK is an error.
async fn one(
    ctx: &mut Ctx,
    v: Variant,
    judge: impl FnOnce(&Message, &str) -> (Verdict, String),
) -> Judged {
    let (ex, ack, ctrl) = ctx.exchange(v).await;
    match ack {
        Err(e) => judged(Verdict::Error, e, ex),
        Ok(ack) => {
            if let Some(stale) = answers_another(&ack, &ctrl) {
                return judged(Verdict::Fail, stale, ex);
            }
            let (verdict, reason) = judge(&ack, &ctrl);
            judged(verdict, reason, ex)
        }
    }
}

/// Why `ack` is not the answer to the message sent with control id `ctrl` (MSA-2 names
/// another): a peer answering with an earlier message's ACK passes any check that looks only at
/// MSA-1. `None` when it is the answer.
fn answers_another(ack: &Message, ctrl: &str) -> Option<String> {
    let got = msa(ack, 2);
    (got != ctrl).then(|| {
        format!(
            "the ACK answers another message: MSA-2 = {got:?}, but the message sent was {ctrl:?}"
        )
    })
}

/// Judges MSA-1 against the wanted codes; `need_err` also asks for an ERR segment.
fn code_in(ack: &Message, wanted: &[&str], need_err: bool) -> (Verdict, String) {
    let code = msa(ack, 1);
    let detail = if has_err(ack) {
        format!(" with ERR (code {:?})", err_code(ack))
    } else {
        " without ERR".to_string()
    };
    if !wanted.contains(&code.as_str()) {
        let want = wanted.join(" or ");
        return (
            Verdict::Fail,
            format!("answered {code:?}{detail}; expected {want}"),
        );
    }
    if need_err && !has_err(ack) {
        return (
            Verdict::Fail,
            format!("answered {code} but without an ERR segment saying why"),
        );
    }
    (Verdict::Pass, format!("answered {code}{detail}"))
}

fn accept(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    Box::pin(one(ctx, Variant::default(), |ack, _| {
        code_in(ack, &["AA"], false)
    }))
}

fn msa2(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    Box::pin(one(ctx, Variant::default(), |ack, ctrl| {
        let got = msa(ack, 2);
        if got == ctrl {
            (Verdict::Pass, format!("MSA-2 = {ctrl:?}"))
        } else {
            (
                Verdict::Fail,
                format!("MSA-2 = {got:?}, but the message's MSH-10 was {ctrl:?}"),
            )
        }
    }))
}

fn ack_header(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    Box::pin(one(ctx, Variant::default(), |ack, _| {
        let mut wrong = Vec::new();
        for (field, want) in [
            ("MSH-5", "EMRHARNESS"),
            ("MSH-6", "CERTIFY"),
            ("MSH-9.1", "ACK"),
        ] {
            let got = ack.value(field).unwrap_or_default();
            if got != want {
                wrong.push(format!("{field} = {got:?}, expected {want:?}"));
            }
        }
        if ack.value("MSH-10").unwrap_or_default().is_empty() {
            wrong.push("the ACK has no control ID of its own (MSH-10)".into());
        }
        if wrong.is_empty() {
            (
                Verdict::Pass,
                "addressed to the sender (MSH-5/6), MSH-9 = ACK, own MSH-10".into(),
            )
        } else {
            (Verdict::Fail, wrong.join("; "))
        }
    }))
}

fn malformed(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    let v = Variant {
        without_pid: true,
        ..Default::default()
    };
    Box::pin(one(ctx, v, |ack, _| code_in(ack, &["AE", "AR"], true)))
}

fn unsupported_type(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    let v = Variant {
        message_type: Some("ZZZ^Z99^ZZZ_Z99"),
        ..Default::default()
    };
    Box::pin(one(ctx, v, |ack, _| code_in(ack, &["AR"], false)))
}

fn version(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    let v = Variant {
        version: Some("9.9"),
        ..Default::default()
    };
    Box::pin(one(ctx, v, |ack, _| code_in(ack, &["AR"], false)))
}

fn processing_id(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    let v = Variant {
        processing_id: Some("X"),
        ..Default::default()
    };
    Box::pin(one(ctx, v, |ack, _| code_in(ack, &["AR"], false)))
}

fn enhanced_commit(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    let v = Variant {
        enhanced: true,
        ..Default::default()
    };
    Box::pin(one(ctx, v, |ack, _| code_in(ack, &["CA"], false)))
}

fn enhanced_reject(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    let v = Variant {
        enhanced: true,
        message_type: Some("ZZZ^Z99^ZZZ_Z99"),
        ..Default::default()
    };
    Box::pin(one(ctx, v, |ack, _| code_in(ack, &["CR"], false)))
}

fn duplicate(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    Box::pin(async move {
        let (text, ctrl) = ctx.message(Variant::default());
        let mut client = match ctx.client() {
            Ok(c) => c,
            Err(e) => return judged(Verdict::Error, e.clone(), exchange(&text, None, Some(&e))),
        };
        let (first, ack) = send(&mut client, &text).await;
        let first_ack = match ack {
            Ok(a) => a,
            Err(e) => {
                return (
                    Verdict::Error,
                    format!("the first send got {e}"),
                    vec![first],
                )
            }
        };
        if let Some(stale) = answers_another(&first_ack, &ctrl) {
            return (Verdict::Fail, stale, vec![first]);
        }
        let (second, ack) = send(&mut client, &text).await;
        let evidence = vec![first, second];
        let ack = match ack {
            Ok(a) => a,
            Err(e) => {
                let reason = format!("the retransmission got {e}: a sender retrying after a lost ACK would hang or resend forever");
                return (Verdict::Fail, reason, evidence);
            }
        };
        if let Some(stale) = answers_another(&ack, &ctrl) {
            return (Verdict::Fail, stale, evidence);
        }
        let code = msa(&ack, 1);
        let (verdict, reason) = match code.as_str() {
            "AA" | "CA" => (
                Verdict::Pass,
                format!("acknowledged again ({code}); whether it was processed twice is not visible over MLLP"),
            ),
            "AE" | "AR" | "CE" | "CR" if has_err(&ack) => (
                Verdict::Pass,
                format!("detected as a duplicate: {code} with ERR (code {:?})", err_code(&ack)),
            ),
            other => (
                Verdict::Fail,
                format!("answered {other:?} without an ERR segment saying why"),
            ),
        };
        (verdict, reason, evidence)
    })
}

fn split_frame(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    Box::pin(async move {
        let (text, ctrl) = ctx.message(Variant::default());
        if ctx.config.tls.is_some() {
            return judged(
                Verdict::Skip,
                "needs plain TCP: over TLS the record layer decides the segments",
                exchange(&text, None, None),
            );
        }
        let frame = [&[0x0b][..], text.as_bytes(), &[0x1c, 0x0d]].concat();
        match split_send(&ctx.config, &frame).await {
            Err(e) => judged(Verdict::Error, e.clone(), exchange(&text, None, Some(&e))),
            Ok(Err(e)) => judged(
                Verdict::Fail,
                format!("no ACK for a frame sent in 4 segments: {e}"),
                exchange(&text, None, Some(&e)),
            ),
            Ok(Ok(got)) => {
                let ex = exchange(&text, Some(&got), None);
                match Message::parse(&got) {
                    Err(e) => judged(Verdict::Fail, format!("the answer does not parse: {e}"), ex),
                    Ok(ack) if answers_another(&ack, &ctrl).is_some() => judged(
                        Verdict::Fail,
                        answers_another(&ack, &ctrl).unwrap_or_default(),
                        ex,
                    ),
                    Ok(ack) => {
                        let (verdict, reason) = code_in(&ack, &["AA"], false);
                        judged(
                            verdict,
                            format!("sent in 4 segments 50 ms apart; {reason}"),
                            ex,
                        )
                    }
                }
            }
        }
    })
}

/// Writes `frame` in four pieces with pauses, so the receiver sees separate TCP segments.
/// Outer error: could not connect; inner: connected but no ACK.
async fn split_send(config: &MllpConfig, frame: &[u8]) -> Result<Result<String, String>, String> {
    let stream = tokio::time::timeout(
        config.connect_timeout,
        tokio::net::TcpStream::connect(&config.addr),
    )
    .await
    .map_err(|_| format!("cannot connect to {}: timed out", config.addr))?
    .map_err(|e| format!("cannot connect to {}: {e}", config.addr))?;
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, MllpCodec::default());
    let quarter = frame.len().div_ceil(4);
    for piece in frame.chunks(quarter) {
        if let Err(e) = framed.get_mut().write_all(piece).await {
            return Ok(Err(format!("write failed: {e}")));
        }
        let _ = framed.get_mut().flush().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = tokio::time::timeout(config.read_timeout, framed.next()).await;
    let _ = framed.close().await;
    Ok(match answer {
        Err(_) => Err(format!("no ACK within {:?}", config.read_timeout)),
        Ok(None) => Err("the peer closed the connection".into()),
        Ok(Some(Err(e))) => Err(e.to_string()),
        Ok(Some(Ok(bytes))) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
    })
}

fn many_on_one_connection(ctx: &mut Ctx) -> BoxFuture<'_, Judged> {
    Box::pin(async move {
        const N: usize = 10;
        let mut client = match ctx.client() {
            Ok(c) => c,
            Err(e) => return judged(Verdict::Error, e.clone(), exchange("", None, Some(&e))),
        };
        let mut evidence = Vec::new();
        let mut answered = 0;
        let mut problems = Vec::new();
        for i in 0..N {
            let (text, ctrl) = ctx.message(Variant::default());
            let (ex, ack) = send(&mut client, &text).await;
            // Keep the first and any that went wrong: ten identical exchanges say nothing more.
            let keep = i == 0;
            let failed = ex.error.is_some();
            if keep || failed {
                evidence.push(ex);
            }
            match ack {
                Ok(a) if answers_another(&a, &ctrl).is_some() => problems.push(format!(
                    "message {}: {}",
                    i + 1,
                    answers_another(&a, &ctrl).unwrap_or_default()
                )),
                Ok(a) if msa(&a, 1) == "AA" => answered += 1,
                Ok(a) => problems.push(format!("message {} answered {:?}", i + 1, msa(&a, 1))),
                // Nothing answered at all: the endpoint is unreachable, not judged.
                Err(e) if i == 0 => return (Verdict::Error, e, evidence),
                Err(e) => {
                    problems.push(format!("message {}: {e}", i + 1));
                    break;
                }
            }
        }
        let reconnects = client.connections.saturating_sub(1).max(client.reconnects);
        if reconnects > 0 {
            problems.push(format!(
                "the connection had to be reopened {reconnects} time(s)"
            ));
        }
        let verdict = if problems.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        let reason = if problems.is_empty() {
            format!("{answered} of {N} answered AA on one connection")
        } else {
            format!("{answered} of {N} answered AA; {}", problems.join("; "))
        };
        (verdict, reason, evidence)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_messages_are_valid_and_unique() {
        let mut ctx = Ctx {
            config: MllpConfig::new("127.0.0.1:1"),
            tag: "ABCD1234".into(),
            sent: 0,
        };
        let (a, ca) = ctx.message(Variant::default());
        let (_, cb) = ctx.message(Variant::default());
        assert_ne!(ca, cb);
        let m = Message::parse(&a).unwrap();
        let errors: Vec<String> = emr_validate::hl7v2::validate(&m, &Default::default())
            .errors()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(errors, Vec::<String>::new(), "{a}");
        assert_eq!(m.control_id(), ca);
        let (bad, _) = ctx.message(Variant {
            without_pid: true,
            ..Default::default()
        });
        let m = Message::parse(&bad).unwrap();
        assert!(emr_validate::hl7v2::validate(&m, &Default::default())
            .errors()
            .next()
            .is_some());
    }
}
