//! The fulfillment function: EventBridge events and the warehouse's HTTP routes.

use fulfillment::App;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventmart_shared::telemetry::init();
    let config = eventmart_shared::aws::sdk_config().await;
    let app = Arc::new(App::from_env(&config)?);
    lambda_runtime::run(service_fn(move |invocation: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let http_app = app.clone();
            eventmart_shared::lambda::http_or_event(
                invocation,
                move |req| {
                    let app = http_app.clone();
                    async move { app.http(req).await }
                },
                |payload, _ctx| async move { Ok(app.event(&payload).await?) },
            )
            .await
        }
    }))
    .await
}
