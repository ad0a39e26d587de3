//! What the handler needs from the outside world, with no AWS types: a mailer and a log
//! of messages and fulfillment outcomes.

use crate::domain::{FulfillmentOutcome, MessageRecord};
use crate::templates::Rendered;
use eventmart_shared::events::{Email, EventId, OrderId};
use retryable::Retryable;
use std::future::Future;

/// Why an email was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The provider refused this message (rejected content, unverified sender, invalid
    /// parameters, sending disabled): the same request fails the same way.
    #[error("email rejected, a retry cannot help: {0}")]
    Rejected(String),
    /// Throttling, a server error or the network: a retry can succeed.
    #[error("email provider unavailable, retry: {0}")]
    Unavailable(String),
}

impl Retryable for MailError {
    fn is_retryable(&self) -> bool {
        matches!(self, MailError::Unavailable(_))
    }
}

/// Why the message log could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The message of this event is already recorded (the conditional write failed).
    #[error("message of event {0} is already recorded")]
    AlreadyRecorded(EventId),
    /// Throttling, a server error or the network: a retry can succeed.
    #[error("notifications table unavailable, retry: {0}")]
    Unavailable(String),
    /// The request or a stored item is invalid: a retry cannot help.
    #[error("notifications table request invalid, a retry cannot help: {0}")]
    Invalid(String),
}

impl Retryable for LogError {
    fn is_retryable(&self) -> bool {
        matches!(self, LogError::Unavailable(_))
    }
}

/// The provider's id of a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageId(pub String);

/// Sends one email to one recipient.
pub trait Mailer: Send + Sync {
    fn send(
        &self,
        to: &Email,
        email: &Rendered,
    ) -> impl Future<Output = Result<MessageId, MailError>> + Send;
}

/// The notifications table: sent messages and fulfillment outcomes.
pub trait MessageLog: Send + Sync {
    /// Writes the record unless one exists for the event ([`LogError::AlreadyRecorded`]).
    fn record_message(
        &self,
        record: &MessageRecord,
    ) -> impl Future<Output = Result<(), LogError>> + Send;

    /// Whether the event's message is recorded (it was sent).
    fn message_recorded(
        &self,
        event_id: &EventId,
    ) -> impl Future<Output = Result<bool, LogError>> + Send;

    fn put_outcome(
        &self,
        order_id: &OrderId,
        outcome: FulfillmentOutcome,
        event_id: &EventId,
    ) -> impl Future<Output = Result<(), LogError>> + Send;

    fn get_outcome(
        &self,
        order_id: &OrderId,
    ) -> impl Future<Output = Result<Option<FulfillmentOutcome>, LogError>> + Send;
}
