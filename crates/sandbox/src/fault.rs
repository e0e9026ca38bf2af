//! Fault injection for the sandbox: added latency, error responses, dropped connections and
//! malformed bodies, each at a rate. For demos, and for testing that the harness reports a
//! misbehaving server as failures rather than crashing or hanging.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngExt;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added to every response.
    pub latency: Duration,
    /// Fraction of requests answered 500 with an OperationOutcome.
    pub error_rate: f64,
    /// Fraction of requests whose connection is dropped mid-response.
    pub drop_rate: f64,
    /// Fraction of responses whose JSON body is cut short (invalid JSON).
    pub malformed_rate: f64,
    /// Fraction of responses sent as `text/html` instead of FHIR JSON.
    pub wrong_content_type_rate: f64,
    /// MLLP: fraction of messages answered AE (an application error) instead of being processed.
    pub nak_rate: f64,
    /// A periodic stall: every `stall_every`, the server answers nothing for `stall_for` (a GC
    /// pause, a lock): the schedule that coordinated-omission measurements are checked against.
    pub stall_for: Duration,
    pub stall_every: Duration,
    /// Conformance rules to break on every answer, one check's worth each, so that a certify
    /// suite can be shown to catch exactly that break.
    pub broken: Vec<Rule>,
}

/// A rule the sandbox can be told to break (`--fault-break`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rule {
    /// MLLP: MSA-2 names a control id other than the message's MSH-10.
    WrongMsa2,
    /// MLLP: every message after the first on a connection is answered with the previous
    /// message's ACK (a stale ACK: right code, wrong message).
    StaleAck,
    /// FHIR: no ETag header on any answer.
    NoEtag,
    /// FHIR: a create answers 200 OK instead of 201 Created.
    #[value(name = "create-200")]
    Create200,
    /// FHIR: error answers (4xx, 5xx) carry a plain-text body instead of an OperationOutcome.
    NoOperationOutcome,
}

/// The instant stall cycles count from: the first time any sandbox asked.
fn epoch() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

impl Faults {
    /// Starts the stall clock (call when the sandbox starts).
    pub fn start_clock(&self) {
        let _ = epoch();
    }

    /// How long a request arriving now must wait for the current stall to end.
    pub fn stall_wait(&self) -> Duration {
        if self.stall_for.is_zero() || self.stall_every.is_zero() {
            return Duration::ZERO;
        }
        let every = self.stall_every.as_nanos();
        let phase = epoch().elapsed().as_nanos() % every;
        let stall = self.stall_for.as_nanos();
        if phase < stall {
            Duration::from_nanos((stall - phase) as u64)
        } else {
            Duration::ZERO
        }
    }

    pub fn breaks(&self, rule: Rule) -> bool {
        self.broken.contains(&rule)
    }

    pub fn any(&self) -> bool {
        *self != Faults::default()
    }
}

fn hit(rate: f64) -> bool {
    rate > 0.0 && (rate >= 1.0 || rand::rng().random_bool(rate.clamp(0.0, 1.0)))
}

pub async fn inject(State(faults): State<Faults>, req: Request, next: Next) -> Response {
    let stall = faults.stall_wait();
    if !stall.is_zero() {
        tokio::time::sleep(stall).await;
    }
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if hit(faults.error_rate) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, crate::fhir_api::CONTENT_TYPE)],
            super::fhir_api::outcome_json("exception", "injected fault: server error"),
        )
            .into_response();
    }
    if hit(faults.drop_rate) {
        // A body stream that fails makes hyper abort the connection after the headers.
        let stream = futures_util::stream::once(async {
            Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected fault: connection dropped",
            ))
        });
        let mut resp = Response::new(Body::from_stream(stream));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json"),
        );
        return resp;
    }
    let method = req.method().clone();
    let mut resp = next.run(req).await;
    if faults.breaks(Rule::NoEtag) {
        resp.headers_mut().remove(header::ETAG);
    }
    if faults.breaks(Rule::Create200)
        && method == axum::http::Method::POST
        && resp.status() == StatusCode::CREATED
    {
        *resp.status_mut() = StatusCode::OK;
    }
    if faults.breaks(Rule::NoOperationOutcome)
        && (resp.status().is_client_error() || resp.status().is_server_error())
    {
        let status = resp.status();
        return (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("error {}", status.as_u16()),
        )
            .into_response();
    }
    if hit(faults.malformed_rate) {
        let (mut parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 16 << 20)
            .await
            .unwrap_or_default();
        let cut = bytes.slice(..bytes.len() / 2);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(cut));
    }
    if hit(faults.wrong_content_type_rate) {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><body>Service temporarily unavailable</body></html>",
        )
            .into_response();
    }
    resp
}
