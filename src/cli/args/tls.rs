//! TLS flags for FHIR over HTTPS, shared by `run`, `load` and `certify fhir` (MLLP has its own,
//! `--mllp-ca` and friends, as the two targets are often different servers).

use std::path::PathBuf;

use clap::Args;
use emr_transport::tls::TlsOptions;

#[derive(Args, Clone, Default)]
#[command(next_help_heading = "TLS (HTTPS)")]
pub(crate) struct HttpTlsArgs {
    /// PEM CA bundle to trust for the FHIR server, instead of the public web roots.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --client-key).
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. Named in the report; never use it against real systems.
    #[arg(long)]
    pub insecure: bool,
}

impl HttpTlsArgs {
    /// `None` when no flag is given: reqwest's defaults.
    pub(crate) fn options(&self) -> Option<TlsOptions> {
        let any = self.ca_file.is_some() || self.client_cert.is_some() || self.insecure;
        if self.insecure {
            eprintln!("warning: --insecure: the FHIR server's certificate is not verified");
        }
        any.then(|| TlsOptions {
            ca_file: self.ca_file.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            insecure: self.insecure,
            server_name: None,
        })
    }
}

impl HttpTlsArgs {
    /// The FHIR client of a conformance run (`run`, `certify fhir`): TLS and auth from the flags,
    /// credentials bound to the target's origin and those `--auth-origin` names.
    pub(crate) async fn fhir_client(
        &self,
        target: url::Url,
        timeout: std::time::Duration,
        auth_args: &super::AuthArgs,
    ) -> anyhow::Result<emr_transport::fhir::FhirClient> {
        let auth = auth_args.build(&target).await?;
        let tls = self.options();
        Ok(
            emr_transport::fhir::FhirClient::with_tls(target, timeout, tls.as_ref())
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_credential_origins(auth_args.origins())
                .with_auth(auth),
        )
    }
}
