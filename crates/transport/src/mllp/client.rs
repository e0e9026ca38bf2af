//! An MLLP client: one connection reused across many messages, connect/read/idle timeouts,
//! reconnect when the peer dropped an idle connection, optional TLS (rustls), and a clear error
//! for every way a peer can misbehave (no answer, bytes outside a frame, oversized or endless
//! frames, closing without an ACK).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;
use tokio_util::either::Either;

use super::codec::{FrameError, MllpCodec, DEFAULT_MAX_FRAME};
use super::tls::{client_config, TlsOptions};

#[derive(Debug, Clone)]
pub struct MllpConfig {
    /// `host:port`.
    pub addr: String,
    pub connect_timeout: Duration,
    /// How long to wait for the ACK after sending.
    pub read_timeout: Duration,
    /// A connection unused this long is closed and a new one opened (peers drop idle links).
    pub idle_timeout: Duration,
    pub max_frame: usize,
    pub tls: Option<TlsOptions>,
}

impl MllpConfig {
    pub fn new(addr: impl Into<String>) -> Self {
        MllpConfig {
            addr: addr.into(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            max_frame: DEFAULT_MAX_FRAME,
            tls: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MllpError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("no ACK within {0:?}")]
    Timeout(Duration),
    #[error("the peer closed the connection without answering")]
    PeerClosed,
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl MllpError {
    /// A stable short name for reports and error counts.
    pub fn kind(&self) -> &'static str {
        match self {
            MllpError::Connect { .. } => "connect",
            MllpError::Tls(_) => "tls",
            MllpError::Timeout(_) => "timeout",
            MllpError::PeerClosed => "reset",
            MllpError::Frame(FrameError::Io(_)) => "reset",
            MllpError::Frame(_) => "framing",
        }
    }
}

type Stream = Either<TcpStream, TlsStream<TcpStream>>;

pub struct MllpClient {
    config: MllpConfig,
    tls: Option<TlsConnector>,
    conn: Option<Framed<Stream, MllpCodec>>,
    last_used: Instant,
    /// Connections opened so far (1 for a run that never had to reconnect).
    pub connections: u64,
    /// Connections reopened because the peer had closed the previous one (many engines close
    /// after every ACK), counted so a report can say so.
    pub reconnects: u64,
    /// Whether the last `send` had to reconnect.
    pub last_reconnected: bool,
    /// How many connections the last `send` opened (0 when it reused one).
    pub last_opened: u64,
}

impl MllpClient {
    pub fn new(config: MllpConfig) -> Result<Self, MllpError> {
        let tls = match &config.tls {
            Some(opts) => Some(TlsConnector::from(Arc::new(
                client_config(opts).map_err(MllpError::Tls)?,
            ))),
            None => None,
        };
        Ok(MllpClient {
            config,
            tls,
            conn: None,
            last_used: Instant::now(),
            connections: 0,
            reconnects: 0,
            last_reconnected: false,
            last_opened: 0,
        })
    }

    pub fn addr(&self) -> &str {
        &self.config.addr
    }

    async fn connect(&mut self) -> Result<(), MllpError> {
        let addr = self.config.addr.clone();
        let connect_err = |reason: String| MllpError::Connect {
            addr: addr.clone(),
            reason,
        };
        let tcp = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| {
                connect_err(format!(
                    "no answer within {:?}",
                    self.config.connect_timeout
                ))
            })?
            .map_err(|e| connect_err(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream = match &self.tls {
            None => Either::Left(tcp),
            Some(connector) => {
                let host = self
                    .config
                    .tls
                    .as_ref()
                    .and_then(|t| t.server_name.clone())
                    .unwrap_or_else(|| host_of(&addr));
                let name = rustls_pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| MllpError::Tls(format!("bad server name {host:?}: {e}")))?;
                let tls =
                    tokio::time::timeout(self.config.connect_timeout, connector.connect(name, tcp))
                        .await
                        .map_err(|_| MllpError::Tls("handshake timed out".into()))?
                        .map_err(|e| MllpError::Tls(e.to_string()))?;
                Either::Right(tls)
            }
        };
        self.conn = Some(Framed::new(
            stream,
            MllpCodec {
                max_frame: self.config.max_frame,
            },
        ));
        self.connections += 1;
        self.last_opened += 1;
        Ok(())
    }

    /// Drops a connection the peer has closed (or that sat idle too long) before it is reused.
    /// Returns true when the peer had closed it.
    fn check_reusable(&mut self) -> bool {
        if self.last_used.elapsed() > self.config.idle_timeout {
            self.conn = None;
            return false;
        }
        if let Some(conn) = self.conn.as_mut() {
            match conn.next().now_or_never() {
                None => {} // nothing to read: still open
                Some(None) | Some(Some(Err(_))) => {
                    // Closed or broken while idle.
                    self.conn = None;
                    return true;
                }
                Some(Some(Ok(frame))) => {
                    tracing::warn!(
                        bytes = frame.len(),
                        "discarding an unsolicited frame from the peer"
                    );
                }
            }
        }
        false
    }

    /// Sends one message and waits for one answer frame. Returns the answer's bytes.
    ///
    /// Many engines (hl7apy's server, several interface engines) close the connection after
    /// every ACK. A close seen before sending means a new connection; a close that arrives only
    /// as the answer to a message sent on a reused connection means the peer never read that
    /// message (it had hung up after the previous ACK), so it is sent once more on a new
    /// connection. Only a message sent on a fresh connection and not answered is an error.
    pub async fn send(&mut self, message: &[u8]) -> Result<Vec<u8>, MllpError> {
        self.last_reconnected = false;
        self.last_opened = 0;
        let closed_while_idle = self.check_reusable();
        let reused = self.conn.is_some();
        if !reused {
            self.connect().await?;
            if closed_while_idle {
                self.note_reconnect();
            }
        }
        let mut result = self.exchange(message).await;
        if reused && matches!(result, Err(MllpError::PeerClosed)) {
            self.conn = None;
            self.connect().await?;
            self.note_reconnect();
            result = self.exchange(message).await;
        }
        if result.is_err() {
            // Never reuse a connection after an error: its framing state is unknown.
            self.conn = None;
        }
        self.last_used = Instant::now();
        result
    }

    fn note_reconnect(&mut self) {
        self.reconnects += 1;
        self.last_reconnected = true;
        tracing::debug!(addr = %self.config.addr, "MLLP peer had closed the connection: reconnected");
    }

    async fn exchange(&mut self, message: &[u8]) -> Result<Vec<u8>, MllpError> {
        let read_timeout = self.config.read_timeout;
        let Some(conn) = self.conn.as_mut() else {
            return Err(MllpError::PeerClosed);
        };
        // A write into a connection the peer has closed fails as a reset: the same as no answer.
        conn.send(message).await.map_err(|e| match e {
            FrameError::Io(io) if is_reset(&io) => MllpError::PeerClosed,
            e => e.into(),
        })?;
        match tokio::time::timeout(read_timeout, conn.next()).await {
            Err(_) => Err(MllpError::Timeout(read_timeout)),
            Ok(None) => Err(MllpError::PeerClosed),
            Ok(Some(Err(FrameError::Io(e)))) if is_reset(&e) => Err(MllpError::PeerClosed),
            Ok(Some(Err(e))) => Err(e.into()),
            Ok(Some(Ok(frame))) => Ok(frame.to_vec()),
        }
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::UnexpectedEof
    )
}

fn host_of(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((host, _)) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        None => addr.to_string(),
    }
}
