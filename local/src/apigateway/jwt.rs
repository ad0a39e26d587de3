//! API Gateway HTTP API's JWT authorizer, as a pure function: a token, the issuer's
//! JWKS, the authorizer's issuer and audiences, the route's scopes and the time in; the
//! claims as payload format 2.0 carries them, or why the token was refused, out.
//!
//! The checks follow API Gateway's documented order: the token's three base64url parts;
//! the header's `alg` (RS256 only: API Gateway takes RSA keys only, and Cognito signs
//! with RS256) and `kid`; the signature; `iss`; `aud`, or `client_id` when there is no
//! `aud`; `exp`, `nbf` and `iat`, with no clock skew (API Gateway states none); Cognito's
//! `token_use`; and the route's scopes against `scope` or `scp`. A refusal names the
//! check for the log; the client is only ever told 401 `{"message":"Unauthorized"}`.

use crate::encoding::base64url_decode;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest token looked at: API Gateway refuses a request whose request line and
/// headers pass 10 KiB, so no longer token can reach its authorizer.
pub const MAX_TOKEN_BYTES: usize = 10 * 1024;

/// How much of a token's own text (a `kid`, an `alg`) a refusal repeats in the log.
const ECHO_CHARS: usize = 64;

/// The public keys of an issuer (its `jwks_uri` document), by key id: the RSA signing
/// keys only, as those are all a token here can be verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<RsaKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RsaKey {
    kid: String,
    /// Big-endian, no leading zeros (as ring wants them).
    n: Vec<u8>,
    e: Vec<u8>,
}

/// Why a JWKS document could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS is not a JSON object: {0}")]
    NotJson(String),
    #[error("the JWKS has no \"keys\" array")]
    NoKeys,
    #[error("JWKS key {index}: {reason}")]
    Key { index: usize, reason: String },
    #[error("JWKS key id {0:?} appears twice")]
    DuplicateKid(String),
}

impl Jwks {
    /// Parses `{"keys":[{"kty":"RSA","kid":…,"n":…,"e":…}]}`. Keys of another type, or
    /// for another use (`use` other than `sig`, `alg` other than `RS256`), are left out;
    /// an RSA signing key that is not well formed is an error, so that a broken
    /// issuer shows at load time rather than as every token refused.
    pub fn from_json(json: impl AsRef<[u8]>) -> Result<Jwks, JwksError> {
        let doc: Value =
            serde_json::from_slice(json.as_ref()).map_err(|e| JwksError::NotJson(e.to_string()))?;
        let Some(doc) = doc.as_object() else {
            return Err(JwksError::NotJson("not an object".into()));
        };
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::NoKeys)?;
        let mut keys: Vec<RsaKey> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let bad = |reason: &str| JwksError::Key {
                index,
                reason: reason.to_owned(),
            };
            let entry = entry.as_object().ok_or_else(|| bad("not an object"))?;
            let field = |name: &str| entry.get(name).and_then(Value::as_str);
            let for_rs256_signing = field("kty") == Some("RSA")
                && field("use").is_none_or(|u| u == "sig")
                && field("alg").is_none_or(|a| a == "RS256");
            if !for_rs256_signing {
                continue;
            }
            let kid = field("kid").ok_or_else(|| bad("has no kid"))?;
            let number = |name: &str| {
                field(name)
                    .and_then(base64url_decode)
                    .map(|b| strip_leading_zeros(&b).to_vec())
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad(&format!("{name} is not a base64url number")))
            };
            let (n, e) = (number("n")?, number("e")?);
            let bits = n.len() * 8 - n[0].leading_zeros() as usize;
            if !(2048..=8192).contains(&bits) {
                return Err(bad(&format!(
                    "the modulus has {bits} bits; RS256 keys need 2048 to 8192"
                )));
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(JwksError::DuplicateKid(kid.to_owned()));
            }
            keys.push(RsaKey {
                kid: kid.to_owned(),
                n,
                e,
            });
        }
        Ok(Jwks { keys })
    }

    /// The ids of the keys kept.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    fn key(&self, kid: &str) -> Option<&RsaKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// An authorizer's `JwtConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizer {
    /// Compared with `iss` exactly.
    pub issuer: String,
    /// `aud` (or `client_id`) must be one of them; none means no token passes.
    pub audiences: Vec<String>,
}

