//! Helpers shared by the integration tests: clients for the local servers the test
//! command starts, template.yaml read once by the local stack's loader and its tables
//! created there from that model (with keys, streams and TTL), outbox items read back
//! into events, and fixtures.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use eventmart_local::template::{LocalNaming, Stack, Table};
use eventmart_shared::aws::RequestCounter;
use eventmart_shared::events::Event;
use eventmart_shared::outbox;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The endpoint of the moto server the test command started.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run the integration tests with `make test`, which starts a local moto server",
    )
}

/// A DynamoDB client for the local server, counting its requests.
pub async fn dynamodb() -> (Client, RequestCounter) {
    let _ = endpoint();
    let counter = RequestCounter::default();
    let config = eventmart_shared::aws::sdk_config().await;
    let client = Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(counter.clone())
            .build(),
    );
    (client, counter)
}

/// template.yaml as the local stack reads it (`eventmart_local::template`): functions,
/// routes, rules, stream mappings, tables with their keys, streams and TTL. Loaded once.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| load_stack(&repo_root().join("template.yaml")))
}

/// Another template (a proposed change) as the local stack reads it, named as
/// [`stack`] names resources.
pub fn load_stack(path: &Path) -> Stack {
    // The endpoint only shapes queue URLs; tests that read the model need no server.
    let moto =
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned());
    Stack::load(path, &LocalNaming::new(moto), &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// template.yaml as raw YAML, for the checks of what the model leaves out (build
/// metadata, alarms).
pub fn template_yaml() -> serde_yaml::Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// Creates every table of template.yaml, named `<LogicalId>-<suffix>` so that tests
/// running side by side never share a table. Returns logical id → table name.
pub async fn create_tables(client: &Client) -> HashMap<String, String> {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    create_tables_named(client, |id| format!("{id}-{suffix}")).await
}

/// Creates every table of template.yaml under the name `name(logical id)`, as the local
/// stack provisions them: keys, stream and TTL.
pub async fn create_tables_named(
    client: &Client,
    name: impl Fn(&str) -> String,
) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for table in &stack().tables {
        let name = name(&table.logical_id);
        create_table(client, table, &name).await;
        names.insert(table.logical_id.clone(), name);
    }
    names
}

/// One table of the model, under `name`.
async fn create_table(client: &Client, table: &Table, name: &str) {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for a in &table.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .expect("name and type are set"),
        );
    }
    for k in &table.key_schema {
        req = req.key_schema(
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .expect("name and key type are set"),
        );
    }
    if let Some(view) = table.stream_view_type {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()
                .expect("enabled is set"),
        );
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {}", DisplayErrorContext(e)));
    if let Some(attribute) = &table.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .expect("attribute and enabled are set"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("TTL of {name}: {}", DisplayErrorContext(e)));
    }
}

/// Every outbox item of a table, read back into its event (`outbox::event`, which
/// panics here on an item the relay would not publish), in the order they were written:
/// event ids are UUID v7.
pub async fn outbox_events(client: &Client, table: &str) -> Vec<Event> {
    let items = client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .filter_expression("#kind = :outbox")
        .expression_attribute_names("#kind", outbox::attr::KIND)
        .expression_attribute_values(":outbox", AttributeValue::S(outbox::KIND.to_owned()))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap_or_else(|e| panic!("scan {table}: {}", DisplayErrorContext(e)));
    let mut events: Vec<Event> = items
        .iter()
        .map(|item| outbox::event(item).unwrap_or_else(|e| panic!("{table}: {e}: {item:?}")))
        .collect();
    events.sort_by_key(|e| e.metadata().event_id.to_string());
    events
}

/// A DynamoDB client whose every request fails before it is built, as the SDK fails a
/// request it cannot build (a construction failure: no code, no status).
pub fn unbuildable_dynamodb() -> Client {
    use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
    use aws_sdk_dynamodb::config::{BehaviorVersion, ConfigBag, Intercept, Region};
    use aws_sdk_dynamodb::error::BoxError;

    #[derive(Debug)]
    struct Unbuildable;

    impl Intercept for Unbuildable {
        fn name(&self) -> &'static str {
            "Unbuildable"
        }

        fn read_before_execution(
            &self,
            _context: &BeforeSerializationInterceptorContextRef<'_>,
            _cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            Err("the request cannot be built".into())
        }
    }

    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .interceptor(Unbuildable)
        .build();
    Client::from_conf(config)
}

/// A sample EventBridge event of `events/eventbridge/` (`OrderPlaced`, ...).
pub fn sample_event(name: &str) -> serde_json::Value {
    fixture(&format!("events/eventbridge/{name}.json"))
}

