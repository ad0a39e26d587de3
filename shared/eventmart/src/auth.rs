//! Who the caller is: the one place that turns an HTTP API request into a [`Caller`].
//!
//! API Gateway's JWT authorizer verifies the token and puts its claims at
//! `requestContext.authorizer.jwt.claims` (payload format 2.0), every value a string.
//! A function still checks that the claims are there and name a subject: a route left
//! without an authorizer in the template must not become a route open to anyone.

use crate::events::{CustomerId, Email, InvalidValue};
use crate::http::Problem;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use std::collections::HashMap;
use std::fmt;

/// The claim that holds the user's Cognito groups.
pub const GROUPS_CLAIM: &str = "cognito:groups";

/// What a caller may be allowed to do beyond acting as a customer: one Cognito group each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Ships and cancels fulfilments.
    Warehouse,
    /// Reads the analytics.
    Analysts,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Warehouse, Role::Analysts];

    /// The Cognito group name: the one spelling of it, for the template and the tests too.
    pub fn group(self) -> &'static str {
        match self {
            Role::Warehouse => "warehouse",
            Role::Analysts => "analysts",
        }
    }

    /// The role a Cognito group stands for, if any.
    pub fn from_group(group: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.group() == group)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.group())
    }
}

/// Why a request is not allowed to act. The messages name no token and no email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 401: the request carries no authorizer claims (no JWT authorizer on the route).
    #[error("the request carries no verified token")]
    NoClaims,
    /// 401
    #[error("the token has no sub claim")]
    NoSubject,
    /// 401
    #[error("the token's sub is not a customer id: {0}")]
    InvalidSubject(InvalidValue),
    /// 403
    #[error("this needs the {0} role")]
    MissingRole(Role),
    /// 403: an access token carries no email; the id token of a verified user does.
    #[error("the token carries no verified email; send the id token of a verified user")]
    NoVerifiedEmail,
}

impl AuthError {
    /// 401 when who the caller is is unknown, 403 when they may not do this.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::NoClaims | AuthError::NoSubject | AuthError::InvalidSubject(_) => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::MissingRole(_) | AuthError::NoVerifiedEmail => StatusCode::FORBIDDEN,
        }
    }

    /// The problem kind: `unauthenticated` or `forbidden`.
    pub fn kind(&self) -> &'static str {
        if self.status() == StatusCode::UNAUTHORIZED {
            "unauthenticated"
        } else {
            "forbidden"
        }
    }

    pub fn problem(&self) -> Problem {
        Problem::new(self.status(), self.kind(), self.to_string())
    }

    /// An `application/problem+json` response; a 401 also says which scheme to use
    /// (RFC 9110 requires `WWW-Authenticate` on a 401).
    pub fn into_response(self) -> Response<Body> {
        let mut resp = self.problem().into_response();
        if self.status() == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl retryable::Retryable for AuthError {
    /// The same token is refused the same way again.
    fn is_retryable(&self) -> bool {
        false
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    customer_id: CustomerId,
    email: Option<Email>,
    groups: Vec<String>,
}

impl Caller {
    /// From the claims as API Gateway passes them (every value a string).
    pub fn from_claims(claims: &HashMap<String, String>) -> Result<Caller, AuthError> {
        if claims.is_empty() {
            return Err(AuthError::NoClaims);
        }
        let sub = claims.get("sub").ok_or(AuthError::NoSubject)?;
        let customer_id = sub.parse().map_err(AuthError::InvalidSubject)?;
        // Only a verified address is the user's: Cognito lets users set an unverified one.
        let email = match claims.get("email_verified").map(String::as_str) {
            Some("true") => claims.get("email").and_then(|e| e.parse().ok()),
            _ => None,
        };
        let groups = claims
            .get(GROUPS_CLAIM)
            .map(|g| parse_groups(g))
            .unwrap_or_default();
        Ok(Caller {
            customer_id,
            email,
            groups,
        })
    }

    /// The Cognito user's `sub`.
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }

    pub fn verified_email(&self) -> Result<&Email, AuthError> {
        self.email.as_ref().ok_or(AuthError::NoVerifiedEmail)
    }

    /// Every Cognito group of the caller, including those no [`Role`] stands for.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    pub fn is_in(&self, role: Role) -> bool {
        self.groups.iter().any(|g| g == role.group())
    }

    pub fn require(&self, role: Role) -> Result<(), AuthError> {
        if self.is_in(role) {
            Ok(())
        } else {
            Err(AuthError::MissingRole(role))
        }
    }
}

/// The caller of an HTTP API request, from its JWT authorizer's claims.
pub fn caller(req: &Request) -> Result<Caller, AuthError> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    };
    Caller::from_claims(claims.ok_or(AuthError::NoClaims)?)
}

