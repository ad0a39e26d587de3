//! Creates template.yaml's tables and queues on the local server at `AWS_ENDPOINT_URL`
//! under their logical ids, verifies the default sender with SES, and prints the
//! environment every function needs (a `KEY=VALUE` file for `cargo lambda watch
//! --env-file`). Used by `make watch`.

use eventmart_tests::{create_tables_named, dynamodb, endpoint, repo_root, sdk_config};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// Local dead letters of every function: one queue is enough on a laptop.
const DEV_DLQ: &str = "eventmart-dev-dlq";
const DEV_BUS: &str = "eventmart-dev";

#[tokio::main]
async fn main() {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml");
    let template: Value = serde_yaml::from_str(&text).expect("template.yaml is YAML");
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
    let sender = template["Parameters"]["SenderEmail"]["Default"]
        .as_str()
        .unwrap_or("no-reply@example.com");
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

    let mut env = BTreeMap::new();
    for (_, resource) in template["Resources"].as_mapping().expect("Resources") {
        let vars = &resource["Properties"]["Environment"]["Variables"];
        for (k, v) in vars.as_mapping().into_iter().flatten() {
            let target = match v {
                Value::Tagged(t) => t.value.as_str().unwrap_or_default().to_owned(),
                _ => continue,
            };
            let value = match target.as_str() {
                "EventBus" => DEV_BUS.to_owned(),
                "SenderEmail" => sender.to_owned(),
                t if tables.contains_key(t) => tables[t].clone(),
                t if t.ends_with("DLQ") => dlq.clone(),
                other => panic!("no local value for !Ref {other}"),
            };
            env.insert(k.as_str().unwrap_or_default().to_owned(), value);
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
