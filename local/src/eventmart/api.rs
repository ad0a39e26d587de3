//! Eventmart's HTTP API as a careful client calls it, and the error of every step of the
//! demo and the workload.

use crate::client::{self, HttpResponse};
use eventmart_shared::http;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Http(#[from] client::ClientError),
    #[error("{step}: expected HTTP {expected}, got {status}: {body}")]
    Status {
        step: String,
        expected: u16,
        status: u16,
        body: String,
    },
    #[error("reading {0}: {1}")]
    Read(String, String),
    #[error("signing in {email}: {source}")]
    SignIn {
        email: String,
        source: crate::cognito::CognitoError,
    },
}

/// The HTTP API as a careful client uses it, signed in as one user.
pub struct Api<'a> {
    pub base: &'a str,
    /// The user's id token, sent as `Authorization: Bearer`.
    pub token: &'a str,
}

impl<'a> Api<'a> {
    pub fn new(base: &'a str, token: &'a str) -> Api<'a> {
        Api { base, token }
    }

    /// One request, retried with the same `Idempotency-Key` while the API answers 5xx (an
    /// instance killed by chaos) or 409 in-progress (the killed run's claim has not yet
    /// expired): what a careful client does.
    pub async fn call(
        &self,
        step: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Result<Value, DemoError> {
        let key = uuid::Uuid::new_v4().to_string();
        let bytes = body.as_ref().map(|b| b.to_string().into_bytes());
        let bearer = format!("Bearer {}", self.token);
        let headers = [
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
            ("idempotency-key", key.as_str()),
        ];
        let headers: &[(&str, &str)] = if method == "POST" {
            &headers
        } else {
            &headers[..1]
        };
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let r: HttpResponse = loop {
            let r = client::request(
                method,
                &format!("{}{path}", self.base),
                headers,
                bytes.as_deref(),
            )
            .await?;
            let in_progress = r.status == 409
                && r.json()
                    .ok()
                    .and_then(|b| b["type"].as_str().map(|t| t.ends_with(http::IN_PROGRESS)))
                    == Some(true);
            if (r.status < 500 && !in_progress) || std::time::Instant::now() > give_up {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        };
        if r.status != expected {
            return Err(DemoError::Status {
                step: step.into(),
                expected,
                status: r.status,
                body: r.text(),
            });
        }
        Ok(r.json().unwrap_or(Value::Null))
    }
}

/// Signs `email` in to the stack's user pool (signing them up first if need be, with
/// `groups`) and returns their id token.
pub async fn sign_in(
    stack: &crate::stack::LocalStack,
    email: &str,
    groups: &[&str],
) -> Result<String, DemoError> {
    let failed = |source| DemoError::SignIn {
        email: email.to_owned(),
        source,
    };
    let target = stack.sign_in_target().ok_or_else(|| {
        failed(crate::cognito::CognitoError::Malformed {
            action: "sign-in",
            field: "the template's user pool and client",
        })
    })?;
    let tokens = target
        .sign_in(email, crate::cognito::LOCAL_PASSWORD, groups)
        .await
        .map_err(failed)?;
    Ok(tokens.id_token)
}
