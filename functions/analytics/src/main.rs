//! The analytics function: the HTTP API over the daily aggregates, and the dashboard.

use analytics::App;
use lambda_http::{Error, Request, service_fn};
use std::convert::Infallible;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    eventmart_shared::telemetry::init();
    let sdk_config = eventmart_shared::aws::sdk_config().await;
    let app = Arc::new(App::from_env(&sdk_config)?);
    lambda_http::run(service_fn(move |req: Request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    }))
    .await
}