/// A token that passed: what payload format 2.0 puts at `requestContext.authorizer.jwt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Every claim as API Gateway renders it: strings as they are, numbers and booleans
    /// as JSON writes them, arrays as `[a b]`, objects and null as JSON text.
    pub claims: BTreeMap<String, String>,
    /// The token's scopes when the route requires some; empty when it requires none,
    /// where API Gateway sends `"scopes": null`.
    pub scopes: Vec<String>,
}

/// Which check refused a token. For the log only: it repeats no claim value beyond a
/// short `alg`, `kid` or `token_use`, and never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("missing: token not provided")]
    MissingToken,
    #[error("the token is longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("algorithm {} is not accepted: only RS256", .0.as_deref().unwrap_or("(none given)"))]
    Algorithm(Option<String>),
    #[error("the token header has no kid")]
    MissingKid,
    #[error("no key {0:?} in the issuer's JWKS")]
    UnknownKid(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("issuer does not match")]
    Issuer,
    #[error("the token does not have a valid audience")]
    Audience,
    #[error("the token has no exp")]
    NoExpiry,
    #[error("claim {0} is not a number of seconds")]
    InvalidTime(&'static str),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("token_use {0} is neither id nor access")]
    TokenUse(String),
    #[error("the token has none of the route's scopes")]
    Scope,
}

/// The token of an `Authorization` header, bare or after `Bearer ` (any case), as API
/// Gateway's identity source takes it.
pub fn bearer_token(header: Option<&str>) -> Result<&str, Rejection> {
    let value = header.unwrap_or_default().trim();
    let token = match value.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim_start(),
        _ if value.eq_ignore_ascii_case("bearer") => "",
        _ => value,
    };
    if token.is_empty() {
        Err(Rejection::MissingToken)
    } else {
        Ok(token)
    }
}

/// Verifies `token` as the authorizer would for a route requiring `required_scopes`
/// (none: any valid token) at time `now`.
pub fn verify(
    token: &str,
    jwks: &Jwks,
    authorizer: &JwtAuthorizer,
    required_scopes: &[String],
    now: SystemTime,
) -> Result<Verified, Rejection> {
    if token.is_empty() {
        return Err(Rejection::MissingToken);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed("not three dot-separated parts"));
    };
    let decode = |part, what| base64url_decode(part).ok_or(Rejection::Malformed(what));
    let header = decode(header_b64, "the header is not base64url")?;
    let payload = decode(payload_b64, "the payload is not base64url")?;
    let signature = decode(signature_b64, "the signature is not base64url")?;

    let header =
        json_object(&header).ok_or(Rejection::Malformed("the header is not a JSON object"))?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => {}
        other => return Err(Rejection::Algorithm(other.map(|a| echo(&render(a))))),
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) => kid,
        _ => return Err(Rejection::MissingKid),
    };
    let key = jwks
        .key(kid)
        .ok_or_else(|| Rejection::UnknownKid(echo(kid)))?;
    // The signed bytes are the token's own text up to the second dot.
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(
        &RSA_PKCS1_2048_8192_SHA256,
        signing_input.as_bytes(),
        &signature,
    )
    .map_err(|_| Rejection::Signature)?;

    let claims =
        json_object(&payload).ok_or(Rejection::Malformed("the payload is not a JSON object"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(authorizer.issuer.as_str()) {
        return Err(Rejection::Issuer);
    }
    let allowed = |aud: &str| authorizer.audiences.iter().any(|a| a == aud);
    // API Gateway looks at client_id only when there is no aud.
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => allowed(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(allowed),
        Some(_) => false,
        None => claims
            .get("client_id")
            .and_then(Value::as_str)
            .is_some_and(allowed),
    };
    if !audience_ok {
        return Err(Rejection::Audience);
    }
    let now = seconds_since_epoch(now);
    let exp = time_claim(&claims, "exp")?.ok_or(Rejection::NoExpiry)?;
    if exp <= now {
        return Err(Rejection::Expired);
    }
    if time_claim(&claims, "nbf")?.is_some_and(|nbf| nbf > now) {
        return Err(Rejection::NotYetValid);
    }
    if time_claim(&claims, "iat")?.is_some_and(|iat| iat > now) {
        return Err(Rejection::IssuedInFuture);
    }
    match claims.get("token_use") {
        None => {}
        Some(Value::String(use_)) if use_ == "id" || use_ == "access" => {}
        Some(other) => return Err(Rejection::TokenUse(echo(&render(other)))),
    }
    let scopes = if required_scopes.is_empty() {
        vec![]
    } else {
        let held = token_scopes(&claims);
        if !required_scopes.iter().any(|s| held.contains(s)) {
            return Err(Rejection::Scope);
        }
        held
    };
    Ok(Verified {
        claims: claims.iter().map(|(k, v)| (k.clone(), render(v))).collect(),
        scopes,
    })
}

fn json_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// A NumericDate claim: absent, or a number (fractions allowed, as RFC 7519 does).
fn time_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(Rejection::InvalidTime(name)),
    }
}

