//! The embedded sandbox EMR: an in-memory FHIR R4 server on axum, bound to 127.0.0.1 by default.
//! `emr-harness run` starts one in-process when no `--target` is given; `emr-harness sandbox` runs
//! one in the foreground for other tools. Fault injection (`fault`) makes it misbehave on purpose.

#![warn(unreachable_pub)]

pub mod auth;
mod capability;
pub mod fault;
pub mod fhir_api;
pub mod mllp_listener;
mod search;
pub mod serve;
pub mod store;
pub mod v2_to_fhir;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use fault::Faults;
use fhir_api::AppState;

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub bind: SocketAddr,
    /// Where the MLLP listener binds; `None` for no listener.
    pub mllp_bind: Option<SocketAddr>,
    /// TLS for the MLLP listener: (certificate chain, key, client CA for mutual TLS).
    pub mllp_tls: Option<(
        std::path::PathBuf,
        std::path::PathBuf,
        Option<std::path::PathBuf>,
    )>,
    pub faults: Faults,
    /// HTTPS for the FHIR API: (certificate chain, key, client CA for mutual TLS).
    pub tls: Option<(
        std::path::PathBuf,
        std::path::PathBuf,
        Option<std::path::PathBuf>,
    )>,
    /// Search page size when the client gives no `_count`.
    pub page_size: usize,
    /// Auth mode: a token endpoint, and 401 for FHIR requests without a live token.
    pub auth: Option<auth::SandboxAuth>,
    /// Connection caps and timeouts (HTTP and MLLP).
    pub conn_limits: serve::ConnLimits,
    /// Resource versions the store holds before it answers 507.
    pub max_versions: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            mllp_bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            mllp_tls: None,
            faults: Faults::default(),
            tls: None,
            page_size: 10,
            auth: None,
            conn_limits: serve::ConnLimits::default(),
            max_versions: store::DEFAULT_MAX_VERSIONS,
        }
    }
}

/// A sandbox serving in the background; dropping it (or `stop`) shuts it down.
pub struct RunningSandbox {
    pub addr: SocketAddr,
    /// The FHIR base URL, e.g. `http://127.0.0.1:39201/fhir`.
    pub base_url: String,
    /// The MLLP listener's address, when it runs.
    pub mllp_addr: Option<SocketAddr>,
    /// The auth mode's state (tokens issued, requests refused), when it is on.
    pub auth: Option<Arc<auth::AuthState>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningSandbox {
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

pub fn router(
    state: Arc<AppState>,
    faults: Faults,
    auth_state: Option<Arc<auth::AuthState>>,
) -> Router {
    use fhir_api::*;
    let mut api = Router::new()
        .route("/metadata", get(metadata))
        .route("/", post(transaction))
        .route("/$validate", post(validate_op))
        .route("/{rtype}", get(search_type).post(create))
        .route("/{rtype}/$validate", post(validate_op))
        .route("/{rtype}/_history", get(history_type))
        .route("/{rtype}/{id}", get(read).put(update).delete(delete))
        .route("/{rtype}/{id}/_history", get(history_instance))
        .route("/{rtype}/{id}/_history/{vid}", get(vread))
        .fallback(not_found)
        .with_state(state.clone());
    let mut app = Router::new().route("/fhir/", post(transaction).with_state(state.clone()));
    if let Some(a) = auth_state {
        let well_known = Router::new()
            .route(
                "/.well-known/smart-configuration",
                get(auth::smart_configuration),
            )
            .with_state(a.clone());
        api = well_known.merge(api);
        api = api.layer(axum::middleware::from_fn_with_state(
            a.clone(),
            auth::require,
        ));
        app = Router::new()
            .route("/fhir/", post(transaction).with_state(state.clone()))
            .layer(axum::middleware::from_fn_with_state(
                a.clone(),
                auth::require,
            ))
            .route("/auth/token", post(auth::token).with_state(a));
    }
    let app = app.nest("/fhir", api).fallback(not_found);
    if faults.any() {
        app.layer(axum::middleware::from_fn_with_state(faults, fault::inject))
    } else {
        app
    }
}

pub async fn start(config: SandboxConfig) -> std::io::Result<RunningSandbox> {
    serve::raise_fd_limit();
    let listener = TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let base_url = format!("{scheme}://{addr}/fhir");
    let state = Arc::new(AppState {
        store: RwLock::new(store::Store::with_limit(config.max_versions)),
        base_url: base_url.clone(),
        default_page_size: config.page_size.max(1),
    });
    let (tx, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut mllp_addr = None;
    if let Some(bind) = config.mllp_bind {
        let mllp = TcpListener::bind(bind).await?;
        mllp_addr = Some(mllp.local_addr()?);
        let tls = match &config.mllp_tls {
            Some((cert, key, ca)) => {
                let cfg = emr_transport::tls::server_config(cert, key, ca.as_ref())
                    .map_err(std::io::Error::other)?;
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
            }
            None => None,
        };
        tasks.push(tokio::spawn(mllp_listener::serve(
            mllp,
            tls,
            state.clone(),
            config.faults.clone(),
            config.conn_limits,
            rx.clone(),
        )));
        tracing::info!(addr = ?mllp_addr, "sandbox MLLP listener");
    }
    config.faults.start_clock();
    let auth_state = config.auth.clone().map(|a| {
        Arc::new(auth::AuthState::new(
            a,
            format!("{scheme}://{addr}/auth/token"),
        ))
    });
    let app = router(state, config.faults, auth_state.clone());
    let acceptor = match &config.tls {
        Some((cert, key, ca)) => {
            let cfg = emr_transport::tls::server_config(cert, key, ca.as_ref())
                .map_err(std::io::Error::other)?;
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
        }
        None => None,
    };
    tasks.push(tokio::spawn(serve::serve_http(
        listener,
        acceptor,
        app,
        config.conn_limits,
        rx,
    )));
    tracing::info!(%base_url, "sandbox EMR listening");
    Ok(RunningSandbox {
        addr,
        base_url,
        mllp_addr,
        auth: auth_state,
        shutdown: tx,
        tasks,
    })
}
