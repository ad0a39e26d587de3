//! The composition root: settings from the environment, the real adapters, and the
//! handler over its ports.

use crate::dynamo::DynamoPlan;
use crate::ports::WritePlan;
use aws_config::SdkConfig;
use dynamodb_idempotency::{Config, DynamoStore, Idempotency, Store};
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::consumer::{DeadLetters, SqsDeadLetters};
use eventmart_shared::lambda::Function;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The function's name: the idempotency key prefix and the dead-letter `function`.
pub const FUNCTION: &str = "ingestion";

/// The ingestion consumer, generic over its store, write plan and dead-letter queue.
pub struct App<S, P, D> {
    pub(crate) idempotency: Idempotency<S>,
    pub(crate) plan: P,
    pub(crate) dead_letters: D,
}

impl<S, P, D> App<S, P, D>
where
    S: Store,
    P: WritePlan<Write = S::Write>,
    D: DeadLetters,
{
    pub fn new(idempotency: Idempotency<S>, plan: P, dead_letters: D) -> Self {
        Self {
            idempotency,
            plan,
            dead_letters,
        }
    }

    pub fn store(&self) -> &S {
        self.idempotency.store()
    }
}

/// Where the function's state lives.
#[derive(Debug, Clone)]
pub struct Settings {
    pub idempotency_table: String,
    pub events_table: String,
    pub daily_table: String,
    pub dead_letter_queue_url: String,
}

impl Settings {
    /// `IDEMPOTENCY_TABLE`, `ANALYTICS_EVENTS_TABLE`, `ANALYTICS_DAILY_TABLE`,
    /// `DEAD_LETTER_QUEUE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            idempotency_table: env("IDEMPOTENCY_TABLE")?,
            events_table: env("ANALYTICS_EVENTS_TABLE")?,
            daily_table: env("ANALYTICS_DAILY_TABLE")?,
            dead_letter_queue_url: env("DEAD_LETTER_QUEUE_URL")?,
        })
    }
}

/// The function with its real adapters.
pub type Deployed = App<DynamoStore, DynamoPlan, SqsDeadLetters>;

/// The SDK clients the adapters use (tests pass clients that count requests).
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
        }
    }
}

/// Settings → adapters → app.
pub fn build(sdk: &SdkConfig, settings: &Settings) -> Deployed {
    build_with(Clients::new(sdk), settings)
}

/// [`build`] over explicit clients.
pub fn build_with(clients: Clients, settings: &Settings) -> Deployed {
    App::new(
        Idempotency::new(
            DynamoStore::new(clients.dynamodb, &settings.idempotency_table),
            Config::for_eventbridge(FUNCTION),
        ),
        DynamoPlan::new(&settings.events_table, &settings.daily_table),
        SqsDeadLetters::new(clients.sqs, &settings.dead_letter_queue_url),
    )
}

/// The real adapters, configured from the environment.
pub fn from_env(sdk: &SdkConfig) -> Result<Deployed, ConfigError> {
    Ok(build(sdk, &Settings::from_env()?))
}

/// One EventBridge event per invocation.
impl<S, P, D> Function for App<S, P, D>
where
    S: Store + 'static,
    P: WritePlan<Write = S::Write> + 'static,
    D: DeadLetters + 'static,
{
    async fn invoke(&self, invocation: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        Ok(self.on_event(&invocation.payload).await?)
    }
}
