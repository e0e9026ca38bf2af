//! A lean HTTP/1.1 transport for load runs against plain-`http://` targets: hyper's connection API
//! with a plain stack of idle connections to the target, without reqwest's per-request layers
//! or hyper-util's general-purpose pool. Profiling a max-rate run showed reqwest spending a
//! quarter of the client's CPU on its layers (the URL re-parsed three times per request: redirect
//! policy, cookie layer — cookies are switched on crate-wide by goose — and the pending-request
//! state), and hyper-util's pool another few percent (a hashed key per checkout, waiter queues,
//! idle timers, a oneshot per request) for what is here one host. Requests to any other host
//! (an absolute `next` link, say) go through hyper-util's pooled client. Conformance runs and
//! HTTPS targets keep reqwest (proxies, TLS options, HTTP/2).

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, HOST, USER_AGENT};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::client::TransportError;
use crate::{error_chain, USER_AGENT as UA};
use emr_core::{HttpRequest, HttpResponse};

type Body = Full<Bytes>;

#[derive(Debug)]
pub(super) struct LeanHttp {
    /// The load target: host (without IPv6 brackets, as a socket address wants it) and port.
    host: String,
    port: u16,
    /// `Host` for requests to the target, built once.
    host_header: HeaderValue,
    /// Connections to the target not carrying a request right now; the most recently used first
    /// out, so a run at low concurrency keeps reusing the same warm few.
    idle: Mutex<Vec<SendRequest<Body>>>,
    other: Client<HttpConnector, Body>,
    timeout: Duration,
    connect_timeout: Duration,
    /// Bodies beyond this many bytes end the exchange (hyper does not decompress).
    max_body: usize,
}

impl LeanHttp {
    /// A transport for `base`'s host (`None` when the URL has no host or is not `http`).
    pub(super) fn new(base: &url::Url, timeout: Duration, max_body: usize) -> Option<Self> {
        if base.scheme() != "http" {
            return None;
        }
        let host = match base.host()? {
            url::Host::Ipv6(ip) => ip.to_string(),
            h => h.to_string(),
        };
        let port = base.port_or_known_default()?;
        let authority = match base.port() {
            Some(p) => format!("{}:{p}", base.host_str()?),
            None => base.host_str()?.to_string(),
        };
        let host_header = HeaderValue::from_str(&authority).ok()?;
        let connect_timeout = timeout.min(Duration::from_secs(10));
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let other = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Some(LeanHttp {
            host,
            port,
            host_header,
            idle: Mutex::new(Vec::new()),
            other,
            timeout,
            connect_timeout,
            max_body,
        })
    }

    fn is_target(&self, uri: &http::Uri) -> bool {
        uri.scheme_str() == Some("http")
            && uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                == Some(self.host.as_str())
            && uri.port_u16().unwrap_or(80) == self.port
    }

    pub(super) async fn send(
        &self,
        req: &HttpRequest,
        uri: http::Uri,
    ) -> Result<HttpResponse, TransportError> {
        let invalid = |e: &dyn std::fmt::Display| TransportError::InvalidRequest(e.to_string());
        let own = self.is_target(&uri);
        let target_uri = if own {
            // The connection API sends the URI as given: HTTP/1.1 wants the origin form.
            match uri.path_and_query() {
                Some(pq) => http::Uri::from(pq.clone()),
                None => http::Uri::from_static("/"),
            }
        } else {
            uri
        };
        let mut builder = http::Request::builder()
            .method(req.method.as_bytes())
            .uri(target_uri)
            .header(USER_AGENT, UA);
        if own
            && !req
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            builder = builder.header(HOST, self.host_header.clone());
        }
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = req.body.clone().map(Bytes::from).unwrap_or_default();
        let request = builder.body(Full::new(body)).map_err(|e| invalid(&e))?;
        let exchange = async {
            if own {
                return self.exchange_pooled(request).await;
            }
            let response = self.other.request(request).await.map_err(classify_legacy)?;
            let (parts, body) = response.into_parts();
            Ok((parts, read_body(body, self.max_body).await?))
        };
        let (parts, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| TransportError::Timeout(self.timeout))??;
        Ok(HttpResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// One exchange on an idle connection to the target, or a new one. A connection the server
    /// closed while it sat idle fails before the request is written; that request is sent once
    /// more on a fresh connection, as hyper-util's pool does.
    async fn exchange_pooled(
        &self,
        mut request: http::Request<Body>,
    ) -> Result<(http::response::Parts, Bytes), TransportError> {
        let mut retried = false;
        loop {
            let (mut sender, fresh) = self.checkout().await?;
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = read_body(body, self.max_body).await?;
                    self.checkin(sender);
                    return Ok((parts, body));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh && !retried => {
                        request = unsent;
                        retried = true;
                    }
                    _ => return Err(classify(&e.into_error())),
                },
            }
        }
    }

    /// An idle connection that can take a request, or a new one (`true` when new).
    async fn checkout(&self) -> Result<(SendRequest<Body>, bool), TransportError> {
        loop {
            // A poisoned lock only means a task panicked mid-push: the stack is still valid.
            let popped = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(mut sender) = popped else {
                return Ok((self.connect().await?, true));
            };
            // Closed by the server, or still finishing the last exchange and then closed
            // (`Connection: close`): drop it and try the next.
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Ok((sender, false));
            }
        }
    }

    fn checkin(&self, sender: SendRequest<Body>) {
        if !sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(sender);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, TransportError> {
        let connect = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        let stream = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| {
                TransportError::Connect(format!(
                    "no connection to {}:{} within {:?}",
                    self.host, self.port, self.connect_timeout
                ))
            })?
            .map_err(|e| {
                TransportError::Connect(format!(
                    "tcp connect to {}:{}: {}",
                    self.host,
                    self.port,
                    error_chain(&e)
                ))
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| TransportError::Connect(error_chain(&e)))?;
        // Drives the connection; it ends when the server closes it or its sender is dropped.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP connection ended");
            }
        });
        Ok(sender)
    }
}

