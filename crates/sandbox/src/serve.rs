//! The sandbox's HTTP accept loop, plain and TLS alike, with the bounds a server facing unknown
//! clients needs. axum's `serve` has none of them: about 1,000 idle or slowloris sockets used up
//! the process's file descriptors and the FHIR API stopped answering.
//!
//! - a header-read timeout: hyper starts it whenever a connection waits for a request head, so
//!   it also ends keep-alive connections left idle, and a client that trickles a header;
//! - the same timeout on the TLS handshake;
//! - a cap on open connections: at the cap the loop stops accepting (new clients wait in the
//!   kernel's backlog) rather than failing requests already in progress;
//! - the file-descriptor limit raised to the hard limit at start, as Go and nginx do, so the
//!   cap, not the default soft limit of 1,024, decides.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Bounds on the sandbox's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections at once, per listener.
    pub max_connections: usize,
    /// Time to send a request head (and to finish a TLS handshake); also the keep-alive idle time.
    pub header_timeout: Duration,
    /// MLLP: time to wait for the next complete message on a connection.
    pub mllp_idle_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            // Far above what a test or a load run opens (load keeps at most `max_in_flight`),
            // well under the usual hard fd limit.
            max_connections: 10_000,
            header_timeout: Duration::from_secs(15),
            // Interface engines keep MLLP connections open between messages for minutes.
            mllp_idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Raises this process's open-file soft limit to its hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> Option<u64> {
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let want = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                    return Some(want.rlim_cur as u64);
                }
            }
        }
        Some(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// Serves `app` on `listener` until `stop` turns true.
pub async fn serve_http(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        // A permit first: at the cap, nothing more is accepted until a connection ends.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p,
            _ = stop.wait_for(|s| *s) => return,
        };
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors (EMFILE) or a connection reset before accept: wait a
                // little rather than spin.
                tracing::warn!(error = %e, "sandbox accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (app, tls) = (app.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let result = match tls {
                None => builder.serve_connection(TokioIo::new(tcp), svc).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await;
                    match handshake {
                        Ok(Ok(stream)) => builder.serve_connection(TokioIo::new(stream), svc).await,
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "HTTPS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(%peer, "HTTPS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
        });
    }
}
