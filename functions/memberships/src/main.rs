// The HTTP futures nest deeply (lambda_http adapter, idempotency, SDK calls).
#![recursion_limit = "256"]

use lambda_http::{Request, service_fn};
use std::convert::Infallible;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    eventmart_shared::telemetry::init();
    let sdk = eventmart_shared::aws::sdk_config().await;
    let app = Arc::new(memberships::App::from_env(&sdk)?);
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    }))
    .await
}
