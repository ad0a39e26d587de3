//! The template's user pool, client and groups created in moto's Cognito, and a user
//! signed up and in as a front end does.

use eventmart_local::cognito::Cognito;
use eventmart_local::encoding::base64url_decode;
use eventmart_local::servers::moto::Moto;
use eventmart_local::template::{LocalNaming, Stack};
use serde_json::{Value, json};

mod support;
use support::root;

/// A token's payload, decoded without verifying (the gateway's tests verify).
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&base64url_decode(part).expect("base64url")).expect("JSON")
}

#[tokio::test]
async fn the_template_pool_is_created_and_a_user_signs_in_with_its_groups() {
    let log = std::env::temp_dir().join(format!("cognito-moto-{}.log", std::process::id()));
    let moto = Moto::start(&root(), &log).await.expect("moto starts");
    let template = root().join("template.yaml");
    let naming = LocalNaming::new(moto.endpoint());
    let draft = Stack::load(&template, &naming, &Default::default()).expect("template loads");
    assert_eq!(draft.user_pools.len(), 1);
    assert_eq!(draft.user_pool_clients[0].user_pool, "UserPool");
    let mut groups: Vec<&str> = draft
        .user_pool_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    groups.sort();
    assert_eq!(groups, ["analysts", "warehouse"]);

    let cognito = Cognito::new(moto.endpoint());
    let ids = cognito
        .create(&draft)
        .await
        .expect("pool, client and groups created");
    let model = Stack::load(
        &template,
        &naming.with_assigned(ids.clone()),
        &Default::default(),
    )
    .expect("template loads with the assigned ids");
    let pool = &model.user_pools[0];
    let client = &model.user_pool_clients[0];
    assert_eq!(pool.id, ids["UserPool"]);
    assert_eq!(client.id, ids["UserPoolClient"]);
    assert_eq!(pool.name, "eventmart-dev-users");
    assert_eq!(
        pool.issuer,
        format!("https://cognito-idp.us-east-1.amazonaws.com/{}", pool.id)
    );
    assert_eq!(model.outputs["UserPoolId"], pool.id);
    assert_eq!(model.outputs["UserPoolClientId"], client.id);

    // As created: email as username, the template's password policy, no client secret.
    let described = cognito
        .call("DescribeUserPool", &json!({"UserPoolId": pool.id}))
        .await
        .expect("pool described");
    assert_eq!(
        described["UserPool"]["UsernameAttributes"],
        json!(["email"])
    );
    assert_eq!(
        described["UserPool"]["Policies"]["PasswordPolicy"]["MinimumLength"],
        12
    );
    let listed = cognito
        .call("ListGroups", &json!({"UserPoolId": pool.id}))
        .await
        .expect("groups listed");
    assert_eq!(listed["Groups"].as_array().map(Vec::len), Some(2));
    let c = cognito
        .call(
            "DescribeUserPoolClient",
            &json!({"UserPoolId": pool.id, "ClientId": client.id}),
        )
        .await
        .expect("client described");
    assert!(c["UserPoolClient"].get("ClientSecret").is_none(), "{c}");

    // A short password breaks the policy: the user is not created.
    let weak = cognito
        .ensure_user(&pool.id, &client.id, "weak@example.com", "short", &[])
        .await
        .expect_err("a weak password is refused");
    assert_eq!(weak.kind(), Some("InvalidPasswordException"), "{weak}");

    let email = "grace@example.com";
    let password = "Local-passw0rd";
    cognito
        .ensure_user(&pool.id, &client.id, email, password, &["warehouse"])
        .await
        .expect("user signed up");
    let tokens = cognito
        .sign_in(&client.id, email, password)
        .await
        .expect("signed in");
    let id = payload(&tokens.id_token);
    assert_eq!(id["iss"], pool.issuer.as_str());
    assert_eq!(id["aud"], client.id.as_str());
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["email"], email);
    assert_eq!(id["email_verified"], "true");
    assert_eq!(id["cognito:groups"], json!(["warehouse"]));
    let access = payload(&tokens.access_token);
    assert_eq!(access["client_id"], client.id.as_str());
    assert_eq!(access["token_use"], "access");
    assert_eq!(access["sub"], id["sub"]);

    // Signing up again reuses the user (same sub) and adds the new group.
    cognito
        .ensure_user(&pool.id, &client.id, email, password, &["analysts"])
        .await
        .expect("existing user reused");
    let again = payload(
        &cognito
            .sign_in(&client.id, email, password)
            .await
            .unwrap()
            .id_token,
    );
    assert_eq!(again["sub"], id["sub"]);
    let mut groups: Vec<String> = serde_json::from_value(again["cognito:groups"].clone()).unwrap();
    groups.sort();
    assert_eq!(groups, ["analysts", "warehouse"]);

    let wrong = cognito
        .sign_in(&client.id, email, "Wrong-passw0rd")
        .await
        .expect_err("a wrong password is refused");
    assert_eq!(wrong.kind(), Some("NotAuthorizedException"), "{wrong}");

    // The pool's signing keys, where an authorizer fetches them.
    let jwks = cognito.jwks(&pool.id).await.expect("JWKS served");
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
}
