//! emr-harness transports: how a request reaches a target and an answer comes back. FHIR over
//! HTTP(S) (reqwest for conformance runs, a lean hyper path for load), HL7 v2 over MLLP (framing,
//! client, pool), TLS shared by both, and authentication (bearer, basic, OAuth client
//! credentials, SMART Backend Services). Every failure is a typed error the runner records as an
//! outcome, never a crash.

#![warn(unreachable_pub)]

pub mod auth;
pub mod fhir;
pub mod mllp;
pub mod tls;

/// The User-Agent of every request the tool sends.
pub const USER_AGENT: &str = concat!("emr-harness/", env!("CARGO_PKG_VERSION"));

/// An error and its causes on one line: a client's top-level message alone rarely says enough.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
