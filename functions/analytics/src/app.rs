//! The composition root: the table and the sign-in settings from the environment, the
//! DynamoDB adapter, and the handler over it.

use crate::dashboard::{Dashboard, SignIn};
use crate::dynamo::DynamoDailyStore;
use crate::ports::DailyStore;
use eventmart_shared::aws::ConfigError;
use eventmart_shared::lambda::{Function, http_only};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The environment variable naming the daily aggregates table.
pub const ANALYTICS_DAILY_TABLE: &str = "ANALYTICS_DAILY_TABLE";
pub use crate::dashboard::COGNITO_ENDPOINT;
/// The user pool the analysts are in.
pub const USER_POOL_ID: &str = "USER_POOL_ID";
/// The pool's web client (no secret), which the dashboard signs in through.
pub const USER_POOL_CLIENT_ID: &str = "USER_POOL_CLIENT_ID";

/// The HTTP handler, generic over the store of daily aggregates.
#[derive(Debug, Clone)]
pub struct App<S> {
    pub(crate) store: S,
    pub(crate) dashboard: Dashboard,
}

impl<S: DailyStore> App<S> {
    /// The page is rendered here, once, with `sign_in` in its config.
    pub fn new(store: S, sign_in: &SignIn) -> Self {
        Self {
            store,
            dashboard: Dashboard::new(sign_in),
        }
    }
}

/// Where the function's data lives, and how its dashboard signs users in.
#[derive(Debug, Clone)]
pub struct Settings {
    pub daily_table: String,
    pub sign_in: SignIn,
}

impl Settings {
    /// `ANALYTICS_DAILY_TABLE`, `COGNITO_ENDPOINT`, `USER_POOL_ID`, `USER_POOL_CLIENT_ID`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same from any source of variables: `var(name)` is the value, `None` if unset.
    /// The error names the first variable that is missing (or empty, for the sign-in
    /// settings, which a page could not sign in without).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            var(name).ok_or_else(|| ConfigError(format!("environment variable {name} is not set")))
        };
        let non_empty = |name: &str| {
            get(name).and_then(|v| {
                if v.trim().is_empty() {
                    Err(ConfigError(format!("environment variable {name} is empty")))
                } else {
                    Ok(v)
                }
            })
        };
        let daily_table = get(ANALYTICS_DAILY_TABLE)?;
        let sign_in = SignIn::new(
            &non_empty(COGNITO_ENDPOINT)?,
            &non_empty(USER_POOL_ID)?,
            &non_empty(USER_POOL_CLIENT_ID)?,
        )?;
        Ok(Self {
            daily_table,
            sign_in,
        })
    }
}

/// The function as deployed.
pub type Deployed = App<DynamoDailyStore>;

/// The real adapter over `settings` (tests pass the table they created).
pub fn build(sdk: &aws_config::SdkConfig, settings: &Settings) -> Deployed {
    App::new(
        DynamoDailyStore::new(aws_sdk_dynamodb::Client::new(sdk), &settings.daily_table),
        &settings.sign_in,
    )
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