/// `ev` (an `OrderPlaced`) as one line of `subtotal` minor units in `currency`, priced
/// for a member of `plan` (its rate off, rounded down, as the contract requires) or for
/// a non-member.
pub fn priced_order(
    mut ev: serde_json::Value,
    subtotal: u64,
    currency: &str,
    plan: Option<eventmart_shared::events::Plan>,
) -> serde_json::Value {
    use serde_json::json;
    let money = |amount: u64| json!({"amountMinor": amount, "currency": currency});
    let discount = plan.map_or(0, |p| subtotal * u64::from(p.discount().get()) / 10_000);
    let data = &mut ev["detail"]["data"];
    data["items"] = json!([{"sku": "SKU-1", "quantity": 1, "unitPrice": money(subtotal)}]);
    data["subtotal"] = money(subtotal);
    data["discount"] = money(discount);
    data["total"] = money(subtotal - discount);
    match plan {
        Some(p) => {
            data["membership"]["plan"] = json!(p.as_str());
            data["membership"]["discountBasisPoints"] = json!(p.discount().get());
        }
        None => {
            if let Some(d) = data.as_object_mut() {
                d.remove("membership");
            }
        }
    }
    ev
}

/// SDK configuration for the local servers.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let _ = endpoint();
    eventmart_shared::aws::sdk_config().await
}

/// An SQS client for the local server.
pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config().await)
}

/// A fresh SQS queue on the local server; returns its URL.
pub async fn create_queue(client: &aws_sdk_sqs::Client, name: &str) -> String {
    let name = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

/// Every message body in a queue (received, then deleted), parsed as JSON.
pub async fn drain_queue(client: &aws_sdk_sqs::Client, url: &str) -> Vec<serde_json::Value> {
    let mut out = vec![];
    loop {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap_or("null")).expect("JSON message"));
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

/// An HTTP API request as a handler receives it.
pub fn http_request(
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> lambda_http::Request {
    http_request_with(method, path, body, &[])
}

/// An HTTP API request with extra headers.
pub fn http_request_with(
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    headers: &[(&str, &str)],
) -> lambda_http::Request {
    let mut b = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let body = match body {
        Some(v) => lambda_http::Body::Text(v.to_string()),
        None => lambda_http::Body::Empty,
    };
    b.body(body).expect("valid request")
}

/// The claims API Gateway's JWT authorizer passes for a customer's Cognito id token: every
/// value a string, as API Gateway renders them.
pub fn customer_claims(sub: &str, email: &str) -> Vec<(String, String)> {
    staff_claims(sub, email, &[])
}

/// The same for a user in Cognito groups (`warehouse`, `analysts`), rendered as API
/// Gateway renders an array claim: `[warehouse analysts]`.
pub fn staff_claims(sub: &str, email: &str, groups: &[&str]) -> Vec<(String, String)> {
    let mut claims = vec![
        ("sub".to_owned(), sub.to_owned()),
        ("email".to_owned(), email.to_owned()),
        ("email_verified".to_owned(), "true".to_owned()),
        ("token_use".to_owned(), "id".to_owned()),
        (
            "iss".to_owned(),
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example".to_owned(),
        ),
        ("aud".to_owned(), "exampleclient".to_owned()),
        ("exp".to_owned(), "4102444800".to_owned()),
    ];
    if !groups.is_empty() {
        claims.push((
            "cognito:groups".to_owned(),
            format!("[{}]", groups.join(" ")),
        ));
    }
    claims
}

/// `req` as a function receives it behind the JWT authorizer: the claims in the payload
/// 2.0 request context (`requestContext.authorizer.jwt.claims`).
pub fn signed_in(req: lambda_http::Request, claims: &[(String, String)]) -> lambda_http::Request {
    use lambda_http::RequestExt;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;
    let claims: serde_json::Map<String, serde_json::Value> = claims
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let context: ApiGatewayV2httpRequestContext = serde_json::from_value(serde_json::json!({
        "accountId": "123456789012",
        "apiId": "api",
        "stage": "$default",
        "http": {"method": req.method().as_str(), "path": req.uri().path()},
        "authorizer": {"jwt": {"claims": claims, "scopes": null}},
    }))
    .expect("a payload 2.0 request context");
    req.with_request_context(RequestContext::ApiGatewayV2(context))
}

/// A handler's response body as JSON, with its status.
pub fn response_json(resp: &lambda_http::Response<lambda_http::Body>) -> (u16, serde_json::Value) {
    let bytes: &[u8] = resp.body().as_ref();
    let value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(bytes).expect("JSON body")
    };
    (resp.status().as_u16(), value)
}

/// Reads a JSON file of the repository (fixtures under `events/`), or a YAML one
/// (`openapi.yaml`) as JSON.
pub fn fixture(path: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    if path.ends_with(".yaml") || path.ends_with(".yml") {
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        return serde_json::to_value(yaml).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
