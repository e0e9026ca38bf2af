//! Secrets: values that must never reach a report, a snapshot, a scenario file or a log.
//!
//! A `Secret` prints as `[secret]`. Every secret the process learns (a token from the environment,
//! a client secret, a private key, an access token a server issued) is also registered here, and
//! the few places where text leaves the process (report and golden files, the terminal tables,
//! the log writer) pass it through `scrub`, so a secret that slipped into some message is still
//! replaced on the way out.
//!
//! A secret rarely leaves in the form it was registered in: the JSON report escapes `"` and `\`,
//! JUnit and HTML escape `<` and `&`, a URL carries it percent-encoded, a header base64-encoded.
//! Matching the raw text only let all of those through, so each secret is registered with every
//! form an output format gives it, and all forms are found in one pass (Aho-Corasick, leftmost
//! longest, so a secret that contains another is replaced whole). Every secret counts, however
//! short: a three-character password is still a password, and a report with a few extra
//! `[secret]` marks is a smaller harm than one with a credential in it.
//!
//! Credentials can also arrive as values nobody registered: an `access_token=` in a URL a server
//! answered with. `scrub` replaces the values of credential-named query parameters too.

use std::fmt;
use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;

pub const REDACTED: &str = "[secret]";

/// Every registered form, and a matcher over them, rebuilt when a secret is added (rare: a few
/// times per run) so that `scrub` (every report write, every log line) only reads.
#[derive(Default)]
struct Known {
    forms: Vec<String>,
    matcher: Option<Arc<AhoCorasick>>,
}

static KNOWN: RwLock<Known> = RwLock::new(Known {
    forms: Vec::new(),
    matcher: None,
});

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

/// The forms `value` takes in the formats the tool writes.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    // JSON string content (serde_json escapes `"`, `\` and control characters).
    if let Ok(quoted) = serde_json::to_string(value) {
        out.push(quoted[1..quoted.len() - 1].to_string());
    }
    // XML/HTML text (only `&`, `<`, `>` escaped) and attributes (quotes too): quick-junit,
    // minijinja's HTML escaping, our own.
    let text = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    out.push(text.clone());
    let xml = text.replace('"', "&quot;").replace('\'', "&apos;");
    out.push(xml.replace("&apos;", "&#39;"));
    out.push(xml.replace("&apos;", "&#x27;"));
    out.push(xml);
    // URLs: RFC 3986 percent-encoding (urlencode filters, url::Url), and forms' `+` for space.
    let pct = percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    out.push(pct.replace("%20", "+"));
    out.push(pct);
    let query: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    out.push(query);
    // Base64, as in an HTTP basic header or a token wrapped by a server.
    let b = base64::engine::general_purpose::STANDARD.encode(value);
    out.push(b.trim_end_matches('=').to_string());
    out.push(b);
    out.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value));
    out.retain(|f| !f.is_empty());
    out
}

/// Registers `value` (and, for a PEM block, each of its base64 lines) for `scrub`, in every form
/// an output format can give it.
pub fn register(value: &str) {
    let mut raw: Vec<&str> = vec![value.trim()];
    if value.contains("-----BEGIN") {
        raw.extend(
            value
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::trim),
        );
    }
    raw.retain(|v| !v.is_empty());
    if raw.is_empty() {
        return;
    }
    {
        let known = KNOWN.read().unwrap_or_else(|p| p.into_inner());
        if raw.iter().all(|v| known.forms.iter().any(|k| k == v)) {
            return;
        }
    }
    let mut known = KNOWN.write().unwrap_or_else(|p| p.into_inner());
    let mut added = false;
    for v in raw {
        for f in forms(v) {
            if !known.forms.contains(&f) {
                known.forms.push(f);
                added = true;
            }
        }
    }
    if added {
        known.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&known.forms)
            .ok()
            .map(Arc::new);
    }
}

/// `text` with every registered secret, in any of its forms, and every credential-named query
/// parameter's value replaced by `[secret]`.
pub fn scrub(text: &str) -> String {
    let matcher = KNOWN
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .matcher
        .clone();
    let text = match matcher {
        Some(m) if m.is_match(text) => m.replace_all(text, &vec![REDACTED; m.patterns_len()]),
        _ => text.to_string(),
    };
    scrub_query_credentials(&text)
}

