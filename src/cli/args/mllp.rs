//! MLLP flags: the peer's TLS (verification on unless --mllp-insecure) and the largest frame.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use emr_transport::mllp::{MllpConfig, MllpPool};
use emr_transport::tls::TlsOptions;

#[derive(Args, Clone)]
pub(crate) struct MllpTlsArgs {
    /// Wrap MLLP in TLS.
    #[arg(long)]
    pub mllp_tls: bool,
    /// PEM CA bundle to trust for the MLLP peer (implies --mllp-tls).
    #[arg(long)]
    pub mllp_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --mllp-key).
    #[arg(long, requires = "mllp_key")]
    pub mllp_cert: Option<PathBuf>,
    #[arg(long, requires = "mllp_cert")]
    pub mllp_key: Option<PathBuf>,
    /// Accept any MLLP server certificate (named in the report). Never use against real systems.
    #[arg(long)]
    pub mllp_insecure: bool,
    /// Largest MLLP frame accepted, in bytes.
    #[arg(long, default_value_t = emr_transport::mllp::codec::DEFAULT_MAX_FRAME)]
    pub mllp_max_frame: usize,
}

/// The MLLP connection pool for `addr`, with the run's timeout and TLS settings.
pub(crate) fn mllp_pool(
    addr: String,
    timeout: Duration,
    tls: &MllpTlsArgs,
) -> anyhow::Result<MllpPool> {
    let mut cfg = MllpConfig::new(addr);
    cfg.read_timeout = timeout;
    cfg.max_frame = tls.mllp_max_frame;
    cfg.tls = tls.options();
    MllpPool::new(cfg).map_err(|e| anyhow::anyhow!("{e}"))
}

impl MllpTlsArgs {
    pub(crate) fn options(&self) -> Option<TlsOptions> {
        let wanted = self.mllp_tls
            || self.mllp_ca.is_some()
            || self.mllp_cert.is_some()
            || self.mllp_insecure;
        wanted.then(|| TlsOptions {
            ca_file: self.mllp_ca.clone(),
            client_cert: self.mllp_cert.clone(),
            client_key: self.mllp_key.clone(),
            insecure: self.mllp_insecure,
            server_name: None,
        })
    }
}
