//! The notifications function: emails customers about their orders and memberships.
//!
//! | event | effect |
//! | --- | --- |
//! | `OrderPlaced` | order summary email (lines and total in the currency's minor units) |
//! | `OrderCanceled` | cancel email stating the fulfillment outcome when it is known |
//! | `OrderShipped` | "on its way" email |
//! | `MembershipSignedUp` | welcome email with the plan |
//! | `MembershipCanceled` | the "please come back" email |
//! | `FulfillmentCanceled`, `FulfillmentCancelRejected` | no email: `OUTCOME#<orderId>` (`CANCELED` / `REJECTED`) is recorded for a later cancel email |
//!
//! Every email that goes out is recorded as `MESSAGE#<eventId>` (`eventId`, `template`,
//! `recipientHash` = hex SHA-256 of the lower-cased address, `sesMessageId`, `sentAt`,
//! `correlationId`). Addresses are never logged nor stored.
//!
//! # Outcomes and the cancel email
//!
//! The cancel email says what is known when it is sent. If `OrderCanceled` arrives
//! before fulfillment's outcome, the email says the shipment is being stopped and asks
//! for a return if it had already left; the outcome that arrives later is recorded but
//! sends no second email: one event, at most one email.
//!
//! # What "never two emails for one event" means, exactly
//!
//! An email is an effect outside DynamoDB, so it cannot commit in the same transaction
//! as the idempotency record, and no design can make an external effect both
//! at-least-once and at-most-once. This function uses [`Idempotency::run`]:
//!
//! 1. claim `notifications#<eventId>` (INPROGRESS, in-progress expiry = the Lambda
//!    invocation's deadline); a duplicate meets the claim and sends nothing (a
//!    completed one is answered from the record, a concurrent one gets a retryable
//!    error and, on retry, the completed answer);
//! 2. if `MESSAGE#<eventId>` exists, the email already went out: send nothing;
//! 3. send through SES; 4. write `MESSAGE#<eventId>` (condition `attribute_not_exists`);
//! 5. mark the claim COMPLETED.
//!
//! Guarantees:
//!
//! * Duplicates of any number, sequential or concurrent, while the claim or the message
//!   record exists: exactly one `SendEmail`. Replays after the idempotency record
//!   expired (24 hours) are caught by step 2.
//! * SES refuses the message (permanent): nothing was sent, the claim is released, the
//!   event goes to the dead-letter queue with SES's reason. Throttling, 5xx, network:
//!   nothing was sent (SES sends only on success), the claim is released, and the error
//!   goes back to Lambda, which retries.
//! * The process dies (timeout, crash) **after SES accepted the email and before
//!   `MESSAGE#<eventId>` is written**: nothing records the send. Once the claim's
//!   in-progress expiry (the dead invocation's deadline) has passed, Lambda's retry
//!   claims the event again and **the email is sent a second time**. This window is
//!   the SES call's return trip plus one `PutItem`; it cannot be closed, only narrowed.
//!   Shortening it further would need SES to de-duplicate by a client token, which
//!   SendEmail does not offer.
//! * The process dies after step 4: the retry finds the message record and sends
//!   nothing. If writing the record fails after the send (it is retried until a second
//!   before the deadline), the invocation still succeeds, the claim is completed with the
//!   SES message id, and the missing record is logged as an error with that id: no
//!   retry, no second email. Every store call after the send is bounded by the deadline,
//!   so the instance answers rather than being killed mid-retry (a killed invocation is
//!   retried by Lambda, which would send again).
//! * DynamoDB down from the send to the end of the invocation: neither the record nor the
//!   completion lands. The invocation succeeds (one email), but the claim expires at the
//!   deadline, so a *later copy* of the event (a duplicate delivery, a replay) finds
//!   nothing and sends the email again.
//! * If SES timed out after accepting the message, the handler sees a transient error and
//!   the retry sends again: the same window, seen from the network.

mod dynamo;
mod handler;
pub mod ports;
mod ses;
pub mod templates;

pub use dynamo::{DynamoMessageLog, message_key, outcome_key};
pub use handler::{Delivery, FUNCTION, Notifier, NotifyError};
pub use ses::SesMailer;

use aws_config::SdkConfig;
use dynamodb_idempotency::{Config, DynamoStore, Idempotency};
use eventmart_shared::aws::{ConfigError, env};
use eventmart_shared::consumer::SqsDeadLetters;
use eventmart_shared::events::Email;
use eventmart_shared::lambda::deadline;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// The function with its real adapters.
pub type App = Notifier<SesMailer, DynamoMessageLog, DynamoStore, SqsDeadLetters>;

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

/// The real adapters over explicit clients (tests pass clients that count requests).
pub fn app(
    dynamodb: aws_sdk_dynamodb::Client,
    ses: aws_sdk_sesv2::Client,
    sqs: aws_sdk_sqs::Client,
    settings: &Settings,
) -> App {
    Notifier::new(
        SesMailer::new(ses, settings.sender.clone()),
        DynamoMessageLog::new(dynamodb.clone(), &settings.notifications_table),
        Idempotency::new(
            DynamoStore::new(dynamodb, &settings.idempotency_table),
            Config::for_eventbridge(FUNCTION),
        ),
        SqsDeadLetters::new(sqs, &settings.dead_letter_queue_url),
    )
}

/// The real adapters, configured from the environment.
pub fn from_env(sdk: &SdkConfig) -> Result<App, ConfigError> {
    let settings = Settings::from_env()?;
    Ok(app(
        aws_sdk_dynamodb::Client::new(sdk),
        aws_sdk_sesv2::Client::new(sdk),
        aws_sdk_sqs::Client::new(sdk),
        &settings,
    ))
}

/// The Lambda entry point: one EventBridge event per invocation.
pub async fn invoke(app: &App, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    let (payload, ctx) = event.into_parts();
    Ok(app.handle(&payload, Some(deadline(&ctx))).await?)
}
