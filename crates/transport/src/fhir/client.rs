//! The HTTP transport for FHIR steps, on reqwest with one pooled client per run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use crate::auth::Auth;

use super::guard::RemoteGuard;
use super::lean::LeanHttp;
use crate::{error_chain, USER_AGENT};
use emr_core::origin::Origin;
use emr_core::{HttpRequest, HttpResponse};

/// The largest response body read by default (see `emr_core::limits` for why).
pub const DEFAULT_MAX_BODY: usize = emr_core::limits::DEFAULT_MAX_BODY;

/// Why an exchange produced no response. These are outcomes of a step, never crashes.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TransportError {
    #[error("connection refused or unreachable: {0}")]
    Connect(String),
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("connection closed or reset by the server: {0}")]
    Reset(String),
    #[error("bad request: {0}")]
    InvalidRequest(String),
    /// No credentials to send: the token endpoint failed, a key did not load, ...
    #[error("{0}")]
    Auth(String),
    /// The TLS handshake failed (an untrusted certificate, a refused client certificate).
    #[error("TLS: {0}")]
    Tls(String),
    /// The answer is not HTTP the client can read.
    #[error("the answer is not valid HTTP: {0}")]
    Protocol(String),
    /// The answer is larger than the run allows.
    #[error("response body larger than {limit} bytes (--max-body-size): {what}", limit = .limit, what = .what)]
    TooLarge { limit: usize, what: String },
    /// The run will not contact this host (load off this machine without `--allow-remote`).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// A stable short name for reports and error counts.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportError::Connect(_) => "connect",
            TransportError::Timeout(_) => "timeout",
            TransportError::Reset(_) => "reset",
            TransportError::InvalidRequest(_) => "invalid_request",
            TransportError::Auth(_) => "auth",
            TransportError::Tls(_) => "tls",
            TransportError::Protocol(_) => "protocol",
            TransportError::TooLarge { .. } => "limit",
            TransportError::Refused(_) => "policy",
            TransportError::Other(_) => "transport",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FhirClient {
    client: reqwest::Client,
    base: Url,
    timeout: Duration,
    parsed: Arc<Mutex<HashMap<String, Url>>>,
    /// Load runs against plain HTTP skip reqwest's per-request layers (see `lean.rs`).
    lean: Option<Arc<LeanHttp>>,
    /// Credentials added to requests to their origins (a request's own header of the same name
    /// wins).
    auth: Option<Arc<Auth>>,
    /// Where credentials may go: the target's origin, and any named with `--auth-origin`.
    credential_origins: Arc<Vec<Origin>>,
    /// Response bodies beyond this many bytes (decompressed) end the exchange.
    max_body: usize,
    /// Load runs: hosts off this machine are refused unless `--allow-remote`.
    remote: Option<Arc<RemoteGuard>>,
}

/// Parsed URLs kept per client: under load the same few URLs are sent again and again, and
/// parsing one (host, IDNA, percent-encoding) cost a tenth of the client's CPU per request.
const PARSED_URLS_KEPT: usize = 1024;

impl FhirClient {
    pub fn new(base: Url, timeout: Duration) -> Result<Self, TransportError> {
        FhirClient::with_tls(base, timeout, None)
    }

