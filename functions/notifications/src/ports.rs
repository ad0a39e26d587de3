//! What the handler needs from the outside world, with no AWS types: a mailer and a log
//! of messages and fulfillment outcomes.

use crate::templates::Rendered;
use eventmart_shared::events::{CorrelationId, Email, EventId, OrderId};
use sha2::{Digest, Sha256};
use std::future::Future;

/// What fulfillment did about a canceled order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FulfillmentOutcome {
    /// The shipment was stopped (`FulfillmentCanceled`).
    Canceled,
    /// The shipment had already left (`FulfillmentCancelRejected`).
    Rejected,
}

impl FulfillmentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FulfillmentOutcome::Canceled => "CANCELED",
            FulfillmentOutcome::Rejected => "REJECTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CANCELED" => Some(FulfillmentOutcome::Canceled),
            "REJECTED" => Some(FulfillmentOutcome::Rejected),
            _ => None,
        }
    }
}

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

impl MailError {
    pub fn is_retryable(&self) -> bool {
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

impl LogError {
    pub fn is_retryable(&self) -> bool {
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

/// `MESSAGE#<eventId>`: one email that went out, without the address itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub event_id: EventId,
    pub template: &'static str,
    pub recipient_hash: String,
    pub ses_message_id: String,
    /// RFC 3339.
    pub sent_at: String,
    pub correlation_id: CorrelationId,
}

/// Hex SHA-256 of the lower-cased address: lets support find a customer's messages
/// without the table holding addresses.
pub fn recipient_hash(email: &Email) -> String {
    Sha256::digest(email.as_str().to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

#[cfg(test)]
pub mod memory {
    //! In-memory ports for unit tests.

    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Records every email; fails with `fail` when it is set.
    #[derive(Debug, Default)]
    pub struct MemoryMailer {
        pub sent: Mutex<Vec<(Email, Rendered)>>,
        pub fail: Mutex<Option<MailError>>,
    }

    impl Mailer for MemoryMailer {
        async fn send(&self, to: &Email, email: &Rendered) -> Result<MessageId, MailError> {
            if let Some(e) = self.fail.lock().unwrap().clone() {
                return Err(e);
            }
            let mut sent = self.sent.lock().unwrap();
            sent.push((to.clone(), email.clone()));
            Ok(MessageId(format!("msg-{}", sent.len())))
        }
    }

    #[derive(Debug, Default)]
    pub struct MemoryLog {
        pub messages: Mutex<HashMap<EventId, MessageRecord>>,
        pub outcomes: Mutex<HashMap<OrderId, FulfillmentOutcome>>,
        /// When set, recording a message fails with it (the email is already out)...
        pub fail_record: Mutex<Option<LogError>>,
        /// ...this many times (0: every time).
        pub fail_record_times: Mutex<usize>,
        /// When set, recording a message never answers (a table whose client keeps
        /// retrying).
        pub hang_record: std::sync::atomic::AtomicBool,
    }

    impl MessageLog for MemoryLog {
        async fn record_message(&self, record: &MessageRecord) -> Result<(), LogError> {
            if self.hang_record.load(std::sync::atomic::Ordering::Relaxed) {
                std::future::pending::<()>().await;
            }
            let mut fail = self.fail_record.lock().unwrap();
            if let Some(e) = fail.clone() {
                let mut times = self.fail_record_times.lock().unwrap();
                if *times == 1 {
                    *fail = None;
                }
                *times = times.saturating_sub(1);
                return Err(e);
            }
            drop(fail);
            let mut m = self.messages.lock().unwrap();
            if m.contains_key(&record.event_id) {
                return Err(LogError::AlreadyRecorded(record.event_id));
            }
            m.insert(record.event_id, record.clone());
            Ok(())
        }

        async fn message_recorded(&self, event_id: &EventId) -> Result<bool, LogError> {
            Ok(self.messages.lock().unwrap().contains_key(event_id))
        }

        async fn put_outcome(
            &self,
            order_id: &OrderId,
            outcome: FulfillmentOutcome,
            _event_id: &EventId,
        ) -> Result<(), LogError> {
            self.outcomes.lock().unwrap().insert(*order_id, outcome);
            Ok(())
        }

        async fn get_outcome(
            &self,
            order_id: &OrderId,
        ) -> Result<Option<FulfillmentOutcome>, LogError> {
            Ok(self.outcomes.lock().unwrap().get(order_id).copied())
        }
    }
}
