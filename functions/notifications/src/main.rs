use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventmart_shared::telemetry::init();
    let sdk = eventmart_shared::aws::sdk_config().await;
    let app = notifications::from_env(&sdk)?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        notifications::invoke(app, event)
    }))
    .await
}
