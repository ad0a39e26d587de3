#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventmart_shared::lambda::run(outbox_relay::app::from_env).await
}
