//! A route's JWT authorizer, as API Gateway runs it: the token taken from the identity
//! source header, verified against the issuer's keys before any function runs; a refusal
//! is `401 {"message":"Unauthorized"}`; the claims reach the function at
//! `requestContext.authorizer.jwt`.
//!
//! The issuer's keys (`<issuer>/.well-known/jwks.json`) are fetched on first use and
//! kept; a token naming a key not among them refetches once (the issuer rotated its
//! keys), at most every [`REFETCH_AFTER`].

use super::jwt::{self, Jwks, JwtAuthorizer, Rejection};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Mutex;

/// How long fetched keys are trusted before a token with an unknown `kid` may refetch.
pub const REFETCH_AFTER: Duration = Duration::from_secs(5);

/// One authorizer of the API (`Auth.Authorizers.<name>`), shared by its routes.
pub struct Authorizer {
    name: String,
    config: JwtAuthorizer,
    /// The identity source header, lower case.
    header: String,
    /// Where the issuer's keys are fetched (locally: moto's copy of Cognito's URL).
    jwks_url: String,
    keys: Mutex<Option<(Arc<Jwks>, Instant)>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("name", &self.name)
            .field("issuer", &self.config.issuer)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

/// Why a request was refused (for the log; the client only sees 401).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Token(#[from] Rejection),
    #[error("the issuer's keys could not be fetched from {url}: {reason}")]
    Keys { url: String, reason: String },
}

impl Authorizer {
    pub fn new(
        name: impl Into<String>,
        config: JwtAuthorizer,
        header: impl Into<String>,
        jwks_url: impl Into<String>,
    ) -> Authorizer {
        Authorizer {
            name: name.into(),
            config,
            header: header.into().to_ascii_lowercase(),
            jwks_url: jwks_url.into(),
            keys: Mutex::new(None),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Verifies the request's token for a route requiring `scopes`; returns the value of
    /// `requestContext.authorizer`.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        scopes: &[String],
    ) -> Result<Value, Refusal> {
        let header = headers.get(&self.header).and_then(|v| v.to_str().ok());
        let token = jwt::bearer_token(header)?;
        let keys = self.keys(false).await?;
        let verified = match jwt::verify(token, &keys, &self.config, scopes, SystemTime::now()) {
            Err(Rejection::UnknownKid(_)) => {
                let fresh = self.keys(true).await?;
                jwt::verify(token, &fresh, &self.config, scopes, SystemTime::now())?
            }
            other => other?,
        };
        let scopes = if verified.scopes.is_empty() {
            Value::Null
        } else {
            json!(verified.scopes)
        };
        Ok(json!({"jwt": {"claims": verified.claims, "scopes": scopes}}))
    }

    /// The kept keys, fetched when there are none or (`refresh`) when they are older than
    /// [`REFETCH_AFTER`].
    async fn keys(&self, refresh: bool) -> Result<Arc<Jwks>, Refusal> {
        let mut kept = self.keys.lock().await;
        if let Some((keys, at)) = kept.as_ref()
            && !(refresh && at.elapsed() >= REFETCH_AFTER)
        {
            return Ok(keys.clone());
        }
        let failed = |reason: String| Refusal::Keys {
            url: self.jwks_url.clone(),
            reason,
        };
        let resp = crate::client::request("GET", &self.jwks_url, &[], None)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if resp.status != 200 {
            return Err(failed(format!("HTTP {}", resp.status)));
        }
        let keys = Arc::new(Jwks::from_json(&resp.body).map_err(|e| failed(e.to_string()))?);
        *kept = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }
}

/// A route's authorization: its API's authorizer and the scopes it requires.
#[derive(Debug, Clone)]
pub struct RouteAuthorizer {
    pub authorizer: Arc<Authorizer>,
    pub scopes: Vec<String>,
}

/// Two routes authorize alike when they share the authorizer and the scopes.
impl PartialEq for RouteAuthorizer {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.authorizer, &other.authorizer) && self.scopes == other.scopes
    }
}

impl Eq for RouteAuthorizer {}
