//! The outbox relay: DynamoDB Streams → EventBridge.

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};
use outbox_relay::Relay;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eventmart_shared::telemetry::init();
    let config = eventmart_shared::aws::sdk_config().await;
    let relay = Relay::from_env(&config)?;
    let relay = &relay;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        relay
            .handle(&event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