/// A group claim in any of its renderings: API Gateway's `[a b]`, a JSON array
/// `["a","b"]`, or one bare name. Cognito group names hold no whitespace, so splitting
/// on it is not ambiguous.
fn parse_groups(value: &str) -> Vec<String> {
    let value = value.trim();
    if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        if let Ok(groups) = serde_json::from_str::<Vec<String>>(value) {
            return groups;
        }
        return inner.split_whitespace().map(str::to_owned).collect();
    }
    if value.is_empty() {
        vec![]
    } else {
        vec![value.to_owned()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SUB: &str = "a4d72ef9-93c4-4e5d-87ab-32ab6cabfe7b";

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn groups_of(rendered: Option<&str>) -> Vec<String> {
        let mut c = claims(&[("sub", SUB)]);
        if let Some(g) = rendered {
            c.insert(GROUPS_CLAIM.into(), g.into());
        }
        Caller::from_claims(&c).unwrap().groups().to_vec()
    }

    /// Status, content type, WWW-Authenticate and the body of a response.
    fn parts(resp: Response<Body>) -> (u16, String, Option<String>, Value) {
        let header = |name| {
            resp.headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
        };
        let content_type = header(header::CONTENT_TYPE).unwrap();
        let www = header(header::WWW_AUTHENTICATE);
        let body = serde_json::from_slice(resp.body().as_ref()).unwrap();
        (resp.status().as_u16(), content_type, www, body)
    }

    #[test]
    fn groups_parse_in_every_rendering() {
        let both = vec!["warehouse".to_owned(), "analysts".to_owned()];
        assert_eq!(groups_of(Some("[warehouse analysts]")), both);
        assert_eq!(groups_of(Some(r#"["warehouse","analysts"]"#)), both);
        assert_eq!(groups_of(Some(r#"[ "warehouse", "analysts" ]"#)), both);
        assert_eq!(groups_of(Some("warehouse")), vec!["warehouse".to_owned()]);
        assert_eq!(groups_of(Some("[warehouse]")), vec!["warehouse".to_owned()]);
        assert_eq!(groups_of(Some("[]")), Vec::<String>::new());
        assert_eq!(groups_of(Some("")), Vec::<String>::new());
        assert_eq!(groups_of(None), Vec::<String>::new());
    }

    #[test]
    fn roles_are_their_group_names() {
        assert_eq!(Role::Warehouse.group(), "warehouse");
        assert_eq!(Role::Analysts.group(), "analysts");
        assert_eq!(Role::Analysts.to_string(), "analysts");
        for role in Role::ALL {
            assert_eq!(Role::from_group(role.group()), Some(role));
        }
        assert_eq!(Role::from_group("Warehouse"), None, "group names are exact");
    }

    #[test]
    fn is_in_and_require_go_by_the_groups() {
        let c =
            Caller::from_claims(&claims(&[("sub", SUB), (GROUPS_CLAIM, "[warehouse]")])).unwrap();
        assert!(c.is_in(Role::Warehouse));
        assert!(!c.is_in(Role::Analysts));
        assert_eq!(c.require(Role::Warehouse), Ok(()));
        assert_eq!(
            c.require(Role::Analysts),
            Err(AuthError::MissingRole(Role::Analysts))
        );
        let none = Caller::from_claims(&claims(&[("sub", SUB)])).unwrap();
        assert_eq!(
            none.require(Role::Warehouse),
            Err(AuthError::MissingRole(Role::Warehouse))
        );
        let other =
            Caller::from_claims(&claims(&[("sub", SUB), (GROUPS_CLAIM, "[admins]")])).unwrap();
        assert_eq!(other.groups(), ["admins".to_owned()]);
        assert!(!other.is_in(Role::Warehouse) && !other.is_in(Role::Analysts));
    }

    #[test]
    fn the_subject_is_the_customer_id() {
        let c = Caller::from_claims(&claims(&[("sub", SUB)])).unwrap();
        assert_eq!(c.customer_id().to_string(), SUB);
    }

    #[test]
    fn a_missing_or_invalid_subject_is_unauthenticated() {
        assert_eq!(
            Caller::from_claims(&HashMap::new()),
            Err(AuthError::NoClaims)
        );
        assert_eq!(
            Caller::from_claims(&claims(&[("email", "a@b.co")])),
            Err(AuthError::NoSubject)
        );
        for bad in ["", "a/b", "not a customer", &"x".repeat(65)] {
            let err = Caller::from_claims(&claims(&[("sub", bad)])).unwrap_err();
            assert!(
                matches!(err, AuthError::InvalidSubject(_)),
                "{bad:?}: {err:?}"
            );
            assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn the_email_counts_only_when_verified() {
        let verified = Caller::from_claims(&claims(&[
            ("sub", SUB),
            ("email", "alice@example.com"),
            ("email_verified", "true"),
        ]))
        .unwrap();
        assert_eq!(
            verified.verified_email().unwrap().as_str(),
            "alice@example.com"
        );
        for flag in [None, Some("false"), Some("TRUE"), Some("")] {
            let mut c = claims(&[("sub", SUB), ("email", "alice@example.com")]);
            if let Some(f) = flag {
                c.insert("email_verified".into(), f.into());
            }
            let caller = Caller::from_claims(&c).unwrap();
            assert_eq!(
                caller.verified_email(),
                Err(AuthError::NoVerifiedEmail),
                "{flag:?}"
            );
        }
        // moto puts the login name in `email`: a sub is no address.
        let not_an_address = Caller::from_claims(&claims(&[
            ("sub", SUB),
            ("email", SUB),
            ("email_verified", "true"),
        ]))
        .unwrap();
        assert_eq!(
            not_an_address.verified_email(),
            Err(AuthError::NoVerifiedEmail)
        );
    }

    #[test]
    fn unauthenticated_is_401_with_a_bearer_challenge() {
        for err in [
            AuthError::NoClaims,
            AuthError::NoSubject,
            AuthError::InvalidSubject(InvalidValue("bad".into())),
        ] {
            let detail = err.to_string();
            let (status, ct, www, body) = parts(err.into_response());
            assert_eq!(status, 401);
            assert_eq!(ct, "application/problem+json");
            assert_eq!(www.as_deref(), Some("Bearer"));
            assert_eq!(body["type"], "urn:eventmart:problem:unauthenticated");
            assert_eq!(body["status"], 401);
            assert_eq!(body["detail"], detail);
        }
    }

    #[test]
    fn forbidden_is_403_naming_what_is_missing() {
        let (status, ct, www, body) =
            parts(AuthError::MissingRole(Role::Warehouse).into_response());
        assert_eq!(
            (status, ct.as_str(), www),
            (403, "application/problem+json", None)
        );
        assert_eq!(body["type"], "urn:eventmart:problem:forbidden");
        assert_eq!(body["detail"], "this needs the warehouse role");

        let (status, _, www, body) = parts(AuthError::NoVerifiedEmail.into_response());
        assert_eq!((status, www), (403, None));
        assert_eq!(body["type"], "urn:eventmart:problem:forbidden");
        assert_eq!(
            body["detail"],
            "the token carries no verified email; send the id token of a verified user"
        );
    }

    /// A payload 2.0 request as API Gateway sends it, with `authorizer` as given.
    fn request(authorizer: Option<Value>) -> Request {
        let mut context = json!({
            "routeKey": "POST /orders",
            "accountId": "123456789012",
            "stage": "$default",
            "requestId": "id",
            "apiId": "api-id",
            "domainName": "id.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "id",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390_i64,
            "http": {
                "method": "POST",
                "path": "/orders",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "agent"
            }
        });
        if let Some(a) = authorizer {
            context["authorizer"] = a;
        }
        let event = json!({
            "version": "2.0",
            "routeKey": "POST /orders",
            "rawPath": "/orders",
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": context,
            "body": "{}",
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn the_caller_comes_from_the_jwt_authorizer_claims() {
        let req = request(Some(json!({
            "jwt": {
                "claims": {
                    "sub": SUB,
                    "email": "alice@example.com",
                    "email_verified": "true",
                    "cognito:groups": "[analysts warehouse]",
                    "exp": "1796196099",
                    "token_use": "id"
                },
                "scopes": null
            }
        })));
        let c = caller(&req).unwrap();
        assert_eq!(c.customer_id().to_string(), SUB);
        assert_eq!(c.verified_email().unwrap().as_str(), "alice@example.com");
        assert!(c.is_in(Role::Analysts) && c.is_in(Role::Warehouse));
    }

    #[test]
    fn a_request_without_jwt_claims_is_unauthenticated() {
        assert_eq!(caller(&request(None)), Err(AuthError::NoClaims));
        assert_eq!(
            caller(&request(Some(json!({"lambda": {"sub": SUB}})))),
            Err(AuthError::NoClaims),
            "a Lambda authorizer's context is not a verified token"
        );
        assert_eq!(
            caller(&request(Some(
                json!({"jwt": {"claims": {}, "scopes": null}})
            ))),
            Err(AuthError::NoClaims)
        );
        assert_eq!(
            caller(&request(Some(
                json!({"jwt": {"claims": {"email": "a@b.co"}}})
            ))),
            Err(AuthError::NoSubject)
        );
        // Built by hand, with no request context at all.
        assert_eq!(caller(&Request::new(Body::Empty)), Err(AuthError::NoClaims));
    }

    #[test]
    fn errors_name_no_email_address() {
        let c =
            Caller::from_claims(&claims(&[("sub", SUB), ("email", "alice@example.com")])).unwrap();
        let err = c.verified_email().unwrap_err();
        assert!(!err.to_string().contains("alice"), "{err}");
        assert!(!format!("{c:?}").contains("alice"), "{c:?}");
    }
}
