//! Secrets: values that must never reach a report, a snapshot, a scenario file or a log.
//!
//! A `Secret` prints as `[secret]`. Every secret the process learns (a token from the environment,
//! a client secret, a private key, an access token a server issued) is also registered here, and
//! the few places where text leaves the process (report and golden files, the terminal tables,
//! the log writer) pass it through `scrub`, so a secret that slipped into some message is still
//! replaced on the way out.

use std::fmt;
use std::sync::RwLock;

pub const REDACTED: &str = "[secret]";

/// Shorter values are not registered: replacing every "a" in a report helps nobody.
const MIN_LEN: usize = 6;

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value` and registers it for scrubbing.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Registers `value` (and, for a PEM block, each of its base64 lines) for `scrub`.
pub fn register(value: &str) {
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    let mut add = |v: &str| {
        let v = v.trim();
        if v.len() >= MIN_LEN && !known.iter().any(|k| k == v) {
            known.push(v.to_string());
        }
    };
    add(value);
    if value.contains("-----BEGIN") {
        value
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .for_each(&mut add);
    }
    // Longest first, so a secret that contains another is replaced whole.
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
}

/// `text` with every registered secret replaced by `[secret]`.
pub fn scrub(text: &str) -> String {
    let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
    if known.is_empty() || !known.iter().any(|k| text.contains(k.as_str())) {
        return text.to_string();
    }
    let mut out = text.to_string();
    for k in known.iter() {
        out = out.replace(k.as_str(), REDACTED);
    }
    out
}

/// A log writer that scrubs each write (tracing's fmt layer writes one event per call).
pub struct ScrubbingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_and_are_scrubbed() {
        let s = Secret::new("tok-4f9a2c71e5");
        assert_eq!(format!("{s} {s:?}"), "[secret] [secret]");
        assert_eq!(
            scrub("Authorization: Bearer tok-4f9a2c71e5 done"),
            "Authorization: Bearer [secret] done"
        );
        register("-----BEGIN PRIVATE KEY-----\nMIGkAgEBBDBx1234567890abcdef\n-----END PRIVATE KEY-----\n");
        assert_eq!(scrub("line MIGkAgEBBDBx1234567890abcdef"), "line [secret]");
        register("abc");
        assert_eq!(scrub("abc"), "abc", "too short to register");
    }
}
