//! The HTTP API's JWT authorizer against a real issuer: moto's Cognito signs the tokens
//! and serves the keys; the gateway refuses what API Gateway refuses before any function
//! runs, and passes the claims as payload 2.0 does.

use eventmart_local::apigateway::jwt::JwtAuthorizer;
use eventmart_local::apigateway::{Authorizer, Gateway, RouteSpec};
use eventmart_local::cognito::{self, Cognito};
use eventmart_local::servers::moto::Moto;
use serde_json::{Value, json};
use std::sync::Arc;

mod support;
use support::{Recorder, request, root};

const PASSWORD: &str = "Local-passw0rd";

struct Fixture {
    _moto: Moto,
    cognito: Cognito,
    pool: String,
    client: String,
    gateway: Gateway,
    recorder: Arc<Recorder>,
}

/// A pool with two clients, a user in `warehouse`, and a gateway whose `/private` route
/// takes tokens for the first client only.
async fn fixture() -> Fixture {
    let log = std::env::temp_dir().join(format!("jwt-moto-{}.log", std::process::id()));
    let moto = Moto::start(&root(), &log).await.expect("moto starts");
    let cognito = Cognito::new(moto.endpoint());
    let pool = cognito
        .call(
            "CreateUserPool",
            &json!({"PoolName": "p", "UsernameAttributes": ["email"]}),
        )
        .await
        .expect("pool")["UserPool"]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client_of = async |name: &str| {
        cognito
            .call(
                "CreateUserPoolClient",
                &json!({"UserPoolId": pool, "ClientName": name, "ReadAttributes": ["email", "email_verified"]}),
            )
            .await
            .expect("client")["UserPoolClient"]["ClientId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let client = client_of("web").await;
    cognito
        .call(
            "CreateGroup",
            &json!({"UserPoolId": pool, "GroupName": "warehouse"}),
        )
        .await
        .expect("group");
    cognito
        .ensure_user(
            &pool,
            &client,
            "grace@example.com",
            PASSWORD,
            &["warehouse"],
        )
        .await
        .expect("user");
    let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}");
    let authorizer = Arc::new(Authorizer::new(
        "Cognito",
        JwtAuthorizer {
            issuer: issuer.clone(),
            audiences: vec![client.clone()],
        },
        "Authorization",
        cognito::jwks_url(&moto.endpoint(), &issuer),
    ));
    let routes = vec![
        RouteSpec::new("GET", "/private", "F").with_authorizer(authorizer.clone(), vec![]),
        RouteSpec::new("GET", "/scoped", "F")
            .with_authorizer(authorizer, vec!["orders/write".into()]),
        RouteSpec::new("GET", "/page", "F"),
    ];
    let recorder = Recorder::answering(Ok(json!({"statusCode": 200, "body": "ok"})));
    let gateway = Gateway::start(routes, recorder.clone())
        .await
        .expect("gateway");
    Fixture {
        _moto: moto,
        cognito,
        pool,
        client,
        gateway,
        recorder,
    }
}

impl Fixture {
    async fn get(&self, path: &str, authorization: Option<&str>) -> (u16, Value, Option<String>) {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let r = request(self.gateway.addr(), "GET", path, &headers, b"").await;
        let challenge = r.header("www-authenticate").map(str::to_owned);
        (r.status, r.json().unwrap_or(Value::Null), challenge)
    }
}

#[tokio::test]
async fn tokens_are_verified_before_any_function_runs_and_claims_reach_it_as_strings() {
    let f = fixture().await;
    let unauthorized = (
        401,
        json!({"message": "Unauthorized"}),
        Some("Bearer".to_owned()),
    );
    assert_eq!(f.get("/private", None).await, unauthorized);
    assert_eq!(
        f.get("/private", Some("Bearer not.a.jwt")).await,
        unauthorized
    );
    assert_eq!(f.get("/private", Some("Bearer ")).await, unauthorized);
    assert!(
        f.recorder.events().is_empty(),
        "nothing invoked on a refusal"
    );

    let tokens = f
        .cognito
        .sign_in(&f.client, "grace@example.com", PASSWORD)
        .await
        .expect("signed in");
    let id = format!("Bearer {}", tokens.id_token);
    assert_eq!(f.get("/private", Some(&id)).await.0, 200);
    let event = f.recorder.events().pop().expect("invoked");
    let jwt = &event["requestContext"]["authorizer"]["jwt"];
    let claims = &jwt["claims"];
    assert_eq!(claims["email"], "grace@example.com");
    assert_eq!(claims["email_verified"], "true");
    assert_eq!(claims["token_use"], "id");
    assert_eq!(claims["aud"], f.client.as_str());
    assert_eq!(claims["cognito:groups"], "[warehouse]");
    assert!(
        claims["exp"]
            .as_str()
            .is_some_and(|e| e.parse::<u64>().is_ok()),
        "{claims}"
    );
    assert!(
        claims.as_object().unwrap().values().all(Value::is_string),
        "every claim a string: {claims}"
    );
    assert_eq!(jwt["scopes"], Value::Null);

    // The access token has no aud: its client_id is checked instead; a bare token (no
    // "Bearer") is taken as API Gateway takes it.
    assert_eq!(f.get("/private", Some(&tokens.access_token)).await.0, 200);
    let access = f.recorder.events().pop().unwrap();
    assert_eq!(
        access["requestContext"]["authorizer"]["jwt"]["claims"]["client_id"],
        f.client.as_str()
    );

    // A route that requires a scope the token lacks.
    assert_eq!(f.get("/scoped", Some(&id)).await, unauthorized);

    // A valid token of the same pool for another client: not this API's audience.
    let other = f
        .cognito
        .call(
            "CreateUserPoolClient",
            &json!({"UserPoolId": f.pool, "ClientName": "other"}),
        )
        .await
        .unwrap()["UserPoolClient"]["ClientId"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = f
        .cognito
        .sign_in(&other, "grace@example.com", PASSWORD)
        .await
        .expect("signed in to the other client");
    let before = f.recorder.events().len();
    assert_eq!(
        f.get("/private", Some(&format!("Bearer {}", foreign.id_token)))
            .await,
        unauthorized
    );
    // A tampered payload: the signature no longer verifies.
    let mut parts: Vec<&str> = tokens.id_token.split('.').collect();
    let forged = eventmart_local::encoding::base64url_encode(
        br#"{"sub":"someone-else","iss":"x","exp":4102444800}"#,
    );
    parts[1] = &forged;
    assert_eq!(
        f.get("/private", Some(&format!("Bearer {}", parts.join("."))))
            .await,
        unauthorized
    );
    assert_eq!(
        f.recorder.events().len(),
        before,
        "nothing invoked on a refusal"
    );

    // A public route: no authorizer runs, and the event carries none.
    assert_eq!(f.get("/page", None).await.0, 200);
    let public = f.recorder.events().pop().unwrap();
    assert!(
        public["requestContext"].get("authorizer").is_none(),
        "{public}"
    );
}

#[test]
fn cognito_issuers_fetch_their_keys_from_the_local_cognito() {
    assert_eq!(
        cognito::jwks_url(
            "http://127.0.0.1:5000/",
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc"
        ),
        "http://127.0.0.1:5000/us-east-1_abc/.well-known/jwks.json"
    );
    assert_eq!(
        cognito::jwks_url("http://127.0.0.1:5000", "http://127.0.0.1:7000/issuer/"),
        "http://127.0.0.1:7000/issuer/.well-known/jwks.json"
    );
}