    /// A client with its own TLS settings (custom CA, client certificate, `insecure`); `None`
    /// keeps reqwest's defaults (the public web roots).
    pub fn with_tls(
        base: Url,
        timeout: Duration,
        tls: Option<&crate::tls::TlsOptions>,
    ) -> Result<Self, TransportError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(opts) = tls {
            // The same rustls configuration as MLLP, so both transports verify alike.
            let mut cfg = crate::tls::client_config(opts).map_err(TransportError::Other)?;
            cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            builder = builder.use_preconfigured_tls(cfg);
        }
        let client = builder
            .build()
            .map_err(|e| TransportError::Other(e.to_string()))?;
        let credential_origins = Arc::new(Origin::of(base.as_str()).into_iter().collect());
        Ok(FhirClient {
            client,
            base,
            timeout,
            parsed: Arc::default(),
            lean: None,
            auth: None,
            credential_origins,
            max_body: DEFAULT_MAX_BODY,
            remote: None,
        })
    }

    /// The largest response body to read (decompressed bytes).
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        if self.lean.is_some() {
            self.lean = LeanHttp::new(&self.base, self.timeout, max_body).map(Arc::new);
        }
        self
    }

    /// Other origins the credentials may go to (an auth block that names its origin).
    pub fn with_credential_origins(mut self, extra: impl IntoIterator<Item = Origin>) -> Self {
        let mut all = (*self.credential_origins).clone();
        for o in extra {
            if !all.contains(&o) {
                all.push(o);
            }
        }
        self.credential_origins = Arc::new(all);
        self
    }

    /// Refuses hosts off this machine unless `guard` allows them (load runs).
    pub fn with_remote_guard(mut self, guard: Arc<RemoteGuard>) -> Self {
        self.remote = Some(guard);
        self
    }

    /// True when the run's credentials would go with a request to `url`.
    pub fn credentials_go_to(&self, url: &str) -> bool {
        self.auth.is_some() && self.credential_origins.iter().any(|o| o.contains(url))
    }

    /// True when the run has credentials to send at all.
    pub fn has_credentials(&self) -> bool {
        self.auth.is_some()
    }

    /// The client for load runs: plain-`http://` targets go through the lean transport unless
    /// a proxy is configured in the environment (reqwest honours those; the lean path does not).
    pub fn for_load(
        base: Url,
        timeout: Duration,
        tls: Option<&crate::tls::TlsOptions>,
    ) -> Result<Self, TransportError> {
        let mut c = FhirClient::with_tls(base, timeout, tls)?;
        let proxied = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
        if !proxied {
            c.lean = LeanHttp::new(&c.base, timeout, c.max_body).map(Arc::new);
        }
        Ok(c)
    }

    /// Sends `auth`'s credentials with every request.
    pub fn with_auth(mut self, auth: Arc<Auth>) -> Self {
        if !auth.is_empty() {
            self.auth = Some(auth);
        }
        self
    }

    pub fn auth(&self) -> Option<&Arc<Auth>> {
        self.auth.as_ref()
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The absolute URL for a scenario path: relative paths hang off the base URL (its path kept),
    /// absolute URLs (such as a captured `next` link) are used as they are.
    pub fn url_for(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_string();
        }
        let base = self.base.as_str().trim_end_matches('/');
        if path.is_empty() || path == "/" {
            base.to_string()
        } else if path.starts_with('/') {
            format!("{base}{path}")
        } else {
            format!("{base}/{path}")
        }
    }

    /// Sends `req`, with the run's credentials only when its URL is on their origin (or the
    /// request says `credentials_anywhere`), as curl and browsers scope them: a server that
    /// answers with a `next` link to another host must not harvest the target's token.
    pub async fn send(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        if let Some(guard) = &self.remote {
            if !self
                .credential_origins
                .first()
                .is_some_and(|o| o.contains(&req.url))
            {
                guard.check(&req.url).await?;
            }
        }
        let Some(auth) = &self.auth else {
            return self.send_as_is(req).await;
        };
        if !req.credentials_anywhere && !self.credentials_go_to(&req.url) {
            return self.send_as_is(req).await;
        }
        let extra = auth
            .headers()
            .await
            .map_err(|e| TransportError::Auth(e.to_string()))?;
        let mut req = req.clone();
        for (k, v) in extra {
            if !req.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(&k)) {
                req.headers.push((k, v));
            }
        }
        self.send_as_is(&req).await
    }

    async fn send_as_is(&self, req: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|e| TransportError::InvalidRequest(e.to_string()))?;
        if let Some(lean) = &self.lean {
            // The lean path needs an `http::Uri`, which parses without the URL cache's lock and
            // clone; only a URL the strict URI grammar rejects (a space, say) is normalised first.
            let uri = match http::Uri::try_from(req.url.as_str()) {
                Ok(u) => Some(u),
                Err(_) => http::Uri::try_from(self.parse_url(&req.url)?.as_str()).ok(),
            };
            if let Some(uri) = uri.filter(|u| u.scheme_str() == Some("http")) {
                return lean.send(req, uri).await;
            }
        }
        let url = self.parse_url(&req.url)?;
        let mut builder = self.client.request(method, url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let request = builder
            .build()
            .map_err(|e| TransportError::InvalidRequest(e.to_string()))?;
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let too_large = |what: String| TransportError::TooLarge {
            limit: self.max_body,
            what,
        };
        // Content-Length is the compressed size when the body is compressed: only a fast refusal.
        if let Some(len) = response
            .content_length()
            .filter(|l| *l > self.max_body as u64)
        {
            return Err(too_large(format!("Content-Length says {len}")));
        }
        // Read chunk by chunk, counting the decompressed bytes (reqwest inflates gzip), so an
        // endless body or a gzip bomb stops at the limit instead of exhausting memory.
        let mut first: Option<bytes::Bytes> = None;
        let mut rest = bytes::BytesMut::new();
        let mut total = 0usize;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            total += chunk.len();
            if total > self.max_body {
                return Err(too_large(format!("{total} bytes read so far")));
            }
            match &first {
                None if rest.is_empty() => first = Some(chunk),
                _ => {
                    if let Some(f) = first.take() {
                        rest.extend_from_slice(&f);
                    }
                    rest.extend_from_slice(&chunk);
                }
            }
        }
        let body = first.unwrap_or_else(|| rest.freeze());
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn parse_url(&self, url: &str) -> Result<Url, TransportError> {
        // A poisoned lock only means another request panicked mid-insert: the map is still valid.
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = parsed.get(url) {
            return Ok(u.clone());
        }
        let u =
            Url::parse(url).map_err(|e| TransportError::InvalidRequest(format!("{url}: {e}")))?;
        if parsed.len() >= PARSED_URLS_KEPT {
            parsed.clear();
        }
        parsed.insert(url.to_string(), u.clone());
        Ok(u)
    }

    fn classify(&self, e: reqwest::Error) -> TransportError {
        let chain = error_chain(&e);
        if e.is_timeout() {
            return TransportError::Timeout(self.timeout);
        }
        if let Some(tls) = tls_failure(&e) {
            return tls;
        }
        if is_malformed_http(&e) {
            return TransportError::Protocol(chain);
        }
        if e.is_connect() {
            TransportError::Connect(chain)
        } else if e.is_builder() {
            TransportError::InvalidRequest(chain)
        } else if e.is_decode() {
            TransportError::Protocol(chain)
        } else if e.is_body() || e.is_request() {
            TransportError::Reset(chain)
        } else {
            TransportError::Other(chain)
        }
    }
}

