//! The composition root: the table from the environment, the DynamoDB adapter, and the
//! handler over it.

use crate::dynamo::DynamoDailyStore;
use crate::ports::DailyStore;
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::lambda::{Function, http_only};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The environment variable naming the daily aggregates table.
pub const ANALYTICS_DAILY_TABLE: &str = "ANALYTICS_DAILY_TABLE";

/// The HTTP handler, generic over the store of daily aggregates.
#[derive(Debug, Clone)]
pub struct App<S> {
    pub(crate) store: S,
}

impl<S: DailyStore> App<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }
}

/// Where the function's data lives.
#[derive(Debug, Clone)]
pub struct Settings {
    pub daily_table: String,
}

impl Settings {
    /// `ANALYTICS_DAILY_TABLE`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            daily_table: env(ANALYTICS_DAILY_TABLE)?,
        })
    }
}

/// The function as deployed.
pub type Deployed = App<DynamoDailyStore>;

/// The real adapter over `settings` (tests pass the table they created).
pub fn build(sdk: &aws_config::SdkConfig, settings: &Settings) -> Deployed {
    App::new(DynamoDailyStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &settings.daily_table,
    ))
}

/// The real adapter, configured from the environment.
pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Deployed, ConfigError> {
    Ok(build(sdk, &Settings::from_env()?))
}

/// The template routes only HTTP API requests to this function.
impl<S: DailyStore + 'static> Function for App<S> {
    async fn invoke(&self, invocation: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        http_only(invocation, |req| self.handle(req)).await
    }
}
