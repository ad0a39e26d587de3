//! The composition root: settings from the environment, the real adapters, and the
//! handler over its ports.

use crate::dynamo::DynamoMessageLog;
use crate::ports::{Mailer, MessageLog};
use crate::ses::SesMailer;
use aws_config::SdkConfig;
use dynamodb_idempotency::{Config, DynamoStore, Idempotency, Store};
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::consumer::{DeadLetters, SqsDeadLetters};
use eventmart_shared::events::Email;
use eventmart_shared::lambda::{Function, deadline};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The function's name: the idempotency key prefix and the dead-letter `function`.
pub const FUNCTION: &str = "notifications";

/// The notifications consumer, generic over its ports.
pub struct App<M, L, S, D> {
    pub(crate) mailer: M,
    pub(crate) log: L,
    pub(crate) idempotency: Idempotency<S>,
    pub(crate) dead_letters: D,
}

impl<M: Mailer, L: MessageLog, S: Store, D: DeadLetters> App<M, L, S, D> {
    pub fn new(mailer: M, log: L, idempotency: Idempotency<S>, dead_letters: D) -> Self {
        Self {
            mailer,
            log,
            idempotency,
            dead_letters,
        }
    }
}

/// Where the function's state lives.
#[derive(Debug, Clone)]
pub struct Settings {
    pub idempotency_table: String,
    pub notifications_table: String,
    pub dead_letter_queue_url: String,
    /// The verified SES identity emails come from.
    pub sender: Email,
}

impl Settings {
    /// `IDEMPOTENCY_TABLE`, `NOTIFICATIONS_TABLE`, `DEAD_LETTER_QUEUE_URL`, `SENDER_EMAIL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let sender = env("SENDER_EMAIL")?;
        Ok(Self {
            idempotency_table: env("IDEMPOTENCY_TABLE")?,
            notifications_table: env("NOTIFICATIONS_TABLE")?,
            dead_letter_queue_url: env("DEAD_LETTER_QUEUE_URL")?,
            sender: sender
                .parse()
                .map_err(|e| ConfigError(format!("environment variable SENDER_EMAIL: {e}")))?,
        })
    }
}

/// The function with its real adapters.
pub type Deployed = App<SesMailer, DynamoMessageLog, DynamoStore, SqsDeadLetters>;

/// The SDK clients the adapters use (tests pass clients that count or read requests).
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            ses: aws_sdk_sesv2::Client::new(sdk),
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
        SesMailer::new(clients.ses, settings.sender.clone()),
        DynamoMessageLog::new(clients.dynamodb.clone(), &settings.notifications_table),
        Idempotency::new(
            DynamoStore::new(clients.dynamodb, &settings.idempotency_table),
            Config::for_eventbridge(FUNCTION),
        ),
        SqsDeadLetters::new(clients.sqs, &settings.dead_letter_queue_url),
    )
}

/// The real adapters, configured from the environment.
pub fn from_env(sdk: &SdkConfig) -> Result<Deployed, ConfigError> {
    Ok(build(sdk, &Settings::from_env()?))
}

/// One EventBridge event per invocation, handled before the invocation's deadline.
impl<M, L, S, D> Function for App<M, L, S, D>
where
    M: Mailer + 'static,
    L: MessageLog + 'static,
    S: Store + 'static,
    D: DeadLetters + 'static,
{
    async fn invoke(&self, invocation: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        let (payload, ctx) = invocation.into_parts();
        Ok(self.on_event(&payload, Some(deadline(&ctx))).await?)
    }
}
