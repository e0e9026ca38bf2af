//! Authenticating like a real client: a bearer token, HTTP basic, extra secret headers, OAuth 2.0
//! client credentials, and SMART Backend Services (a JWT client assertion signed RS384 or ES384).
//!
//! Tokens from a token endpoint are cached and fetched again before they expire, so a long run or
//! a load test keeps going through token lifetimes (a gap the certification tools leave open).
//! Every secret is a `Secret`: it prints as `[secret]` and is scrubbed from everything written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
pub use emr_core::secret::{self, Secret, REDACTED};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use url::Url;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("auth: {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("auth: environment variable {0} is not set")]
    MissingEnv(String),
    #[error("auth: token endpoint {url}: {reason}")]
    TokenEndpoint { url: String, reason: String },
    #[error("auth: {0}")]
    Config(String),
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Method {
    Bearer(Secret),
    Basic {
        user: String,
        password: Secret,
    },
    /// OAuth 2.0 client credentials with a client secret (HTTP basic to the token endpoint).
    ClientCredentials {
        token_url: Url,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
    /// SMART Backend Services: client credentials with a signed JWT assertion.
    SmartBackend {
        token_url: Url,
        client_id: String,
        key: SigningKey,
        scope: String,
    },
}

/// A private key for client assertions, with its algorithm.
#[derive(Clone)]
pub struct SigningKey {
    key: EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?}, {REDACTED})", self.alg)
    }
}

impl SigningKey {
    /// Reads a PEM private key: RSA for RS384, EC P-384 for ES384 (`alg` None: from the key).
    pub fn from_pem_file(
        path: &Path,
        alg: Option<&str>,
        kid: Option<String>,
    ) -> Result<Self, AuthError> {
        let err = |reason: String| AuthError::Key {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        secret::register(&pem);
        let is_ec = pem.contains("EC PRIVATE KEY") || ec_pkcs8(&pem);
        let alg = match alg.map(str::to_ascii_uppercase).as_deref() {
            Some("RS384") => Algorithm::RS384,
            Some("ES384") => Algorithm::ES384,
            Some(other) => {
                return Err(err(format!(
                    "algorithm {other} (SMART Backend Services uses RS384 or ES384)"
                )))
            }
            None if is_ec => Algorithm::ES384,
            None => Algorithm::RS384,
        };
        let key = match alg {
            Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .map_err(|e| err(format!("not a PEM {alg:?} private key: {e}")))?;
        Ok(SigningKey { key, alg, kid })
    }
}

/// An EC key in PKCS#8 (`BEGIN PRIVATE KEY`) carries the id-ecPublicKey OID (1.2.840.10045.2.1).
fn ec_pkcs8(pem: &str) -> bool {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map(|der| {
            der.windows(9)
                .any(|w| w == [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01])
        })
        .unwrap_or(false)
}

#[derive(Debug)]
struct Token {
    value: Secret,
    expires_at: Instant,
}

/// The auth of one run: shared by every request (and every virtual user of a load run).
#[derive(Debug)]
pub struct Auth {
    method: Option<Method>,
    /// Extra headers whose values are secrets (API keys), sent on every request.
    headers: Vec<(String, Secret)>,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<Token>>,
    fetched: AtomicU64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Assumed when the token endpoint does not say (RFC 6749 makes `expires_in` optional).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

impl Auth {
    pub fn new(method: Option<Method>, headers: Vec<(String, Secret)>) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(crate::USER_AGENT)
            .build()
            .map_err(|e| AuthError::Config(e.to_string()))?;
        Ok(Auth {
            method,
            headers,
            http,
            token: tokio::sync::Mutex::new(None),
            fetched: AtomicU64::new(0),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.method.is_none() && self.headers.is_empty()
    }

    /// The token endpoint this auth will call, if any (checked against the remote guard).
    pub fn token_url(&self) -> Option<&Url> {
        match &self.method {
            Some(Method::ClientCredentials { token_url, .. })
            | Some(Method::SmartBackend { token_url, .. }) => Some(token_url),
            _ => None,
        }
    }

    /// Tokens fetched from the token endpoint so far (a long run fetches more than one).
    pub fn tokens_fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// The headers to add to a request: `Authorization` and the extra ones.
    pub async fn headers(&self) -> Result<Vec<(String, String)>, AuthError> {
        let mut out: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect();
        let authorization = match &self.method {
            None => None,
            Some(Method::Bearer(t)) => Some(format!("Bearer {}", t.expose())),
            Some(Method::Basic { user, password }) => {
                let raw = format!("{user}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                secret::register(&encoded);
                Some(format!("Basic {encoded}"))
            }
            Some(_) => Some(format!("Bearer {}", self.access_token().await?)),
        };
        if let Some(a) = authorization {
            out.push(("Authorization".into(), a));
        }
        Ok(out)
    }

    /// A valid access token, fetched again when the cached one is within its last fifth of life
    /// (at most a minute before expiry), so no request goes out with a token about to lapse.
    async fn access_token(&self) -> Result<String, AuthError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            if Instant::now() < t.expires_at {
                return Ok(t.value.expose().to_string());
            }
        }
        let (value, lifetime) = self.fetch_token().await?;
        let margin = (lifetime / 5).min(Duration::from_secs(60));
        let token = Token {
            value: Secret::new(value),
            expires_at: Instant::now() + lifetime.saturating_sub(margin),
        };
        let out = token.value.expose().to_string();
        *cached = Some(token);
        self.fetched.fetch_add(1, Ordering::Relaxed);
        Ok(out)
    }

    async fn fetch_token(&self) -> Result<(String, Duration), AuthError> {
        let (token_url, request) = match &self.method {
            Some(Method::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            }) => {
                let mut form = vec![("grant_type", "client_credentials".to_string())];
                if let Some(s) = scope {
                    form.push(("scope", s.clone()));
                }
                let req = self
                    .http
                    .post(token_url.clone())
                    .basic_auth(client_id, Some(client_secret.expose()))
                    .form(&form);
                (token_url, req)
            }
            Some(Method::SmartBackend {
                token_url,
                client_id,
                key,
                scope,
            }) => {
                let assertion = client_assertion(token_url, client_id, key)?;
                let form = [
                    ("grant_type", "client_credentials"),
                    ("scope", scope.as_str()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.expose()),
                ];
                (token_url, self.http.post(token_url.clone()).form(&form))
            }
            _ => {
                return Err(AuthError::Config(
                    "no token endpoint for this method".into(),
                ))
            }
        };
        let fail = |reason: String| AuthError::TokenEndpoint {
            url: token_url.to_string(),
            reason: secret::scrub(&reason),
        };
        let resp = request
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| fail(crate::error_chain(&e)))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            // RFC 6749 §5.2: {"error": ..., "error_description": ...}
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .map(|v| {
                    format!(
                        "{} {}",
                        v["error"].as_str().unwrap_or(""),
                        v["error_description"].as_str().unwrap_or("")
                    )
                })
                .unwrap_or_default();
            return Err(fail(format!("answered {status}: {}", detail.trim())));
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("the answer is not a token response: {e}")))?;
        secret::register(&t.access_token);
        let lifetime = t
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        Ok((t.access_token, lifetime))
    }
}

