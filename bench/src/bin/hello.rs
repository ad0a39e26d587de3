//! The baseline of the cold-start benchmark: a bare `lambda_runtime` function that
//! returns its input. No tracing subscriber, no SDK: what every function pays anyway.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
