#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventmart_shared::lambda::run(analytics::app::from_env).await
}