async fn read_body(body: hyper::body::Incoming, max: usize) -> Result<Bytes, TransportError> {
    use hyper::body::Body as _;
    if let Some(len) = body.size_hint().exact().filter(|l| *l > max as u64) {
        return Err(TransportError::TooLarge {
            limit: max,
            what: format!("Content-Length says {len}"),
        });
    }
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(TransportError::TooLarge {
            limit: max,
            what: "the body went on past it".into(),
        }),
        Err(e) => Err(TransportError::Reset(error_chain(&*e))),
    }
}

/// A failed exchange on one of our connections: a closed or cut answer is a reset, a garbled
/// one a protocol error.
fn classify(e: &hyper::Error) -> TransportError {
    let chain = error_chain(e);
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return TransportError::Protocol(chain);
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        return TransportError::Reset(chain);
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if is_reset(io) {
                return TransportError::Reset(chain);
            }
        }
        source = s.source();
    }
    TransportError::Other(chain)
}

fn is_reset(io: &std::io::Error) -> bool {
    matches!(
        io.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof
    )
}

fn classify_legacy(e: hyper_util::client::legacy::Error) -> TransportError {
    let chain = error_chain(&e);
    if e.is_connect() {
        return TransportError::Connect(chain);
    }
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            match classify(h) {
                TransportError::Reset(_) => return TransportError::Reset(chain),
                TransportError::Protocol(_) => return TransportError::Protocol(chain),
                _ => {}
            }
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if is_reset(io) {
                return TransportError::Reset(chain);
            }
        }
        source = s.source();
    }
    TransportError::Other(chain)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn only_the_base_host_and_port_are_the_target() {
        let t = |base: &str| {
            LeanHttp::new(
                &url::Url::parse(base).unwrap(),
                Duration::from_secs(1),
                1 << 20,
            )
        };
        let lean = t("http://127.0.0.1:8080/fhir").unwrap();
        let is = |u: &str| lean.is_target(&u.parse().unwrap());
        assert!(is("http://127.0.0.1:8080/fhir/Patient?x=1"));
        assert!(!is("http://127.0.0.1:8081/fhir/Patient"));
        assert!(!is("http://localhost:8080/fhir/Patient"));
        assert_eq!(lean.host_header, "127.0.0.1:8080");
        let v6 = t("http://[::1]/fhir").unwrap();
        assert!(v6.is_target(&"http://[::1]:80/fhir".parse().unwrap()));
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.host_header, "[::1]");
        assert!(t("https://h/fhir").is_none());
    }

    /// A server that answers one request per connection in origin form with a `Host` (400
    /// otherwise) and then hangs up without saying so: every connection the client keeps idle
    /// is dead by the time it is reused.
    async fn one_request_per_connection() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let ok = text.starts_with("get /fhir/metadata http/1.1")
                        && text.contains(&format!("host: {addr}"));
                    let answer: &[u8] = if ok {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                    } else {
                        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
                    };
                    let _ = s.write_all(answer).await;
                });
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn connections_closed_while_idle_are_replaced_not_reported() {
        let (addr, accepted) = one_request_per_connection().await;
        let base = url::Url::parse(&format!("http://{addr}/fhir")).unwrap();
        let lean = LeanHttp::new(&base, Duration::from_secs(5), 1 << 20).unwrap();
        let req = HttpRequest {
            method: "GET".into(),
            url: format!("http://{addr}/fhir/metadata"),
            ..HttpRequest::default()
        };
        for _ in 0..4 {
            let r = lean.send(&req, req.url.parse().unwrap()).await.unwrap();
            assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
            // Time for the hang-up to reach the idle connection.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            4,
            "a new connection each time"
        );
    }
}