/// A TLS failure somewhere in `e`'s causes, with what to do about it: a certificate the client
/// does not trust was reported as "connection refused", which sent users looking at firewalls.
pub(crate) fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<TransportError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(mut s) = source {
        // An io::Error wrapping rustls's error reports the inner error's *source* as its own,
        // skipping the rustls error itself: look inside.
        if let Some(inner) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            s = inner;
        }
        if let Some(t) = s.downcast_ref::<tokio_rustls::rustls::Error>() {
            use tokio_rustls::rustls::Error as R;
            let hint = match t {
                R::InvalidCertificate(_) | R::NoCertificatesPresented => {
                    "the server's certificate is not trusted: give its CA with --ca-file (or \
                     --insecure for a test server, named in the report)"
                }
                R::AlertReceived(_) => {
                    "the server ended the handshake: it may want a client certificate \
                     (--client-cert/--client-key) or not support this TLS version"
                }
                _ => "the TLS handshake failed",
            };
            return Some(TransportError::Tls(format!("{hint} ({t})")));
        }
        source = s.source();
    }
    // Connectors box the rustls error in ways a downcast does not always reach: its messages
    // are stable, so read them.
    let chain = error_chain(e);
    let hint = if chain.contains("invalid peer certificate") {
        "the server's certificate is not trusted: give its CA with --ca-file (or --insecure for \
         a test server, named in the report)"
    } else if chain.contains("received fatal alert") || chain.contains("peer sent no certificates")
    {
        "the server ended the handshake: it may want a client certificate \
         (--client-cert/--client-key) or not support this TLS version"
    } else {
        return None;
    };
    Some(TransportError::Tls(format!("{hint} ({chain})")))
}

/// True when a cause of `e` is hyper failing to parse the answer (not HTTP at all, a bad status
/// line, a header too large): a broken server, not a dropped connection.
pub(crate) fn is_malformed_http(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                return true;
            }
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_joining_keeps_the_base_path() {
        let c = FhirClient::new(
            Url::parse("http://h:1/fhir/").unwrap(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.url_for("/Patient?x=1"), "http://h:1/fhir/Patient?x=1");
        assert_eq!(c.url_for("Patient"), "http://h:1/fhir/Patient");
        assert_eq!(c.url_for(""), "http://h:1/fhir");
        assert_eq!(c.url_for("/"), "http://h:1/fhir");
        assert_eq!(c.url_for("http://o/x"), "http://o/x");
    }
}