/// Query parameters that carry credentials (OAuth 2.0 RFC 6749/6750, OpenID Connect, API keys
/// as common gateways name them, signed URLs). `code` is an OAuth authorization code only next
/// to `state` or on an OAuth endpoint: elsewhere it is FHIR's most common search parameter.
pub const CREDENTIAL_PARAMS: &[&str] = &[
    "access_token",
    "id_token",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "api_key",
    "apikey",
    "api-key",
    "x-api-key",
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "auth",
    "sig",
    "signature",
    "x-amz-signature",
    "x-goog-signature",
];

/// True when the query parameter `name`, in `query` (the whole query string) on `path`, carries a
/// credential.
pub fn is_credential_param(name: &str, query: &str, path: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if CREDENTIAL_PARAMS.contains(&name.as_str()) {
        return true;
    }
    if name == "code" {
        let path = path.to_ascii_lowercase();
        let oauth_path = [
            "authorize",
            "callback",
            "redirect",
            "oauth",
            "token",
            "login",
        ]
        .iter()
        .any(|p| path.contains(p));
        let with_state = query.split('&').any(|kv| {
            kv.split('=')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("state"))
        });
        return oauth_path || with_state;
    }
    false
}

fn query_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    // A path (optional) and its query string, up to what ends a URL in text, JSON or XML.
    RE.get_or_init(|| regex::Regex::new(r#"([^\s"'<>?]*)\?([^\s"'<>#]+)"#).expect("static regex"))
}

fn scrub_query_credentials(text: &str) -> String {
    if !text.contains('?') || !text.contains('=') {
        return text.to_string();
    }
    query_regex()
        .replace_all(text, |c: &regex::Captures| {
            let (path, query) = (&c[1], &c[2]);
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    // `{{ env.X }}`: a scenario asking for the value, not the value.
                    Some((k, v))
                        if !v.is_empty()
                            && v != REDACTED
                            && !v.starts_with("{{")
                            && !v.starts_with("%7B%7B")
                            && is_credential_param(k, query, path) =>
                    {
                        format!("{k}={REDACTED}")
                    }
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        })
        .into_owned()
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

    // The registry is process-wide and tests run in parallel: every secret here is unlike any
    // text another test prints.

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
    }

    #[test]
    fn every_written_form_is_scrubbed() {
        let raw = "q\"u\\o<t&e% 7";
        register(raw);
        let json = serde_json::to_string(&serde_json::json!({ "v": raw })).unwrap();
        assert_eq!(scrub(&json), r#"{"v":"[secret]"}"#);
        assert_eq!(scrub("<a>q\"u\\o&lt;t&amp;e% 7</a>"), "<a>[secret]</a>");
        assert_eq!(
            scrub("<a x=\"q&quot;u\\o&lt;t&amp;e% 7\"/>"),
            "<a x=\"[secret]\"/>"
        );
        assert_eq!(scrub("?x=q%22u%5Co%3Ct%26e%25%207"), "?x=[secret]");
        assert_eq!(scrub("?x=q%22u%5Co%3Ct%26e%25+7"), "?x=[secret]");
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(scrub(&format!("Basic {b64}")), "Basic [secret]");
    }

    #[test]
    fn short_secrets_count_too() {
        register("Zq9");
        assert_eq!(scrub("pw=Zq9!"), "pw=[secret]!");
    }

    #[test]
    fn credential_query_parameters() {
        assert_eq!(
            scrub("GET http://h/fhir/Patient?name=x&access_token=abc.def&_count=2 200"),
            "GET http://h/fhir/Patient?name=x&access_token=[secret]&_count=2 200"
        );
        assert_eq!(
            scrub(r#"{"url":"http://h/x?api_key=K1&password=p"}"#),
            r#"{"url":"http://h/x?api_key=[secret]&password=[secret]"}"#
        );
        // FHIR's `code` search parameter stays; an OAuth redirect's code does not.
        assert_eq!(
            scrub("http://h/fhir/Observation?code=1234-5"),
            "http://h/fhir/Observation?code=1234-5"
        );
        assert_eq!(
            scrub("http://app/callback?code=SplxlOBe&state=xyz"),
            "http://app/callback?code=[secret]&state=xyz"
        );
    }
}
