//! The composition root: the handler over its ports, the settings it reads from the
//! environment, and the real adapters wired to them.

use crate::dynamo::DynamoMemberships;
use crate::ports::MembershipRepository;
use aws_config::SdkConfig;
use dynamodb_idempotency::{DynamoStore, Idempotency, Store};
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::lambda::{Function, http_only};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The function name idempotency records are kept under.
pub const FUNCTION: &str = "memberships";

/// The memberships handler over its ports: the memberships table and the idempotency
/// store.
pub struct App<R, S> {
    pub(crate) repo: R,
    /// Records of requests with an `Idempotency-Key`; its store also commits the writes
    /// of requests without one.
    pub(crate) http: Idempotency<S>,
}

impl<R, S> App<R, S>
where
    R: MembershipRepository<Write = S::Write>,
    S: Store,
{
    pub fn new(repo: R, store: S) -> Self {
        Self {
            repo,
            http: Idempotency::new(store, eventmart_shared::http::idempotency_config(FUNCTION)),
        }
    }
}

/// Everything the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub memberships_table: String,
    pub idempotency_table: String,
}

impl Settings {
    /// `MEMBERSHIPS_TABLE`, `IDEMPOTENCY_TABLE`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            memberships_table: env("MEMBERSHIPS_TABLE")?,
            idempotency_table: env("IDEMPOTENCY_TABLE")?,
        })
    }
}

/// The function as deployed, over DynamoDB.
pub type Deployed = App<DynamoMemberships, DynamoStore>;

/// Settings → adapters → app.
pub fn build(sdk: &SdkConfig, settings: &Settings) -> Deployed {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    App::new(
        DynamoMemberships::new(dynamodb.clone(), &settings.memberships_table),
        DynamoStore::new(dynamodb, &settings.idempotency_table),
    )
}

/// The function configured by its environment.
pub fn from_env(sdk: &SdkConfig) -> Result<Deployed, ConfigError> {
    Ok(build(sdk, &Settings::from_env()?))
}

/// One invocation: an HTTP API request (the template routes no events here).
impl<R, S> Function for App<R, S>
where
    R: MembershipRepository<Write = S::Write> + 'static,
    S: Store + 'static,
{
    async fn invoke(&self, invocation: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        http_only(invocation, |req| self.handle(req)).await
    }
}
