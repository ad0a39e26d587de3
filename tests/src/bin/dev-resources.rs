//! Creates template.yaml's tables and queues on the local server at `AWS_ENDPOINT_URL`
//! under their logical ids, its user pools, clients and groups in Cognito, verifies the
//! default sender with SES, and prints the
//! environment every function needs (a `KEY=VALUE` file for `cargo lambda watch
//! --env-file`). Used by `make watch`.

use eventmart_tests::{create_tables_named, dynamodb, endpoint, sdk_config, stack};
use std::collections::BTreeMap;

/// Local dead letters of every function: one queue is enough on a laptop.
const DEV_DLQ: &str = "eventmart-dev-dlq";
const DEV_BUS: &str = "eventmart-dev";

#[tokio::main]
async fn main() {
    let template = stack();
    let (dynamodb, _) = dynamodb().await;
    let tables = create_tables_named(&dynamodb, |id| id.to_owned()).await;
    let config = sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dlq = sqs
        .create_queue()
        .queue_name(DEV_DLQ)
        .send()
        .await
        .expect("queue")
        .queue_url
        .unwrap_or_default();
    let sender = template
        .parameters
        .get("SenderEmail")
        .map_or("no-reply@example.com", String::as_str);
    aws_sdk_sesv2::Client::new(&config)
        .create_email_identity()
        .email_identity(sender)
        .send()
        .await
        .expect("SES identity");
    aws_sdk_eventbridge::Client::new(&config)
        .create_event_bus()
        .name(DEV_BUS)
        .send()
        .await
        .ok();

    // Cognito assigns the pool and client ids.
    let cognito_ids = eventmart_local::cognito::Cognito::new(endpoint())
        .create(template)
        .await
        .expect("user pools");
    let cognito_aws = format!(
        "https://cognito-idp.{}.amazonaws.com/",
        eventmart_local::aws::REGION
    );

    // The model holds resolved values: each is mapped back to what it names, and given
    // that resource's local value.
    let mut env = BTreeMap::new();
    for function in &template.functions {
        for (k, v) in &function.environment {
            let value = if template.buses.iter().any(|b| &b.name == v) {
                DEV_BUS.to_owned()
            } else if v == sender {
                sender.to_owned()
            } else if v == &cognito_aws {
                format!("{}/", endpoint().trim_end_matches('/'))
            } else if let Some(p) = template.user_pools.iter().find(|p| &p.id == v) {
                cognito_ids[&p.logical_id].clone()
            } else if let Some(c) = template.user_pool_clients.iter().find(|c| &c.id == v) {
                cognito_ids[&c.logical_id].clone()
            } else if let Some(t) = template.tables.iter().find(|t| &t.name == v) {
                tables[&t.logical_id].clone()
            } else if let Some(q) = template.queues.iter().find(|q| &q.url == v) {
                assert!(
                    q.logical_id.ends_with("DLQ"),
                    "no local value for !Ref {}",
                    q.logical_id
                );
                dlq.clone()
            } else {
                // A literal (Globals' RUST_LOG), set below anyway.
                continue;
            };
            env.insert(k.clone(), value);
        }
    }
    for k in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        env.insert(k.to_owned(), std::env::var(k).unwrap_or_default());
    }
    env.insert("AWS_ENDPOINT_URL".to_owned(), endpoint());
    env.insert("RUST_LOG".to_owned(), "info".to_owned());
    for (k, v) in env {
        println!("{k}={v}");
    }
}
