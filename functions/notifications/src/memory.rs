//! In-memory ports, for unit tests and for callers that run the handler without AWS.

use crate::domain::{FulfillmentOutcome, MessageRecord};
use crate::ports::{LogError, MailError, Mailer, MessageId, MessageLog};
use crate::templates::Rendered;
use eventmart_shared::events::{Email, EventId, OrderId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

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
    pub hang_record: AtomicBool,
}

impl MessageLog for MemoryLog {
    async fn record_message(&self, record: &MessageRecord) -> Result<(), LogError> {
        if self.hang_record.load(Ordering::Relaxed) {
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
