//! Helpers shared by the integration tests: clients for the local servers the test
//! command starts, and the template's tables created there (never written twice).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use eventmart_shared::aws::RequestCounter;
use serde_yaml::Value;
use std::collections::HashMap;
use std::path::PathBuf;

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

/// The template's DynamoDB tables, by logical id.
pub fn template_tables() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml");
    let doc: Value = serde_yaml::from_str(&text).expect("template.yaml is YAML");
    let resources = doc["Resources"].as_mapping().expect("Resources");
    resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .map(|(id, r)| {
            (
                id.as_str().unwrap_or_default().to_owned(),
                r["Properties"].clone(),
            )
        })
        .collect()
}

/// Creates every table of template.yaml, named `<LogicalId>-<suffix>` so that tests
/// running side by side never share a table. Returns logical id → table name.
pub async fn create_tables(client: &Client) -> HashMap<String, String> {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    create_tables_named(client, |id| format!("{id}-{suffix}")).await
}

/// Creates every table of template.yaml under the name `name(logical id)`.
pub async fn create_tables_named(
    client: &Client,
    name: impl Fn(&str) -> String,
) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for (id, props) in template_tables() {
        let name = name(&id);
        let mut req = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest);
        for a in props["AttributeDefinitions"]
            .as_sequence()
            .expect("AttributeDefinitions")
        {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(a["AttributeName"].as_str().unwrap())
                    .attribute_type(ScalarAttributeType::from(
                        a["AttributeType"].as_str().unwrap(),
                    ))
                    .build()
                    .unwrap(),
            );
        }
        for k in props["KeySchema"].as_sequence().expect("KeySchema") {
            req = req.key_schema(
                KeySchemaElement::builder()
                    .attribute_name(k["AttributeName"].as_str().unwrap())
                    .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                    .build()
                    .unwrap(),
            );
        }
        if let Some(view) = props["StreamSpecification"]["StreamViewType"].as_str() {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view))
                    .build()
                    .unwrap(),
            );
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
        names.insert(id, name);
    }
    names
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

/// Reads a JSON file of the repository (fixtures under `events/`).
pub fn fixture(path: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
