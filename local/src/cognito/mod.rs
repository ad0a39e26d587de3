//! Cognito user pools on moto's server: the template's pools, clients and groups created
//! as CloudFormation would, and the calls a front end makes to sign in.
//!
//! Requests go as Cognito's JSON protocol (`X-Amz-Target`), unsigned, as a browser sends
//! `InitiateAuth`; moto routes them to its `us-east-1` backend, the local region.

use crate::client::{self, ClientError};
use crate::template::{Stack, UserPool, UserPoolClient};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum CognitoError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Cognito's answer to a request it refused: its error type and message.
    #[error("Cognito {action}: {kind}: {message}")]
    Refused {
        action: &'static str,
        kind: String,
        message: String,
    },
    #[error("Cognito {action}: the answer has no {field}")]
    Malformed {
        action: &'static str,
        field: &'static str,
    },
}

impl CognitoError {
    /// Cognito's error type (`NotAuthorizedException`, ...), if it answered with one.
    pub fn kind(&self) -> Option<&str> {
        match self {
            CognitoError::Refused { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// Where an authorizer fetches an issuer's keys: Cognito's issuers
/// (`https://cognito-idp.<region>.amazonaws.com/<pool id>`) from the local Cognito at
/// `cognito_endpoint`, which serves them under the same path; others at
/// `<issuer>/.well-known/jwks.json`.
pub fn jwks_url(cognito_endpoint: &str, issuer: &str) -> String {
    let issuer = issuer.trim_end_matches('/');
    let cognito = issuer
        .strip_prefix("https://cognito-idp.")
        .and_then(|rest| rest.split_once(".amazonaws.com/"))
        .map(|(_region, pool)| pool)
        .filter(|pool| !pool.is_empty() && !pool.contains('/'));
    match cognito {
        Some(pool) => format!(
            "{}/{pool}/.well-known/jwks.json",
            cognito_endpoint.trim_end_matches('/')
        ),
        None => format!("{issuer}/.well-known/jwks.json"),
    }
}

/// The password local users get unless told another; it meets the template's password
/// policy. Local only: the pool lives in moto and dies with the stack.
pub const LOCAL_PASSWORD: &str = "Local-passw0rd";

/// The tokens a sign-in returns.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: u64,
}

/// Cognito's API at `endpoint` (moto's base URL).
#[derive(Debug, Clone)]
pub struct Cognito {
    endpoint: String,
}

impl Cognito {
    pub fn new(endpoint: impl Into<String>) -> Cognito {
        Cognito {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
        }
    }

    /// One call of Cognito's API.
    pub async fn call(&self, action: &'static str, body: &Value) -> Result<Value, CognitoError> {
        let target = format!("AWSCognitoIdentityProviderService.{action}");
        let bytes = body.to_string().into_bytes();
        let resp = client::request(
            "POST",
            &format!("{}/", self.endpoint),
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", &target),
            ],
            Some(&bytes),
        )
        .await?;
        let answer: Value = resp.json().unwrap_or(Value::Null);
        if resp.status == 200 {
            return Ok(answer);
        }
        let kind = answer["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
            .unwrap_or_else(|| format!("HTTP {}", resp.status));
        let message = answer["message"]
            .as_str()
            .or_else(|| answer["Message"].as_str())
            .unwrap_or_default()
            .to_owned();
        Err(CognitoError::Refused {
            action,
            kind,
            message,
        })
    }

    /// Creates the template's pools, clients and groups; returns the ids Cognito assigned,
    /// by logical id (see [`crate::template::LocalNaming::with_assigned`]).
    pub async fn create(&self, model: &Stack) -> Result<BTreeMap<String, String>, CognitoError> {
        let mut ids = BTreeMap::new();
        for pool in &model.user_pools {
            ids.insert(pool.logical_id.clone(), self.create_pool(pool).await?);
        }
        for c in &model.user_pool_clients {
            let pool = &ids[&c.user_pool];
            ids.insert(c.logical_id.clone(), self.create_client(pool, c).await?);
        }
        for g in &model.user_pool_groups {
            let mut req = json!({"UserPoolId": ids[&g.user_pool], "GroupName": g.name});
            if let Some(d) = &g.description {
                req["Description"] = json!(d);
            }
            if let Some(p) = g.precedence {
                req["Precedence"] = json!(p);
            }
            self.call("CreateGroup", &req).await?;
        }
        Ok(ids)
    }

    async fn create_pool(&self, pool: &UserPool) -> Result<String, CognitoError> {
        let mut req: Map<String, Value> = pool.properties.clone();
        req.remove("UserPoolName");
        req.insert("PoolName".into(), json!(pool.name));
        let out = self.call("CreateUserPool", &Value::Object(req)).await?;
        out["UserPool"]["Id"]
            .as_str()
            .map(str::to_owned)
            .ok_or(CognitoError::Malformed {
                action: "CreateUserPool",
                field: "UserPool.Id",
            })
    }

    async fn create_client(
        &self,
        pool_id: &str,
        c: &UserPoolClient,
    ) -> Result<String, CognitoError> {
        let mut req: Map<String, Value> = c.properties.clone();
        req.insert("UserPoolId".into(), json!(pool_id));
        req.insert("ClientName".into(), json!(c.name));
        let out = self
            .call("CreateUserPoolClient", &Value::Object(req))
            .await?;
        out["UserPoolClient"]["ClientId"]
            .as_str()
            .map(str::to_owned)
            .ok_or(CognitoError::Malformed {
                action: "CreateUserPoolClient",
                field: "UserPoolClient.ClientId",
            })
    }

    /// Makes sure a confirmed user with this email, password and groups exists: signed up
    /// (as a customer does), confirmed with a verified email (what the emailed code does on
    /// AWS), and added to the groups. A user who exists keeps their password.
    pub async fn ensure_user(
        &self,
        pool_id: &str,
        client_id: &str,
        email: &str,
        password: &str,
        groups: &[&str],
    ) -> Result<(), CognitoError> {
        let signed_up = self
            .call(
                "SignUp",
                &json!({
                    "ClientId": client_id,
                    "Username": email,
                    "Password": password,
                    "UserAttributes": [{"Name": "email", "Value": email}],
                }),
            )
            .await;
        match signed_up {
            Ok(_) => {
                let user = json!({"UserPoolId": pool_id, "Username": email});
                self.call("AdminConfirmSignUp", &user).await?;
                let mut verified = user.clone();
                verified["UserAttributes"] = json!([{"Name": "email_verified", "Value": "true"}]);
                self.call("AdminUpdateUserAttributes", &verified).await?;
            }
            Err(e) if e.kind() == Some("UsernameExistsException") => {}
            Err(e) => return Err(e),
        }
        for group in groups {
            self.call(
                "AdminAddUserToGroup",
                &json!({"UserPoolId": pool_id, "Username": email, "GroupName": group}),
            )
            .await?;
        }
        Ok(())
    }

    /// Signs in with email and password (`USER_PASSWORD_AUTH`), as the dashboard does.
    pub async fn sign_in(
        &self,
        client_id: &str,
        email: &str,
        password: &str,
    ) -> Result<Tokens, CognitoError> {
        let out = self
            .call(
                "InitiateAuth",
                &json!({
                    "AuthFlow": "USER_PASSWORD_AUTH",
                    "ClientId": client_id,
                    "AuthParameters": {"USERNAME": email, "PASSWORD": password},
                }),
            )
            .await?;
        let r = &out["AuthenticationResult"];
        let token = |field: &'static str| {
            r[field]
                .as_str()
                .map(str::to_owned)
                .ok_or(CognitoError::Malformed {
                    action: "InitiateAuth",
                    field,
                })
        };
        Ok(Tokens {
            id_token: token("IdToken")?,
            access_token: token("AccessToken")?,
            refresh_token: r["RefreshToken"].as_str().map(str::to_owned),
            expires_in: r["ExpiresIn"].as_u64().unwrap_or(3600),
        })
    }

    /// The pool's signing keys (moto serves them as Cognito does, under the pool's path).
    pub async fn jwks(&self, pool_id: &str) -> Result<Value, CognitoError> {
        let url = format!("{}/{pool_id}/.well-known/jwks.json", self.endpoint);
        let resp = client::request("GET", &url, &[], None).await?;
        resp.json().map_err(|_| CognitoError::Malformed {
            action: "jwks.json",
            field: "keys",
        })
    }
}
