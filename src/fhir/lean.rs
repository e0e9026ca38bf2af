//! A lean HTTP/1.1 transport for load runs against plain-`http://` targets: hyper's pooled client
//! (the same one reqwest wraps) without reqwest's per-request layers. Profiling a max-rate run
//! showed reqwest spending a quarter of the client's CPU on them: the URL is re-parsed three times
//! per request (redirect policy, cookie layer — cookies are switched on crate-wide by goose — and
//! the pending-request state), and the connector service is cloned per request. Conformance
//! runs and HTTPS targets keep reqwest (proxies, TLS options, HTTP/2).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::client::{error_chain, HttpRequest, HttpResponse, TransportError, USER_AGENT};

#[derive(Debug, Clone)]
pub struct LeanHttp {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl LeanHttp {
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        LeanHttp { client, timeout }
    }

    pub async fn send(
        &self,
        req: &HttpRequest,
        uri: http::Uri,
    ) -> Result<HttpResponse, TransportError> {
        let invalid = |e: &dyn std::fmt::Display| TransportError::InvalidRequest(e.to_string());
        let mut builder = http::Request::builder()
            .method(req.method.as_bytes())
            .uri(uri)
            .header(http::header::USER_AGENT, USER_AGENT);
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = req.body.clone().map(Bytes::from).unwrap_or_default();
        let request = builder.body(Full::new(body)).map_err(|e| invalid(&e))?;
        let started = Instant::now();
        let exchange = async {
            let response = self.client.request(request).await.map_err(classify)?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| TransportError::Reset(error_chain(&e)))?
                .to_bytes();
            Ok::<_, TransportError>((parts, body))
        };
        let (parts, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| TransportError::Timeout(self.timeout))??;
        Ok(HttpResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            elapsed: started.elapsed(),
        })
    }
}

fn classify(e: hyper_util::client::legacy::Error) -> TransportError {
    let chain = error_chain(&e);
    if e.is_connect() {
        return TransportError::Connect(chain);
    }
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_closed() || h.is_canceled() || h.is_parse() {
                return TransportError::Reset(chain);
            }
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ) {
                return TransportError::Reset(chain);
            }
        }
        source = s.source();
    }
    TransportError::Other(chain)
}
