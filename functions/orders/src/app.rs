//! The composition root: the handler over its ports, the settings it reads from the
//! environment, and the real adapters wired to them.

use crate::dynamo::DynamoOrders;
use crate::ports::{MemberView, OrderRepository};
use aws_config::SdkConfig;
use dynamodb_idempotency::{Config, DynamoStore, Idempotency, Store};
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::consumer::{DeadLetters, SqsDeadLetters};
use eventmart_shared::lambda::{Function, http_or_event};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The function name idempotency records are kept under.
pub const FUNCTION: &str = "orders";

/// The orders handler over its ports: the orders table and the member view (one
/// repository), the idempotency store (which
/// also commits the writes of requests without a key) and the dead-letter queue.
pub struct App<R, S, D> {
    pub(crate) repo: R,
    /// Records of HTTP requests with an `Idempotency-Key`.
    pub(crate) http: Idempotency<S>,
    /// Records of consumed EventBridge events.
    pub(crate) events: Idempotency<S>,
    pub(crate) dead_letters: D,
}

impl<R, S, D> App<R, S, D>
where
    R: OrderRepository<Write = S::Write> + MemberView<Write = S::Write>,
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
}

/// Everything the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub orders_table: String,
    /// The orders service's view of who is a member.
    pub member_view_table: String,
    pub idempotency_table: String,
    /// The SQS queue of events that can never be applied (also the on-failure
    /// destination).
    pub dead_letter_queue_url: String,
}

impl Settings {
    /// `ORDERS_TABLE`, `MEMBER_VIEW_TABLE`, `IDEMPOTENCY_TABLE`, `DEAD_LETTER_QUEUE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            orders_table: env("ORDERS_TABLE")?,
            member_view_table: env("MEMBER_VIEW_TABLE")?,
            idempotency_table: env("IDEMPOTENCY_TABLE")?,
            dead_letter_queue_url: env("DEAD_LETTER_QUEUE_URL")?,
        })
    }
}

/// The function as deployed: DynamoDB tables and an SQS dead-letter queue.
pub type Deployed = App<DynamoOrders, DynamoStore, SqsDeadLetters>;

/// Settings → adapters → app.
pub fn build(sdk: &SdkConfig, settings: &Settings) -> Deployed {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    App::new(
        DynamoOrders::new(
            dynamodb.clone(),
            &settings.orders_table,
            &settings.member_view_table,
        ),
        DynamoStore::new(dynamodb, &settings.idempotency_table),
        SqsDeadLetters::new(
            aws_sdk_sqs::Client::new(sdk),
            &settings.dead_letter_queue_url,
        ),
    )
}

/// The function configured by its environment.
pub fn from_env(sdk: &SdkConfig) -> Result<Deployed, ConfigError> {
    Ok(build(sdk, &Settings::from_env()?))
}

/// One invocation: an HTTP API request, or an EventBridge event (`OrderShipped`,
/// `MembershipSignedUp`, `MembershipCanceled`).
impl<R, S, D> Function for App<R, S, D>
where
    R: OrderRepository<Write = S::Write> + MemberView<Write = S::Write> + 'static,
    S: Store + Clone + 'static,
    D: DeadLetters + 'static,
{
    async fn invoke(&self, invocation: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        http_or_event(
            invocation,
            |req| self.handle(req),
            |payload, _ctx| async move { Ok(self.on_event(&payload).await?) },
        )
        .await
    }
}
