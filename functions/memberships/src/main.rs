// The HTTP futures nest deeply (lambda_http adapter, idempotency, SDK calls).
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventmart_shared::lambda::run(memberships::app::from_env).await
}
