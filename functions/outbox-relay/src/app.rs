//! The composition root: settings from the environment, the real adapter, and the relay
//! over its bus.

use crate::domain::Backoff;
use crate::eventbridge::EventBridgePublisher;
use crate::ports::Publisher;
use aws_config::SdkConfig;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::lambda::Function;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The relay, generic over the bus it publishes to.
pub struct App<P> {
    pub(crate) publisher: P,
    pub(crate) backoff: Backoff,
}

impl<P: Publisher> App<P> {
    pub fn new(publisher: P) -> Self {
        Self {
            publisher,
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

/// Where the relay publishes.
#[derive(Debug, Clone)]
pub struct Settings {
    pub event_bus_name: String,
}

impl Settings {
    /// `EVENT_BUS_NAME`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            event_bus_name: env("EVENT_BUS_NAME")?,
        })
    }
}

/// The relay with its real adapter.
pub type Deployed = App<EventBridgePublisher>;

/// Settings → adapter → app.
pub fn build(sdk: &SdkConfig, settings: &Settings) -> Deployed {
    App::new(EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(sdk),
        &settings.event_bus_name,
    ))
}

/// The real adapter, configured from the environment.
pub fn from_env(sdk: &SdkConfig) -> Result<Deployed, ConfigError> {
    Ok(build(sdk, &Settings::from_env()?))
}

/// One DynamoDB Streams batch per invocation; the answer is its batch item failures.
impl<P: Publisher + 'static> Function for App<P> {
    async fn invoke(&self, invocation: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        let batch: StreamEvent = serde_json::from_value(invocation.payload)?;
        let response = self.on_stream(&batch).await?;
        Ok(serde_json::to_value(response)?)
    }
}
