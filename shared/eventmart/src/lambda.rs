//! Lambda glue shared by the function binaries: every `main.rs` is one call to [`run`]
//! with the function's composition root, and every function is a [`Function`].

use crate::aws::ConfigError;
use aws_config::SdkConfig;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Body, Request, Response, Service};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What every function is: one invocation in, one answer out. HTTP API requests and
/// events arrive the same way; [`http_or_event`] and [`http_only`] tell them apart.
pub trait Function: Send + Sync + 'static {
    fn invoke(
        &self,
        invocation: LambdaEvent<Value>,
    ) -> impl Future<Output = Result<Value, lambda_runtime::Error>> + Send;
}

/// Every function's `main`: JSON logs, the SDK configuration from the environment, the
/// function from its composition root `build` (settings from the environment, then
/// adapters, then the app), then the Runtime API loop.
pub async fn run<F: Function>(
    build: impl FnOnce(&SdkConfig) -> Result<F, ConfigError>,
) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let sdk = crate::aws::sdk_config().await;
    let function = Arc::new(build(&sdk)?);
    lambda_runtime::run(lambda_runtime::service_fn(move |invocation| {
        let function = Arc::clone(&function);
        async move { function.invoke(invocation).await }
    }))
    .await
}

/// For a function that only serves HTTP routes: anything else is an error (the
/// template routes no events to it).
pub async fn http_only<H, HF>(
    invocation: LambdaEvent<Value>,
    http: H,
) -> Result<Value, lambda_runtime::Error>
where
    H: FnMut(Request) -> HF + Send,
    HF: Future<Output = Response<Body>> + Send,
{
    http_or_event(invocation, http, |_, _| async {
        Err("not an HTTP API (payload 2.0) request: this function serves HTTP routes only".into())
    })
    .await
}

/// The invocation's deadline, from the Lambda context.
pub fn deadline(ctx: &Context) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ctx.deadline)
}

/// Whether a payload is an API Gateway HTTP API (payload 2.0) request.
pub fn is_http(payload: &Value) -> bool {
    payload.get("version").and_then(Value::as_str) == Some("2.0")
        && payload.get("requestContext").is_some()
}

/// For a function that serves HTTP routes and consumes events: HTTP API requests go to
/// `http` (through lambda_http, as `lambda_http::run` would), anything else to `event`.
pub async fn http_or_event<H, HF, E, EF>(
    invocation: LambdaEvent<Value>,
    mut http: H,
    event: E,
) -> Result<Value, lambda_runtime::Error>
where
    H: FnMut(Request) -> HF + Send,
    HF: Future<Output = Response<Body>> + Send,
    E: FnOnce(Value, Context) -> EF,
    EF: Future<Output = Result<Value, lambda_runtime::Error>>,
{
    let (payload, ctx) = invocation.into_parts();
    if !is_http(&payload) {
        return event(payload, ctx).await;
    }
    let request: LambdaRequest = serde_json::from_value(payload)?;
    let service = lambda_http::service_fn(move |r: Request| {
        let fut = http(r);
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let mut adapter = Adapter::from(service);
    let response = adapter.call(LambdaEvent::new(request, ctx)).await?;
    Ok(serde_json::to_value(response)?)
}
