//! The ingestion function: every Eventmart event stored once in the analytics events
//! table, and per-day aggregates that stay exact under duplicates.
//!
//! Each event is one `TransactWriteItems` through
//! [`Idempotency::run_transactional`]: the idempotency record (COMPLETED), the event
//! item `EVENT#<eventId>` (`source, detailType, occurredAt, day, detail`, written only
//! where none exists) and, for counted events, an `ADD` on the day's aggregate
//! (`series = "daily"`, `day` = the UTC date of `occurredAt`):
//!
//! | event | counters |
//! | --- | --- |
//! | `OrderPlaced` | `ordersPlaced` +1, `grossRevenue_<CUR>` + total (minor units) |
//! | `OrderCanceled` | `ordersCanceled` +1, `canceledRevenue_<CUR>` + total |
//! | `OrderShipped` | `shipments` +1 |
//! | `MembershipSignedUp` | `signUps` +1 |
//! | `MembershipCanceled` | `membershipCancellations` +1 |
//! | `Fulfillment*` | stored, no counter |
//!
//! All of it commits or none of it does, so a duplicate, sequential or concurrent,
//! changes nothing and costs one request (its record's condition fails). A replay after
//! the idempotency record expired fails on the event item's condition instead: still
//! counted once.

mod domain;
mod dynamo;
mod handler;

pub use domain::{DAILY, Increment, Ingest, day, increments, ingest};
pub use dynamo::{DynamoPlan, event_key};
pub use handler::{FUNCTION, Ingestor, WritePlan};

use aws_config::SdkConfig;
use dynamodb_idempotency::{Config, DynamoStore, Idempotency};
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::consumer::SqsDeadLetters;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The function with its real adapters.
pub type App = Ingestor<DynamoStore, DynamoPlan, SqsDeadLetters>;

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

/// The real adapters over explicit clients (tests pass clients that count requests).
pub fn app(
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    settings: &Settings,
) -> App {
    Ingestor::new(
        Idempotency::new(
            DynamoStore::new(dynamodb, &settings.idempotency_table),
            Config::for_eventbridge(FUNCTION),
        ),
        DynamoPlan::new(&settings.events_table, &settings.daily_table),
        SqsDeadLetters::new(sqs, &settings.dead_letter_queue_url),
    )
}

/// The real adapters, configured from the environment.
pub fn from_env(sdk: &SdkConfig) -> Result<App, ConfigError> {
    let settings = Settings::from_env()?;
    Ok(app(
        aws_sdk_dynamodb::Client::new(sdk),
        aws_sdk_sqs::Client::new(sdk),
        &settings,
    ))
}

/// The Lambda entry point: one EventBridge event per invocation.
pub async fn invoke(app: &App, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    Ok(app.handle(&event.payload).await?)
}
