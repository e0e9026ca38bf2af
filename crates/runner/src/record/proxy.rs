//! The recording proxies: between a real client and the EMR, forwarding every exchange unchanged
//! (HTTP, or MLLP frame by frame) and keeping it. After each exchange the scenario file and its
//! goldens are written again (atomically, a rename), so a proxy killed at any moment leaves a
//! complete, loadable recording of everything before that moment. There is deliberately no raw
//! journal beside it: with `--scrub`, unscrubbed patient data must not reach the disk at all.
//! Ctrl-C stops it cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

use super::build::{build, Exchange, Hl7Exchange, HttpExchange};
use super::scrub::Scrubber;
use emr_transport::mllp::{MllpClient, MllpCodec, MllpConfig};

/// Where and how the recording is written.
#[derive(Debug, Clone)]
pub struct Output {
    pub scenario: PathBuf,
    pub golden: PathBuf,
    pub name: String,
    pub scrub: bool,
    /// Scrubbing salt: one per recording, so rewriting after each exchange gives the same values.
    pub salt: u64,
}

pub struct Recorder {
    out: Output,
    description: String,
    base: Option<String>,
    exchanges: Mutex<Vec<Exchange>>,
}

/// Headers that belong to one hop, never forwarded (RFC 9110 §7.6.1), plus the length, which
/// the sending side computes again.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
];

impl Recorder {
    pub fn new(out: Output, description: String, base: Option<String>) -> Self {
        Recorder {
            out,
            description,
            base,
            exchanges: Mutex::new(Vec::new()),
        }
    }

    pub fn count(&self) -> usize {
        self.exchanges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Keeps one exchange and writes the recording again, so it is on disk before the next one.
    pub fn keep(&self, e: Exchange) -> Result<(), String> {
        let all = {
            let mut ex = self.exchanges.lock().unwrap_or_else(|p| p.into_inner());
            ex.push(e);
            ex.clone()
        };
        self.write(&all).map(|_| ())
    }

    /// Writes scenario and goldens from everything kept; returns the scrub summary.
    pub fn finish(&self) -> Result<Vec<String>, String> {
        let all = self
            .exchanges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.write(&all)
    }

    fn write(&self, all: &[Exchange]) -> Result<Vec<String>, String> {
        let mut scrubber = self.out.scrub.then(|| Scrubber::new(self.out.salt));
        let built = build(
            &self.out.name,
            &self.description,
            self.base.as_deref(),
            all,
            scrubber.as_mut(),
        );
        let mut header = vec![self.description.clone()];
        header.push(if self.out.scrub {
            format!("Scrubbed: {}.", built.scrubbed.join("; "))
        } else {
            "Patient data as recorded (not scrubbed; --scrub replaces it).".into()
        });
        super::write(&self.out.scenario, &self.out.golden, &built, &header)?;
        Ok(built.scrubbed)
    }
}

struct HttpProxy {
    recorder: Arc<Recorder>,
    upstream: url::Url,
    client: reqwest::Client,
}

/// Serves the HTTP recording proxy on `listener` until `stop` resolves.
pub async fn serve_http(
    listener: TcpListener,
    upstream: url::Url,
    recorder: Arc<Recorder>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let state = Arc::new(HttpProxy {
        recorder,
        upstream,
        client,
    });
    let app = axum::Router::new().fallback(forward).with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}

async fn forward(State(p): State<Arc<HttpProxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let path_q = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let mut url = p.upstream.clone();
    url.set_path("");
    let target = format!("{}{path_q}", url.as_str().trim_end_matches('/'));
    let mut request = p.client.request(parts.method.clone(), &target);
    let mut request_headers = Vec::new();
    for (k, v) in &parts.headers {
        if HOP_BY_HOP.contains(&k.as_str()) {
            continue;
        }
        request = request.header(k, v);
        if let Ok(v) = v.to_str() {
            request_headers.push((k.as_str().to_string(), v.to_string()));
        }
    }
    let sent = request.body(body.clone()).send().await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "upstream did not answer; not recorded");
            return (
                StatusCode::BAD_GATEWAY,
                format!("emr-harness record: upstream: {e}"),
            )
                .into_response();
        }
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let resp_body = resp.bytes().await.unwrap_or_else(|_| Bytes::new());
    let response_headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| !HOP_BY_HOP.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let text = |b: &Bytes| (!b.is_empty()).then(|| String::from_utf8_lossy(b).into_owned());
    let exchange = Exchange::Http(HttpExchange {
        method: parts.method.as_str().to_string(),
        url: target,
        request_headers,
        request_body: text(&body),
        status: status.as_u16(),
        response_headers: response_headers.clone(),
        response_body: text(&resp_body),
    });
    if let Err(e) = p.recorder.keep(exchange) {
        tracing::error!(error = %e, "could not write the recording");
    }
    let mut out = Response::new(axum::body::Body::from(resp_body));
    *out.status_mut() = status;
    for (k, v) in response_headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            out.headers_mut().append(k, v);
        }
    }
    out
}

/// Serves the MLLP recording proxy: one upstream connection per client connection, each frame
/// forwarded and its ACK passed back unchanged.
pub async fn serve_mllp(
    listener: TcpListener,
    upstream: MllpConfig,
    recorder: Arc<Recorder>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let (up, rec) = (upstream.clone(), recorder.clone());
                tokio::spawn(async move { mllp_connection(stream, peer, up, rec).await });
            }
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn mllp_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    upstream: MllpConfig,
    recorder: Arc<Recorder>,
) {
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, MllpCodec::default());
    let mut client = match MllpClient::new(upstream) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "upstream MLLP client");
            return;
        }
    };
    while let Some(frame) = framed.next().await {
        let Ok(bytes) = frame else {
            tracing::info!(%peer, "not MLLP; closing");
            return;
        };
        match client.send(&bytes).await {
            Ok(ack) => {
                let exchange = Exchange::Hl7(Hl7Exchange {
                    message: String::from_utf8_lossy(&bytes).into_owned(),
                    ack: Some(String::from_utf8_lossy(&ack).into_owned()),
                });
                if let Err(e) = recorder.keep(exchange) {
                    tracing::error!(error = %e, "could not write the recording");
                }
                if framed.send(ack.as_slice()).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // The client sees what the EMR did: no ACK, a closed connection.
                tracing::warn!(%peer, error = %e, "upstream gave no ACK; closing, not recorded");
                return;
            }
        }
    }
}
