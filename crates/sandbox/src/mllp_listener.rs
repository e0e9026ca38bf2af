//! The sandbox's MLLP listener: ACKs every message on a connection that stays open for many
//! messages; AR for what it cannot parse or does not support, AE for a message that breaks the
//! structure rules, each with an ERR segment; AA otherwise, after feeding the FHIR store.
//! Enhanced mode (MSH-15 set): the same decisions as commit ACKs CA/CE/CR.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rand::RngExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;

use super::fault::Rule;
use super::fhir_api::AppState;
use super::serve::ConnLimits;
use super::v2_to_fhir;
use super::Faults;
use emr_core::hl7::ack::{build_ack, build_reject, AckError};
use emr_core::hl7::Message;
use emr_transport::mllp::MllpCodec;
use emr_validate::hl7v2::{self, Severity};

// The sandbox takes any message of a version it has the standard's definitions for (2.3 to
// 2.8.2; others are answered AR, 203 unsupported version id) whose type names a structure of
// that version (others AR, 200 unsupported message type), and answers AA when the message meets
// its structure and fields, AE with the first broken rule otherwise.

/// Processing IDs (MSH-11.1, HL7 table 0103): production, training, debugging.
const PROCESSING_IDS: &[&str] = &["P", "T", "D"];

static CONTROL: AtomicU64 = AtomicU64::new(1);

pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<AppState>,
    faults: Faults,
    limits: ConnLimits,
    shutdown: watch::Receiver<bool>,
) {
    let mut stop = shutdown.clone();
    // The same bounds as the HTTP side (see `serve.rs`): a cap on connections, a timeout on the
    // TLS handshake and on a connection that sends no complete message.
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p,
            _ = stopped(&mut stop) => return,
        };
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped(&mut stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "MLLP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let faults = faults.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let idle = limits.mllp_idle_timeout;
            match tls {
                None => connection(stream, state, faults, idle, shutdown).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => connection(s, state, faults, idle, shutdown).await,
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "MLLP TLS handshake failed")
                        }
                        Err(_) => tracing::info!(%peer, "MLLP TLS handshake timed out"),
                    }
                }
            }
            tracing::debug!(%peer, "MLLP connection closed");
        });
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    state: Arc<AppState>,
    faults: Faults,
    idle: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut framed = Framed::new(stream, MllpCodec::default());
    let mut previous: Option<String> = None;
    loop {
        let frame = tokio::select! {
            f = tokio::time::timeout(idle, framed.next()) => match f {
                Ok(f) => f,
                Err(_) => {
                    tracing::info!("closing an MLLP connection idle for {idle:?}");
                    return;
                }
            },
            _ = stopped(&mut shutdown) => return,
        };
        let bytes = match frame {
            None => return,
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                // Not MLLP: there is no frame to answer, so say why in the log and hang up.
                tracing::info!(error = %e, "closing MLLP connection");
                return;
            }
        };
        let wait = faults.latency + faults.stall_wait();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if faults.drop_rate > 0.0 && rand::rng().random_bool(faults.drop_rate.clamp(0.0, 1.0)) {
            return; // injected fault: close without answering
        }
        let text = String::from_utf8_lossy(&bytes);
        let nak = faults.nak_rate > 0.0 && rand::rng().random_bool(faults.nak_rate.clamp(0.0, 1.0));
        let mut ack = respond(&state, &text, nak);
        if faults.breaks(Rule::WrongMsa2) {
            if let Some(msa) = ack.segments.iter_mut().find(|s| s.name == "MSA") {
                if let Some(id) = msa.fields.get_mut(1) {
                    id.push_str("-WRONG");
                }
            }
        }
        let mut rendered = ack.render();
        if faults.breaks(Rule::StaleAck) {
            let fresh = rendered.clone();
            if let Some(old) = previous.replace(fresh) {
                rendered = old;
            }
        }
        if framed.send(rendered.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Resolves when the sandbox is shutting down (the guard `wait_for` returns is dropped here, so
/// the caller's future stays `Send`).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// HL7 TS to the second. Written field by field: chrono's `format` re-parses its pattern on every
/// call, a visible share of the listener's time per message under load.
fn hl7_timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The ACK for one received message text.
pub fn respond(state: &AppState, text: &str, inject_nak: bool) -> Message {
    let now = hl7_timestamp(chrono::Utc::now());
    let control_id = format!("SBX{}", CONTROL.fetch_add(1, Ordering::Relaxed));
    let msg = match Message::parse(text) {
        Ok(m) => m,
        Err(e) => {
            let err = AckError {
                code: "100",
                text: format!("message could not be parsed: {e}"),
                location: None,
            };
            return build_reject("AR", &control_id, &now, &err);
        }
    };
    let enhanced = !msg.raw_field("MSH", 1, 15).unwrap_or_default().is_empty();
    let code = |original: &str| -> String {
        if enhanced {
            original.replacen('A', "C", 1)
        } else {
            original.to_string()
        }
    };
    let mtype = msg.message_type();
    // Original-mode rules (v2.5.1 §2.9.2): a type, version or processing ID the receiver does not
    // take is rejected (AR) before the content is looked at. Empty ones are the structure
    // check's "required field" (AE).
    if let Some(msh) = msg.segment("MSH", 1) {
        let version = msg.component_of(msh, 12, 1);
        let defs = hl7v2::defs::for_version(&version);
        if !version.is_empty() && defs.is_none() {
            let err = AckError {
                code: "203",
                text: format!("unsupported version id {version:?}"),
                location: Some("MSH^1^12".into()),
            };
            return build_ack(&msg, &code("AR"), &control_id, &now, Some(&err));
        }
        let structure = defs.and_then(|d| {
            d.structure_id(
                &msg.component_of(msh, 9, 1),
                &msg.component_of(msh, 9, 2),
                &msg.component_of(msh, 9, 3),
            )
        });
        if defs.is_some() && structure.is_none() {
            let err = AckError {
                code: "200",
                text: format!("unsupported message type {mtype:?}"),
                location: Some("MSH^1^9".into()),
            };
            return build_ack(&msg, &code("AR"), &control_id, &now, Some(&err));
        }
        let processing = msg.component_of(msh, 11, 1);
        if !processing.is_empty() && !PROCESSING_IDS.contains(&processing.as_str()) {
            let err = AckError {
                code: "202",
                text: format!("unsupported processing id {processing:?}"),
                location: Some("MSH^1^11".into()),
            };
            return build_ack(&msg, &code("AR"), &control_id, &now, Some(&err));
        }
    }
    if inject_nak {
        let err = AckError {
            code: "207",
            text: "injected fault: application error".into(),
            location: None,
        };
        return build_ack(&msg, &code("AE"), &control_id, &now, Some(&err));
    }
    let report = hl7v2::validate(&msg, &hl7v2::Options::default());
    if let Some(f) = report
        .findings
        .iter()
        .find(|f| f.severity == Severity::Error)
    {
        // HL7 table 0357 (message error condition codes).
        let code_num = match f.rule.as_str() {
            "required-field" => "101",
            r if r.starts_with("datatype") || r == "repetition" => "102",
            r if r.starts_with("table") => "103",
            _ => "100",
        };
        let err = AckError {
            code: code_num,
            text: format!("{} ({}): {}", f.location, f.rule, f.message),
            location: err_location(&f.location),
        };
        return build_ack(&msg, &code("AE"), &control_id, &now, Some(&err));
    }
    // Mapped before the lock is taken: the lock covers only the lookups and writes.
    let applied = v2_to_fhir::map(&msg).and_then(|mapped| match mapped {
        Some(m) => {
            let mut store = state.store.write().unwrap_or_else(|p| p.into_inner());
            v2_to_fhir::write(&mut store, m).map_err(|full| full.to_string())
        }
        None => Ok(Vec::new()),
    });
    match applied {
        Ok(changes) => {
            tracing::debug!(?changes, "MLLP message applied");
            build_ack(&msg, &code("AA"), &control_id, &now, None)
        }
        Err(reason) => {
            let err = AckError {
                code: "207",
                text: reason,
                location: None,
            };
            build_ack(&msg, &code("AE"), &control_id, &now, Some(&err))
        }
    }
}

/// A finding's location (`PID-3[2].4`, `OBX[3]-5`, `segment 7 (NTE)`, `segment PV1`) as ERR-2's
/// `segment^occurrence^field^repetition^component`.
fn err_location(loc: &str) -> Option<String> {
    let loc = loc.strip_prefix("segment ").unwrap_or(loc);
    let seg: String = loc
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    if seg.len() != 3 {
        return None;
    }
    let rest = &loc[3..];
    let (occurrence, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (n, r) = r.split_once(']')?;
            (n.to_string(), r)
        }
        None => ("1".to_string(), rest),
    };
    let Some(field) = rest.strip_prefix('-') else {
        return Some(format!("{seg}^{occurrence}"));
    };
    let (field, comp) = field.split_once('.').unwrap_or((field, ""));
    let (field, rep) = match field.split_once('[') {
        Some((f, r)) => (f, r.trim_end_matches(']')),
        None => (field, "1"),
    };
    let comp = comp.split('.').next().unwrap_or("");
    Some(if comp.is_empty() {
        format!("{seg}^{occurrence}^{field}^{rep}")
    } else {
        format!("{seg}^{occurrence}^{field}^{rep}^{comp}")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finding_locations_become_err_2() {
        use super::err_location;
        assert_eq!(err_location("PID-3[2].4").as_deref(), Some("PID^1^3^2^4"));
        assert_eq!(err_location("OBX[3]-5").as_deref(), Some("OBX^3^5^1"));
        assert_eq!(err_location("segment PV1").as_deref(), Some("PV1^1"));
        assert_eq!(err_location("NTE (segment 7)").as_deref(), Some("NTE^1"));
        assert_eq!(err_location("message"), None);
    }

    #[test]
    fn timestamps_match_chrono_formatting() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            super::hl7_timestamp(t),
            t.format("%Y%m%d%H%M%S").to_string()
        );
        assert_eq!(super::hl7_timestamp(t), "20260102030405");
    }
}
