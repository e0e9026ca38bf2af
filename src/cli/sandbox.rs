//! `emr-harness sandbox`: the embedded sandbox EMR in the foreground, for other tools.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use emr_sandbox::SandboxConfig;

use super::args::FaultArgs;
use super::parse_var;

#[derive(Args)]
pub(crate) struct SandboxArgs {
    /// Address to bind. Loopback by default: the sandbox holds test data and has no auth.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
    /// Address of the MLLP listener (HL7 v2).
    #[arg(long, default_value = "127.0.0.1:2575")]
    mllp_bind: std::net::SocketAddr,
    /// Serve MLLP over TLS with this PEM certificate chain (with --mllp-tls-key).
    #[arg(long, requires = "mllp_tls_key")]
    mllp_tls_cert: Option<PathBuf>,
    #[arg(long, requires = "mllp_tls_cert")]
    mllp_tls_key: Option<PathBuf>,
    /// Require MLLP client certificates signed by this PEM CA (mutual TLS).
    #[arg(long, requires = "mllp_tls_cert")]
    mllp_tls_client_ca: Option<PathBuf>,
    /// Serve the FHIR API over HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require HTTPS client certificates signed by this PEM CA (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    #[command(flatten)]
    faults: FaultArgs,
    /// Auth mode: a client id allowed client credentials, ID=VAR (its secret from the environment).
    #[arg(long, value_name = "ID=VAR", value_parser = parse_var, help_heading = "Auth mode")]
    auth_client_secret: Vec<(String, String)>,
    /// Auth mode: a SMART Backend Services client, ID=FILE (its PEM public key).
    #[arg(long, value_name = "ID=FILE", value_parser = parse_var, help_heading = "Auth mode")]
    auth_client_key: Vec<(String, String)>,
    /// Auth mode: an HTTP basic user, USER=VAR (the password from the environment).
    #[arg(long, value_name = "USER=VAR", value_parser = parse_var, help_heading = "Auth mode")]
    auth_basic_user: Vec<(String, String)>,
    /// Auth mode: lifetime of the access tokens it issues.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration, help_heading = "Auth mode")]
    auth_token_lifetime: Duration,
    /// Open connections at once, per listener (FHIR, MLLP); beyond it new ones wait.
    #[arg(long, default_value_t = 10_000, help_heading = "Limits")]
    max_connections: usize,
    /// Time a client has to send a request head (also the keep-alive idle time).
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration, help_heading = "Limits")]
    header_timeout: Duration,
    /// Time an MLLP connection may stay without a complete message.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration, help_heading = "Limits")]
    mllp_idle_timeout: Duration,
    /// Resource versions the store holds before it answers 507 Insufficient Storage.
    #[arg(long, default_value_t = emr_sandbox::store::DEFAULT_MAX_VERSIONS, help_heading = "Limits")]
    store_max_versions: usize,
}

pub(super) async fn sandbox(args: SandboxArgs) -> anyhow::Result<u8> {
    for (what, addr) in [("FHIR API", args.bind), ("MLLP listener", args.mllp_bind)] {
        if !addr.ip().is_loopback() {
            eprintln!(
                "warning: binding the {what} on {addr} exposes the sandbox (no auth, test data) beyond this machine"
            );
        }
    }
    let sb = emr_sandbox::start(SandboxConfig {
        bind: args.bind,
        mllp_bind: Some(args.mllp_bind),
        mllp_tls: args
            .mllp_tls_cert
            .clone()
            .zip(args.mllp_tls_key.clone())
            .map(|(c, k)| (c, k, args.mllp_tls_client_ca.clone())),
        faults: args.faults.faults(),
        tls: args
            .tls_cert
            .clone()
            .zip(args.tls_key.clone())
            .map(|(c, k)| (c, k, args.tls_client_ca.clone())),
        auth: sandbox_auth(&args)?,
        conn_limits: emr_sandbox::serve::ConnLimits {
            max_connections: args.max_connections,
            header_timeout: args.header_timeout,
            mllp_idle_timeout: args.mllp_idle_timeout,
        },
        max_versions: args.store_max_versions,
        ..SandboxConfig::default()
    })
    .await
    .with_context(|| format!("binding {}", args.bind))?;
    // Written with `writeln!`, not `println!`: a reader that went away must not crash the server.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "sandbox EMR: FHIR R4 base {}", sb.base_url);
    if let Some(m) = sb.mllp_addr {
        let _ = writeln!(out, "sandbox EMR: HL7 v2 MLLP on {m}");
    }
    if let Some(a) = &sb.auth {
        let _ = writeln!(
            out,
            "sandbox EMR: auth mode, token endpoint {}",
            a.token_url
        );
    }
    let _ = writeln!(out, "press Ctrl-C to stop");
    let _ = out.flush();
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sb.stop().await;
    Ok(0)
}

/// The sandbox's auth mode from its flags; `None` when none is given.
fn sandbox_auth(args: &SandboxArgs) -> anyhow::Result<Option<emr_sandbox::auth::SandboxAuth>> {
    use emr_sandbox::auth::{AuthClient, SandboxAuth};
    use emr_transport::auth::secret_from_env;
    if args.auth_client_secret.is_empty()
        && args.auth_client_key.is_empty()
        && args.auth_basic_user.is_empty()
    {
        return Ok(None);
    }
    let mut clients = Vec::new();
    for (id, var) in &args.auth_client_secret {
        clients.push(AuthClient {
            id: id.clone(),
            secret: Some(secret_from_env(var)?.expose().to_string()),
            public_key_pem: None,
        });
    }
    for (id, file) in &args.auth_client_key {
        let pem = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        clients.push(AuthClient {
            id: id.clone(),
            secret: None,
            public_key_pem: Some(pem),
        });
    }
    let mut basic_users = Vec::new();
    for (user, var) in &args.auth_basic_user {
        basic_users.push((user.clone(), secret_from_env(var)?.expose().to_string()));
    }
    Ok(Some(SandboxAuth {
        clients,
        basic_users,
        token_lifetime: args.auth_token_lifetime,
    }))
}
