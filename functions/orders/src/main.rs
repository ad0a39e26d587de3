// The HTTP and event futures nest deeply (lambda_http adapter, idempotency, SDK calls).
#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventmart_shared::telemetry::init();
    let sdk = eventmart_shared::aws::sdk_config().await;
    let app = Arc::new(orders::App::from_env(&sdk)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { app.invoke(event).await }
    }))
    .await
}
