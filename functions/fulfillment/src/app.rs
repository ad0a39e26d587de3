//! The composition root: settings from the environment, the DynamoDB and SQS adapters,
//! and the handler over them.

use crate::dynamo::DynamoLedger;
use crate::ports::Ledger;
use dynamodb_idempotency::{Config, Idempotency};
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::consumer::{DeadLetters, SqsDeadLetters};
use eventmart_shared::http::idempotency_config;
use eventmart_shared::lambda::{Function, http_or_event};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The function's name: idempotency keys and dead letters carry it.
pub const FUNCTION: &str = "fulfillment";

/// The handler: generic over the shipment ledger and the dead-letter queue.
pub struct App<L: Ledger, D> {
    pub(crate) ledger: L,
    /// Idempotency of events, keyed by `eventId`.
    pub(crate) events: Idempotency<L>,
    /// Idempotency of ship requests, keyed by `Idempotency-Key`.
    pub(crate) requests: Idempotency<L>,
    pub(crate) dlq: D,
}

impl<L: Ledger, D: DeadLetters> App<L, D> {
    pub fn new(ledger: L, dlq: D) -> Self {
        Self::with_configs(
            ledger,
            dlq,
            Config::for_eventbridge(FUNCTION),
            idempotency_config(FUNCTION),
        )
    }

    /// With explicit idempotency configurations (tests move the clock).
    pub fn with_configs(ledger: L, dlq: D, events: Config, requests: Config) -> Self {
        Self {
            events: Idempotency::new(ledger.clone(), events),
            requests: Idempotency::new(ledger.clone(), requests),
            ledger,
            dlq,
        }
    }

    pub fn ledger(&self) -> &L {
        &self.ledger
    }
}

/// Where the function's state lives.
#[derive(Debug, Clone)]
pub struct Settings {
    pub fulfillment_table: String,
    pub idempotency_table: String,
    pub dead_letter_queue_url: String,
}

impl Settings {
    /// `FULFILLMENT_TABLE`, `IDEMPOTENCY_TABLE`, `DEAD_LETTER_QUEUE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            fulfillment_table: env("FULFILLMENT_TABLE")?,
            idempotency_table: env("IDEMPOTENCY_TABLE")?,
            dead_letter_queue_url: env("DEAD_LETTER_QUEUE_URL")?,
        })
    }
}

/// The function as deployed.
pub type Deployed = App<DynamoLedger, SqsDeadLetters>;

/// The real adapters over `settings` (tests pass the tables and queue they created).
pub fn build(sdk: &aws_config::SdkConfig, settings: &Settings) -> Deployed {
    App::new(
        DynamoLedger::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &settings.fulfillment_table,
            &settings.idempotency_table,
        ),
        SqsDeadLetters::new(
            aws_sdk_sqs::Client::new(sdk),
            &settings.dead_letter_queue_url,
        ),
    )
}

/// The real adapters, configured from the environment.
pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Deployed, ConfigError> {
    Ok(build(sdk, &Settings::from_env()?))
}

/// The warehouse's HTTP routes and the orders service's events reach the same function.
impl<L: Ledger, D: DeadLetters + 'static> Function for App<L, D> {
    async fn invoke(&self, invocation: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        http_or_event(
            invocation,
            |req| self.handle(req),
            |payload, _ctx| async move { Ok(self.on_event(&payload).await?) },
        )
        .await
    }
}
