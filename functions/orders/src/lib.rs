//! The orders function: `POST /orders`, `GET /orders/{orderId}`,
//! `POST /orders/{orderId}/cancel` over HTTP, and `OrderShipped` from EventBridge.
//!
//! Every state change commits with its outbox item (`OrderPlaced`, `OrderCanceled`) in
//! one DynamoDB transaction; nothing here calls EventBridge. The handler is generic over
//! its ports ([`OrderRepository`], [`Store`], [`DeadLetters`]); [`App`] wires the real ones.

mod api;
pub mod domain;
pub mod dynamo;
pub mod ports;
mod shipped;

pub use domain::{Order, OrderStatus};
pub use dynamo::DynamoOrders;
pub use ports::{OrderRepository, RepoError};

use dynamodb_idempotency::{Config, DynamoStore, Idempotency, Store};
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::consumer::{DeadLetters, SqsDeadLetters};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The function name idempotency records are kept under.
pub const FUNCTION: &str = "orders";

/// The orders handler over its ports.
pub struct Orders<R, S, D> {
    repo: R,
    /// Records of HTTP requests with an `Idempotency-Key`.
    http: Idempotency<S>,
    /// Records of consumed EventBridge events.
    events: Idempotency<S>,
    dead_letters: D,
}

impl<R, S, D> Orders<R, S, D>
where
    R: OrderRepository<Write = S::Write>,
    S: Store + Clone,
    D: DeadLetters,
{
    pub fn new(repo: R, store: S, dead_letters: D) -> Self {
        Self {
            repo,
            http: Idempotency::new(
                store.clone(),
                eventmart_shared::http::idempotency_config(FUNCTION),
            ),
            events: Idempotency::new(store, Config::for_eventbridge(FUNCTION)),
            dead_letters,
        }
    }

    /// One Lambda invocation: an HTTP API request or an EventBridge event.
    pub async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        eventmart_shared::lambda::http_or_event(
            event,
            |req| self.handle(req),
            |payload, _ctx| async move { Ok(self.on_event(&payload).await?) },
        )
        .await
    }
}

/// The function as deployed: DynamoDB tables and an SQS dead-letter queue.
pub type App = Orders<DynamoOrders, DynamoStore, SqsDeadLetters>;

impl App {
    /// The function over explicit tables and queue (what tests use).
    pub fn with_resources(
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        orders_table: &str,
        idempotency_table: &str,
        dead_letter_queue_url: &str,
    ) -> Self {
        Orders::new(
            DynamoOrders::new(dynamodb.clone(), orders_table),
            DynamoStore::new(dynamodb, idempotency_table),
            SqsDeadLetters::new(sqs, dead_letter_queue_url),
        )
    }

    /// The function configured by `ORDERS_TABLE`, `IDEMPOTENCY_TABLE` and
    /// `DEAD_LETTER_QUEUE_URL`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::with_resources(
            aws_sdk_dynamodb::Client::new(sdk),
            aws_sdk_sqs::Client::new(sdk),
            &env("ORDERS_TABLE")?,
            &env("IDEMPOTENCY_TABLE")?,
            &env("DEAD_LETTER_QUEUE_URL")?,
        ))
    }
}

#[cfg(any(test, feature = "memory"))]
pub mod memory;
#[cfg(test)]
mod tests;