fn seconds_since_epoch(now: SystemTime) -> f64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// `scope` (space-separated, Cognito and RFC 8693) and `scp` (a string or an array, as
/// other issuers write it), in order, once each.
fn token_scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for name in ["scope", "scp"] {
        let found: Vec<&str> = match claims.get(name) {
            Some(Value::String(s)) => s.split_whitespace().collect(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        for s in found {
            if !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_owned());
            }
        }
    }
    scopes
}

/// A claim as API Gateway hands it to the integration: every value a string.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

/// At most [`ECHO_CHARS`] of a value from the token, for a refusal's message.
fn echo(value: &str) -> String {
    value.chars().take(ECHO_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::base64_encode;
    use ring::rand::SystemRandom;
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    use serde_json::json;
    use std::sync::LazyLock;
    use std::time::Duration;

    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test";
    const CLIENT: &str = "8c7c96cc37334b668393747802";
    const KID: &str = "issuer-key";
    const SUB: &str = "a4d72ef9-93c4-4e5d-87ab-32ab6cabfe7b";
    /// The tests' clock: 10 000 s before the tokens' `exp` of 1700000000.
    const NOW: u64 = 1_699_990_000;
    const EXP: u64 = 1_700_000_000;

    static ISSUER_KEY: LazyLock<RsaKeyPair> = LazyLock::new(|| {
        RsaKeyPair::from_pkcs8(include_bytes!("jwt_test_keys/issuer.pk8")).unwrap()
    });
    static OTHER_KEY: LazyLock<RsaKeyPair> = LazyLock::new(|| {
        RsaKeyPair::from_pkcs8(include_bytes!("jwt_test_keys/other.pk8")).unwrap()
    });

    fn b64url(bytes: &[u8]) -> String {
        base64_encode(bytes)
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_owned()
    }

    fn jwk(key: &RsaKeyPair, kid: &str) -> Value {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
        json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
               "n": b64url(&public.n), "e": b64url(&public.e)})
    }

    /// The issuer's JWKS, with the one key that signs its tokens.
    fn jwks() -> Jwks {
        Jwks::from_json(json!({"keys": [jwk(&ISSUER_KEY, KID)]}).to_string()).unwrap()
    }

    fn authorizer() -> JwtAuthorizer {
        JwtAuthorizer {
            issuer: ISSUER.into(),
            audiences: vec!["another-client".into(), CLIENT.into()],
        }
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn header() -> Value {
        json!({"typ": "JWT", "kid": KID, "alg": "RS256"})
    }

    /// A token of these exact header and payload bytes, signed RS256 with `key`.
    fn sign_raw(key: &RsaKeyPair, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64url(header), b64url(payload));
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .unwrap();
        format!("{input}.{}", b64url(&signature))
    }

    fn sign(key: &RsaKeyPair, header: &Value, claims: &Value) -> String {
        sign_raw(
            key,
            header.to_string().as_bytes(),
            claims.to_string().as_bytes(),
        )
    }

    /// An id token as Cognito issues it (with `email_verified` a boolean, as Cognito
    /// writes it; moto writes the string `"true"`).
    fn id_claims() -> Value {
        json!({
            "iss": ISSUER, "sub": SUB, "aud": CLIENT, "token_use": "id",
            "iat": NOW - 100, "auth_time": NOW - 100, "exp": EXP,
            "email": "alice@example.com", "email_verified": true,
            "cognito:groups": ["warehouse", "analysts"],
            "address": {"country": "NL"}
        })
    }

    fn access_claims() -> Value {
        json!({
            "iss": ISSUER, "sub": SUB, "client_id": CLIENT, "token_use": "access",
            "iat": NOW - 100, "exp": EXP,
            "scope": "aws.cognito.signin.user.admin orders/read",
            "cognito:groups": ["warehouse"]
        })
    }

    fn with(mut claims: Value, changes: Value) -> Value {
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn check(token: &str, scopes: &[&str]) -> Result<Verified, Rejection> {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        verify(token, &jwks(), &authorizer(), &scopes, now())
    }

    fn check_claims(claims: Value) -> Result<Verified, Rejection> {
        check(&sign(&ISSUER_KEY, &header(), &claims), &[])
    }

    #[test]
    fn a_valid_id_token_passes_with_its_claims_as_strings() {
        let v = check_claims(id_claims()).unwrap();
        let expected: BTreeMap<String, String> = [
            ("iss", ISSUER),
            ("sub", SUB),
            ("aud", CLIENT),
            ("token_use", "id"),
            ("iat", "1699989900"),
            ("auth_time", "1699989900"),
            ("exp", "1700000000"),
            ("email", "alice@example.com"),
            ("email_verified", "true"),
            ("cognito:groups", "[warehouse analysts]"),
            ("address", r#"{"country":"NL"}"#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(v.claims, expected);
        assert_eq!(
            v.scopes,
            Vec::<String>::new(),
            "the route requires no scope"
        );
    }

    #[test]
    fn a_valid_access_token_passes_on_client_id_and_scope() {
        let token = sign(&ISSUER_KEY, &header(), &access_claims());
        let v = check(&token, &["orders/write", "orders/read"]).unwrap();
        assert_eq!(v.claims["client_id"], CLIENT);
        assert_eq!(v.claims["cognito:groups"], "[warehouse]");
        assert_eq!(v.claims["exp"], "1700000000");
        assert!(!v.claims.contains_key("aud"));
        assert_eq!(v.scopes, ["aws.cognito.signin.user.admin", "orders/read"]);
    }

    #[test]
    fn a_route_scope_the_token_lacks_is_refused() {
        let access = sign(&ISSUER_KEY, &header(), &access_claims());
        assert_eq!(check(&access, &["orders/write"]), Err(Rejection::Scope));
        // An id token has no scope at all: a scoped route takes access tokens only.
        let id = sign(&ISSUER_KEY, &header(), &id_claims());
        assert_eq!(
            check(&id, &["aws.cognito.signin.user.admin"]),
            Err(Rejection::Scope)
        );
        // `scp`, as a string or an array, counts as `scope` does.
        for scp in [json!("orders/read"), json!(["x", "orders/read"])] {
            let token = sign(
                &ISSUER_KEY,
                &header(),
                &with(access_claims(), json!({"scope": null, "scp": scp})),
            );
            assert!(check(&token, &["orders/read"]).is_ok(), "scp {scp}");
        }
    }

    #[test]
    fn a_token_of_another_key_or_tampered_is_refused() {
        let other = sign(&OTHER_KEY, &header(), &id_claims());
        assert_eq!(check(&other, &[]), Err(Rejection::Signature));

        let token = sign(&ISSUER_KEY, &header(), &id_claims());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = with(id_claims(), json!({"cognito:groups": ["admins"]}));
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64url(forged.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(check(&tampered, &[]), Err(Rejection::Signature));
    }

    #[test]
    fn only_rs256_is_accepted() {
        // alg none, unsigned: the classic bypass.
        let none = format!(
            "{}.{}.",
            b64url(json!({"alg": "none", "kid": KID}).to_string().as_bytes()),
            b64url(id_claims().to_string().as_bytes())
        );
        assert_eq!(
            check(&none, &[]),
            Err(Rejection::Algorithm(Some("none".into())))
        );
        // HS256 keyed with the public modulus: the key-confusion attack.
        let input = format!(
            "{}.{}",
            b64url(json!({"alg": "HS256", "kid": KID}).to_string().as_bytes()),
            b64url(id_claims().to_string().as_bytes())
        );
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(ISSUER_KEY.public());
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public.n),
            input.as_bytes(),
        );
        let hs256 = format!("{input}.{}", b64url(mac.as_ref()));
        assert_eq!(
            check(&hs256, &[]),
            Err(Rejection::Algorithm(Some("HS256".into())))
        );
        for (alg, shown) in [
            (json!("RS512"), Some("RS512")),
            (json!("rs256"), Some("rs256")),
            (json!(256), Some("256")),
            (json!(null), Some("null")),
        ] {
            let token = sign(&ISSUER_KEY, &json!({"alg": alg, "kid": KID}), &id_claims());
            assert_eq!(
                check(&token, &[]),
                Err(Rejection::Algorithm(shown.map(str::to_owned))),
                "{alg}"
            );
        }
        let no_alg = sign(&ISSUER_KEY, &json!({"kid": KID}), &id_claims());
        assert_eq!(check(&no_alg, &[]), Err(Rejection::Algorithm(None)));
        assert_eq!(
            Rejection::Algorithm(None).to_string(),
            "algorithm (none given) is not accepted: only RS256"
        );
    }

    #[test]
    fn the_kid_must_name_a_key_of_the_jwks() {
        let unknown = sign(
            &ISSUER_KEY,
            &json!({"alg": "RS256", "kid": "rotated-away"}),
            &id_claims(),
        );
        assert_eq!(
            check(&unknown, &[]),
            Err(Rejection::UnknownKid("rotated-away".into()))
        );
        let no_kid = sign(&ISSUER_KEY, &json!({"alg": "RS256"}), &id_claims());
        assert_eq!(check(&no_kid, &[]), Err(Rejection::MissingKid));
        let long = "k".repeat(500);
        let echoed = sign(
            &ISSUER_KEY,
            &json!({"alg": "RS256", "kid": long}),
            &id_claims(),
        );
        assert_eq!(
            check(&echoed, &[]),
            Err(Rejection::UnknownKid("k".repeat(ECHO_CHARS))),
            "a refusal repeats a bounded part of the token"
        );
    }

    #[test]
    fn the_issuer_must_match_exactly() {
        for iss in [
            json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"),
            json!(format!("{ISSUER}/")),
            json!(null),
            json!(["x"]),
        ] {
            assert_eq!(
                check_claims(with(id_claims(), json!({"iss": iss}))),
                Err(Rejection::Issuer),
                "{iss}"
            );
        }
    }

    #[test]
    fn the_audience_comes_from_aud_else_client_id() {
        assert_eq!(
            check_claims(with(id_claims(), json!({"aud": "someone-else"}))),
            Err(Rejection::Audience)
        );
        assert!(check_claims(with(id_claims(), json!({"aud": ["x", CLIENT]}))).is_ok());
        assert_eq!(
            check_claims(with(id_claims(), json!({"aud": ["x", "y"]}))),
            Err(Rejection::Audience)
        );
        assert_eq!(
            check_claims(with(id_claims(), json!({"aud": 7}))),
            Err(Rejection::Audience)
        );
        assert_eq!(
            check_claims(with(
                id_claims(),
                json!({"aud": "someone-else", "client_id": CLIENT})
            )),
            Err(Rejection::Audience),
            "with aud present, client_id is not looked at"
        );
        assert_eq!(
            check_claims(with(access_claims(), json!({"client_id": "someone-else"}))),
            Err(Rejection::Audience)
        );
        assert_eq!(
            check_claims(with(access_claims(), json!({"client_id": null}))),
            Err(Rejection::Audience)
        );
    }

    #[test]
    fn exp_nbf_and_iat_hold_against_the_clock() {
        assert_eq!(
            check_claims(with(id_claims(), json!({"exp": NOW - 1}))),
            Err(Rejection::Expired)
        );
        assert_eq!(
            check_claims(with(id_claims(), json!({"exp": NOW}))),
            Err(Rejection::Expired),
            "exp is the first instant the token is invalid"
        );
        assert!(check_claims(with(id_claims(), json!({"exp": NOW as f64 + 0.5}))).is_ok());
        assert_eq!(
            check_claims(with(id_claims(), json!({"exp": null}))),
            Err(Rejection::NoExpiry)
        );
        assert_eq!(
            check_claims(with(id_claims(), json!({"exp": "1700000000"}))),
            Err(Rejection::InvalidTime("exp"))
        );
        assert_eq!(
            check_claims(with(id_claims(), json!({"nbf": NOW + 1}))),
            Err(Rejection::NotYetValid)
        );
        assert!(check_claims(with(id_claims(), json!({"nbf": NOW}))).is_ok());
        assert_eq!(
            check_claims(with(id_claims(), json!({"nbf": true}))),
            Err(Rejection::InvalidTime("nbf"))
        );
        assert_eq!(
            check_claims(with(id_claims(), json!({"iat": NOW + 1}))),
            Err(Rejection::IssuedInFuture)
        );
        assert!(check_claims(with(id_claims(), json!({"iat": NOW}))).is_ok());
        assert!(check_claims(with(id_claims(), json!({"iat": null}))).is_ok());
    }

    #[test]
    fn token_use_must_be_id_or_access_when_present() {
        assert_eq!(
            check_claims(with(id_claims(), json!({"token_use": "refresh"}))),
            Err(Rejection::TokenUse("refresh".into()))
        );
        assert_eq!(
            check_claims(with(id_claims(), json!({"token_use": ["id"]}))),
            Err(Rejection::TokenUse("[id]".into()))
        );
        assert!(check_claims(with(id_claims(), json!({"token_use": null}))).is_ok());
    }

    #[test]
    fn malformed_tokens_are_refused_by_the_first_check() {
        let valid = sign(&ISSUER_KEY, &header(), &id_claims());
        let parts: Vec<&str> = valid.split('.').collect();
        let cases: Vec<(String, Rejection)> = vec![
            ("".into(), Rejection::MissingToken),
            (
                "abc".into(),
                Rejection::Malformed("not three dot-separated parts"),
            ),
            (
                "a.b".into(),
                Rejection::Malformed("not three dot-separated parts"),
            ),
            (
                format!("{valid}.x"),
                Rejection::Malformed("not three dot-separated parts"),
            ),
            (
                format!("{}+.{}.{}", parts[0], parts[1], parts[2]),
                Rejection::Malformed("the header is not base64url"),
            ),
            (
                format!("{}.{}=.{}", parts[0], parts[1], parts[2]),
                Rejection::Malformed("the payload is not base64url"),
            ),
            (
                format!("{}.{}.{}!", parts[0], parts[1], parts[2]),
                Rejection::Malformed("the signature is not base64url"),
            ),
            (
                format!("{}.{}.{}", b64url(b"[1]"), parts[1], parts[2]),
                Rejection::Malformed("the header is not a JSON object"),
            ),
            (
                format!("{}.{}.{}", b64url(&[0xff, 0xfe, 0x7b]), parts[1], parts[2]),
                Rejection::Malformed("the header is not a JSON object"),
            ),
            (format!("{}.{}.", parts[0], parts[1]), Rejection::Signature),
            (
                "é.é.é".into(),
                Rejection::Malformed("the header is not base64url"),
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(check(&token, &[]), Err(expected), "{token:?}");
        }
        // A signed payload that is not a JSON object (or not UTF-8) fails after the
        // signature, on the payload check.
        for payload in [&b"[1,2]"[..], b"not json", &[0xc3, 0x28]] {
            let token = sign_raw(&ISSUER_KEY, header().to_string().as_bytes(), payload);
            assert_eq!(
                check(&token, &[]),
                Err(Rejection::Malformed("the payload is not a JSON object"))
            );
        }
    }

    #[test]
    fn no_input_panics_or_passes() {
        let valid = sign(&ISSUER_KEY, &header(), &id_claims());
        assert!(check(&valid, &[]).is_ok());
        // Every truncation.
        for end in 0..valid.len() {
            assert!(check(&valid[..end], &[]).is_err(), "truncated at {end}");
        }
        // Every one-character change: the signed text changes, so nothing passes.
        let bytes = valid.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'A', b'_', b'.', b'='] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut changed = bytes.to_vec();
                changed[i] = replacement;
                let changed = String::from_utf8(changed).unwrap();
                assert!(check(&changed, &[]).is_err(), "byte {i} -> {replacement}");
            }
        }
        // Huge input, in one part or three.
        let huge = "A".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(check(&huge, &[]), Err(Rejection::TooLong));
        let third = "A".repeat(MAX_TOKEN_BYTES / 3);
        assert_eq!(
            check(&format!("{third}.{third}.{third}A"), &[]),
            Err(Rejection::TooLong)
        );
        // Pseudo-random tokens over an alphabet with dots, padding and non-ASCII.
        let alphabet: Vec<char> = "AZaz09-_.=+/ é\u{0}".chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut token = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for _ in 0..(state % 200) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                token.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            assert!(check(&token, &[]).is_err(), "{token:?}");
        }
        // Decodable parts that are not UTF-8, and a header too deep to parse.
        let junk = b64url(&[0x80; 40]);
        assert!(check(&format!("{junk}.{junk}.{junk}"), &[]).is_err());
        let deep = b64url(format!("{}{}", "[".repeat(3000), "]".repeat(3000)).as_bytes());
        assert_eq!(
            check(&format!("{deep}.e30.AA"), &[]),
            Err(Rejection::Malformed("the header is not a JSON object"))
        );
    }

    #[test]
    fn bearer_tokens_are_read_bare_or_after_the_scheme() {
        assert_eq!(bearer_token(Some("Bearer abc.def.ghi")), Ok("abc.def.ghi"));
        assert_eq!(bearer_token(Some("bearer  abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("abc.def.ghi")), Ok("abc.def.ghi"));
        assert_eq!(bearer_token(Some("BEARER\tabc")), Ok("abc"));
        assert_eq!(bearer_token(Some("Bearer ")), Err(Rejection::MissingToken));
        assert_eq!(bearer_token(Some("bearer")), Err(Rejection::MissingToken));
        assert_eq!(bearer_token(Some("  ")), Err(Rejection::MissingToken));
        assert_eq!(bearer_token(None), Err(Rejection::MissingToken));
        assert_eq!(
            bearer_token(Some("éééé")),
            Ok("éééé"),
            "no panic mid-character"
        );
    }

    #[test]
    fn a_jwks_keeps_its_rsa_signing_keys() {
        let rsa = jwk(&ISSUER_KEY, KID);
        let doc = json!({"keys": [
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            with(rsa.clone(), json!({"kid": "enc", "use": "enc"})),
            with(rsa.clone(), json!({"kid": "ps256", "alg": "PS256"})),
            with(rsa.clone(), json!({"kid": "bare", "use": null, "alg": null})),
            rsa.clone(),
        ]});
        let jwks = Jwks::from_json(doc.to_string()).unwrap();
        assert_eq!(jwks.key_ids().collect::<Vec<_>>(), ["bare", KID]);

        // A modulus written with a leading zero byte is the same key.
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(ISSUER_KEY.public());
        let padded = [&[0u8][..], &public.n].concat();
        let doc = json!({"keys": [with(rsa.clone(), json!({"n": b64url(&padded)}))]});
        let token = sign(&ISSUER_KEY, &header(), &id_claims());
        let jwks = Jwks::from_json(doc.to_string()).unwrap();
        assert!(verify(&token, &jwks, &authorizer(), &[], now()).is_ok());
    }

    #[test]
    fn a_broken_jwks_is_an_error_naming_what_is_wrong() {
        let rsa = jwk(&ISSUER_KEY, KID);
        let key_error = |index, reason: &str| JwksError::Key {
            index,
            reason: reason.to_owned(),
        };
        assert!(matches!(
            Jwks::from_json("nope"),
            Err(JwksError::NotJson(_))
        ));
        assert_eq!(
            Jwks::from_json("[]"),
            Err(JwksError::NotJson("not an object".into()))
        );
        assert_eq!(Jwks::from_json("{}"), Err(JwksError::NoKeys));
        let cases = [
            (json!([7]), key_error(0, "not an object")),
            (
                json!([with(rsa.clone(), json!({"kid": null}))]),
                key_error(0, "has no kid"),
            ),
            (
                json!([rsa.clone(), with(rsa.clone(), json!({"n": "+/"}))]),
                key_error(1, "n is not a base64url number"),
            ),
            (
                json!([with(rsa.clone(), json!({"e": "AAAA"}))]),
                key_error(0, "e is not a base64url number"),
            ),
            (
                json!([with(rsa.clone(), json!({"n": b64url(&[0xff; 128])}))]),
                key_error(0, "the modulus has 1024 bits; RS256 keys need 2048 to 8192"),
            ),
            (
                json!([rsa.clone(), rsa.clone()]),
                JwksError::DuplicateKid(KID.into()),
            ),
        ];
        for (keys, expected) in cases {
            assert_eq!(
                Jwks::from_json(json!({"keys": keys}).to_string()),
                Err(expected)
            );
        }
        let empty = Jwks::from_json(r#"{"keys":[]}"#).unwrap();
        let token = sign(&ISSUER_KEY, &header(), &id_claims());
        assert_eq!(
            verify(&token, &empty, &authorizer(), &[], now()),
            Err(Rejection::UnknownKid(KID.into()))
        );
    }
}
