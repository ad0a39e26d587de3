#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventmart_shared::lambda::run(fulfillment::app::from_env).await
}
