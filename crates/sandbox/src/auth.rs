//! The sandbox's auth mode: an OAuth 2.0 token endpoint (client credentials with a client secret,
//! or SMART Backend Services with a signed JWT assertion, RS384 or ES384), tokens with a short,
//! configurable lifetime, and every FHIR request but the CapabilityStatement and the SMART
//! configuration refused with 401 unless it carries a live token (or a configured basic user).
//! So the harness's client side, token refresh included, is tested end to end.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;

/// A registered client.
#[derive(Debug, Clone, Default)]
pub struct AuthClient {
    pub id: String,
    /// For client credentials with a client secret (HTTP basic to the token endpoint).
    pub secret: Option<String>,
    /// For SMART Backend Services: the PEM public key its assertions are signed with.
    pub public_key_pem: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SandboxAuth {
    pub clients: Vec<AuthClient>,
    /// (user, password) accepted as HTTP basic on FHIR requests.
    pub basic_users: Vec<(String, String)>,
    pub token_lifetime: Duration,
}

impl Default for SandboxAuth {
    fn default() -> Self {
        SandboxAuth {
            clients: Vec::new(),
            basic_users: Vec::new(),
            token_lifetime: Duration::from_secs(300),
        }
    }
}

pub struct AuthState {
    config: SandboxAuth,
    /// Set once the server knows its address.
    pub token_url: String,
    tokens: Mutex<HashMap<String, Instant>>,
    seen_jti: Mutex<HashSet<String>>,
    issued: AtomicU64,
    refused: AtomicU64,
}

impl AuthState {
    pub fn new(config: SandboxAuth, token_url: String) -> Self {
        AuthState {
            config,
            token_url,
            tokens: Mutex::default(),
            seen_jti: Mutex::default(),
            issued: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// FHIR requests refused with 401 so far.
    pub fn requests_refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Every token issued so far (for tests that check no token leaked into an output).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    fn issue(&self) -> serde_json::Value {
        let token = format!("sbx-{}", uuid::Uuid::new_v4().simple());
        let expires = Instant::now() + self.config.token_lifetime;
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), expires);
        self.issued.fetch_add(1, Ordering::Relaxed);
        json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.config.token_lifetime.as_secs().max(1),
            "scope": "system/*.*",
        })
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let Some(token) = value.strip_prefix("Bearer ") {
            let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            return tokens
                .get(token.trim())
                .is_some_and(|exp| Instant::now() < *exp);
        }
        if let Some(encoded) = value.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            if let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                return self
                    .config
                    .basic_users
                    .iter()
                    .any(|(u, p)| u == user && p == password);
            }
        }
        false
    }
}

/// RFC 6749 §5.2 error answer.
fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description.into()})),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    jti: Option<String>,
    exp: i64,
}

pub async fn token(
    State(auth): State<Arc<AuthState>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials",
        );
    }
    match (&form.client_assertion_type, &form.client_assertion) {
        (Some(t), Some(jwt)) if t == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" => {
            match verify_assertion(&auth, jwt) {
                Ok(()) => Json(auth.issue()).into_response(),
                Err(why) => oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why),
            }
        }
        (Some(t), _) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("client_assertion_type {t:?}"),
        ),
        _ => {
            // Client secret over HTTP basic (RFC 6749 §2.3.1).
            let basic = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .ok()
                })
                .and_then(|b| String::from_utf8(b).ok());
            let ok = basic
                .as_deref()
                .and_then(|b| b.split_once(':'))
                .is_some_and(|(id, secret)| {
                    auth.config
                        .clients
                        .iter()
                        .any(|c| c.id == id && c.secret.as_deref() == Some(secret))
                });
            if ok {
                Json(auth.issue()).into_response()
            } else {
                oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "unknown client or wrong secret",
                )
            }
        }
    }
}

/// Checks a SMART Backend Services client assertion: a registered client's key signed it, iss =
/// sub = the client, aud = this token endpoint, it expires within five minutes, its jti is new.
fn verify_assertion(auth: &AuthState, jwt: &str) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| format!("not a JWT: {e}"))?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(format!("alg {:?}: RS384 or ES384 only", header.alg));
    }
    let unverified = jwt
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .ok_or("the JWT payload is not JSON")?;
    let iss = unverified["iss"].as_str().unwrap_or_default();
    let client = auth
        .config
        .clients
        .iter()
        .find(|c| c.id == iss)
        .ok_or_else(|| format!("unknown client {iss:?}"))?;
    let pem = client
        .public_key_pem
        .as_deref()
        .ok_or("this client has no registered public key")?;
    let key = match header.alg {
        Algorithm::ES384 => DecodingKey::from_ec_pem(pem.as_bytes()),
        _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .map_err(|e| format!("the registered key does not load: {e}"))?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[auth.token_url.as_str()]);
    v.set_issuer(&[client.id.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let data = jsonwebtoken::decode::<AssertionClaims>(jwt, &key, &v)
        .map_err(|e| format!("assertion rejected: {e}"))?;
    let c = data.claims;
    if c.sub != c.iss {
        return Err("sub must equal iss".into());
    }
    if c.exp > chrono::Utc::now().timestamp() + 300 {
        return Err("exp is more than five minutes ahead".into());
    }
    let jti = c.jti.ok_or("no jti")?;
    let fresh = auth
        .seen_jti
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(jti);
    if !fresh {
        return Err("jti already used (replayed assertion)".into());
    }
    Ok(())
}

/// `/.well-known/smart-configuration` (SMART App Launch 2.0, backend services part).
pub async fn smart_configuration(State(auth): State<Arc<AuthState>>) -> Response {
    Json(json!({
        "token_endpoint": auth.token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": ["system/*.read", "system/*.write", "system/*.*"],
        "capabilities": ["client-confidential-asymmetric"]
    }))
    .into_response()
}

/// Refuses FHIR requests without a live token (the CapabilityStatement stays public, as
/// clients read it to find out how to authenticate).
pub async fn require(State(auth): State<Arc<AuthState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let public = path.ends_with("/metadata") || path.contains("/.well-known/");
    if public || auth.allows(req.headers()) {
        return next.run(req).await;
    }
    auth.refused.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, super::fhir_api::CONTENT_TYPE),
            (
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"emr-harness sandbox\"",
            ),
        ],
        super::fhir_api::outcome_json("login", "a valid access token is required"),
    )
        .into_response()
}