/// The signed JWT of SMART Backend Services (hl7.org/fhir/smart-app-launch/backend-services.html):
/// iss = sub = client id, aud = the token URL, exp at most five minutes ahead, a fresh jti.
fn client_assertion(
    token_url: &Url,
    client_id: &str,
    key: &SigningKey,
) -> Result<Secret, AuthError> {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_url.as_str(),
        "exp": now + 240,
        "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let mut header = Header::new(key.alg);
    header.typ = Some("JWT".into());
    header.kid = key.kid.clone();
    let jwt = jsonwebtoken::encode(&header, &claims, &key.key)
        .map_err(|e| AuthError::Config(format!("cannot sign the client assertion: {e}")))?;
    Ok(Secret::new(jwt))
}

/// Reads a secret from an environment variable.
pub fn secret_from_env(var: &str) -> Result<Secret, AuthError> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
        _ => Err(AuthError::MissingEnv(var.to_string())),
    }
}

/// Reads a secret from a file (trailing newline dropped).
pub fn secret_from_file(path: &PathBuf) -> Result<Secret, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|e| AuthError::Key {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(Secret::new(text.trim_end_matches(['\r', '\n'])))
}

/// The token endpoint a FHIR server advertises in `.well-known/smart-configuration`.
pub async fn discover_token_url(base: &Url) -> Result<Url, AuthError> {
    let url = format!(
        "{}/.well-known/smart-configuration",
        base.as_str().trim_end_matches('/')
    );
    let fail = |reason: String| AuthError::TokenEndpoint {
        url: url.clone(),
        reason,
    };
    let resp = reqwest::Client::new()
        .get(&url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| fail(crate::error_chain(&e)))?;
    if !resp.status().is_success() {
        return Err(fail(format!(
            "answered {} (give --oauth-token-url)",
            resp.status()
        )));
    }
    let body = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))?;
    let endpoint = v["token_endpoint"]
        .as_str()
        .ok_or_else(|| fail("no token_endpoint in the SMART configuration".into()))?;
    Url::parse(endpoint).map_err(|e| fail(format!("token_endpoint {endpoint:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bearer_and_basic_headers() {
        let a = Auth::new(Some(Method::Bearer(Secret::new("t0ken-123456"))), vec![]).unwrap();
        assert_eq!(
            a.headers().await.unwrap(),
            vec![(
                "Authorization".to_string(),
                "Bearer t0ken-123456".to_string()
            )]
        );
        let b = Auth::new(
            Some(Method::Basic {
                user: "alice".into(),
                password: Secret::new("s3cret-pass"),
            }),
            vec![("X-Api-Key".into(), Secret::new("key-987654"))],
        )
        .unwrap();
        let h = b.headers().await.unwrap();
        assert_eq!(h[0], ("X-Api-Key".to_string(), "key-987654".to_string()));
        assert_eq!(h[1].1, "Basic YWxpY2U6czNjcmV0LXBhc3M=");
        assert_eq!(format!("{b:?}").matches("s3cret-pass").count(), 0);
    }
}
