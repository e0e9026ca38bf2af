//! Command-line flags for authentication, shared by `run`, `load` and `certify fhir`. Secrets are
//! never taken as flag values (they would sit in shell history and `ps`): only the name of an
//! environment variable or a file.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use emr_transport::auth::{self, Auth, Method, SigningKey};
use url::Url;

#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Authentication")]
pub(crate) struct AuthArgs {
    /// Bearer token from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub bearer_token_env: Option<String>,
    /// Bearer token from this file.
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// HTTP basic user (the password from --basic-password-env).
    #[arg(long, requires = "basic_password_env")]
    pub basic_user: Option<String>,
    #[arg(long, value_name = "VAR", requires = "basic_user")]
    pub basic_password_env: Option<String>,
    /// An extra header whose value is a secret, NAME=VAR (value from the environment; repeatable).
    #[arg(long = "secret-header", value_name = "NAME=VAR", value_parser = crate::cli::parse_var)]
    pub secret_headers: Vec<(String, String)>,
    /// OAuth 2.0 token endpoint (client credentials, SMART Backend Services). With --smart-key and
    /// no URL, it is read from [base]/.well-known/smart-configuration.
    #[arg(long, value_name = "URL")]
    pub oauth_token_url: Option<Url>,
    #[arg(long, value_name = "ID")]
    pub oauth_client_id: Option<String>,
    /// Client secret (OAuth client credentials) from this environment variable.
    #[arg(long, value_name = "VAR", requires = "oauth_client_id")]
    pub oauth_client_secret_env: Option<String>,
    /// Scopes to ask for, e.g. "system/*.read".
    #[arg(long, value_name = "SCOPES")]
    pub oauth_scope: Option<String>,
    /// SMART Backend Services: PEM private key that signs the client assertion (RSA or EC P-384).
    #[arg(long, value_name = "FILE", requires = "oauth_client_id")]
    pub smart_key: Option<PathBuf>,
    /// RS384 or ES384 (default: from the key).
    #[arg(long, value_name = "ALG", requires = "smart_key")]
    pub smart_alg: Option<String>,
    /// Key id (`kid`) for the assertion header, when the server's JWKS has several keys.
    #[arg(long, value_name = "KID", requires = "smart_key")]
    pub smart_kid: Option<String>,
    /// Another origin (scheme://host:port) that may receive the credentials (repeatable).
    /// Without it they go to the --target's origin only: a request to any other host (an
    /// absolute URL in a step, a server's `next` link) is sent without them.
    #[arg(long, value_name = "URL")]
    pub auth_origin: Vec<Url>,
}

impl AuthArgs {
    /// The extra origins credentials may go to.
    pub(crate) fn origins(&self) -> Vec<emr_core::origin::Origin> {
        self.auth_origin
            .iter()
            .filter_map(|u| emr_core::origin::Origin::of(u.as_str()))
            .collect()
    }

    /// The run's auth, or an error naming the flag and the problem.
    pub(crate) async fn build(&self, base: &Url) -> anyhow::Result<Arc<Auth>> {
        let mut methods = Vec::new();
        if let Some(v) = &self.bearer_token_env {
            methods.push(Method::Bearer(auth::secret_from_env(v)?));
        }
        if let Some(f) = &self.bearer_token_file {
            methods.push(Method::Bearer(auth::secret_from_file(f)?));
        }
        if let (Some(user), Some(var)) = (&self.basic_user, &self.basic_password_env) {
            methods.push(Method::Basic {
                user: user.clone(),
                password: auth::secret_from_env(var)?,
            });
        }
        if let Some(key) = &self.smart_key {
            let token_url = match &self.oauth_token_url {
                Some(u) => u.clone(),
                None => auth::discover_token_url(base).await?,
            };
            methods.push(Method::SmartBackend {
                token_url,
                client_id: self.oauth_client_id.clone().unwrap_or_default(),
                key: SigningKey::from_pem_file(
                    key,
                    self.smart_alg.as_deref(),
                    self.smart_kid.clone(),
                )?,
                scope: self
                    .oauth_scope
                    .clone()
                    .unwrap_or_else(|| "system/*.read".into()),
            });
        } else if let Some(var) = &self.oauth_client_secret_env {
            let token_url = self.oauth_token_url.clone().ok_or_else(|| {
                anyhow::anyhow!("--oauth-client-secret-env needs --oauth-token-url")
            })?;
            methods.push(Method::ClientCredentials {
                token_url,
                client_id: self.oauth_client_id.clone().unwrap_or_default(),
                client_secret: auth::secret_from_env(var)?,
                scope: self.oauth_scope.clone(),
            });
        }
        for m in &methods {
            if let Method::ClientCredentials { token_url, .. }
            | Method::SmartBackend { token_url, .. } = m
            {
                let host = token_url.host_str().unwrap_or_default();
                if token_url.scheme() != "https"
                    && !emr_transport::fhir::guard::is_loopback_host(host).await
                {
                    anyhow::bail!(
                        "the token endpoint {token_url} is plain HTTP on another host: the client \
                         secret or assertion would cross the network unencrypted; use https"
                    );
                }
            }
        }
        if methods.len() > 1 {
            anyhow::bail!(
                "choose one way to authenticate (bearer, basic, client secret or SMART key)"
            );
        }
        let mut headers = Vec::new();
        for (name, var) in &self.secret_headers {
            headers.push((name.clone(), auth::secret_from_env(var)?));
        }
        Ok(Arc::new(Auth::new(methods.pop(), headers)?))
    }
}
