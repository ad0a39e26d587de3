#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventmart_shared::lambda::run(ingestion::app::from_env).await
}
