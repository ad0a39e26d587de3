//! The handler: which email an event produces, sent at most once per event id (see the
//! crate docs for the exact guarantee), and fulfillment outcomes kept for the cancel email.

use crate::ports::{
    FulfillmentOutcome, LogError, MailError, Mailer, MessageLog, MessageRecord, recipient_hash,
};
use crate::templates::{self, Rendered};
use dynamodb_idempotency::{DEADLINE_MARGIN, Idempotency, IdempotencyError, Store, within};
use eventmart_shared::consumer::{ConsumerError, DeadLetters, consume};
use eventmart_shared::events::{Email, Event, Metadata, format_time};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// What the message record's write leaves of an invocation for the claim's completion.
const KEPT_FOR_COMPLETION: Duration = Duration::from_secs(1);

/// The function's name: the idempotency key prefix and the dead-letter `function`.
pub const FUNCTION: &str = "notifications";

/// A failure while handling one event.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl NotifyError {
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Mail(e) => e.is_retryable(),
            NotifyError::Log(e) => e.is_retryable(),
        }
    }
}

impl From<NotifyError> for ConsumerError {
    fn from(e: NotifyError) -> Self {
        if e.is_retryable() {
            ConsumerError::transient(e.to_string())
        } else {
            ConsumerError::permanent(e.to_string())
        }
    }
}

fn idempotency_error(e: IdempotencyError<NotifyError>) -> ConsumerError {
    match e {
        IdempotencyError::Handler(h) => h.into(),
        other => other.into(),
    }
}

/// What happened to an email event; stored as the idempotency record's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub template: String,
    /// The SES message id; `None` when a message record showed that an earlier
    /// invocation had already sent the email.
    pub ses_message_id: Option<String>,
}

/// The notifications consumer, generic over its ports.
pub struct Notifier<M, L, S, D> {
    mailer: M,
    log: L,
    idempotency: Idempotency<S>,
    dead_letters: D,
}

impl<M: Mailer, L: MessageLog, S: Store, D: DeadLetters> Notifier<M, L, S, D> {
    pub fn new(mailer: M, log: L, idempotency: Idempotency<S>, dead_letters: D) -> Self {
        Self {
            mailer,
            log,
            idempotency,
            dead_letters,
        }
    }

    /// Handles one EventBridge event. `Ok` when done (sent, recorded, ignored or
    /// dead-lettered with its reason); `Err` when a retry can help.
    pub async fn handle(
        &self,
        payload: &Value,
        deadline: Option<SystemTime>,
    ) -> Result<Value, ConsumerError> {
        consume(FUNCTION, payload, &self.dead_letters, |event| {
            self.on_event(payload, event, deadline)
        })
        .await
    }

    async fn on_event(
        &self,
        payload: &Value,
        event: Event,
        deadline: Option<SystemTime>,
    ) -> Result<Value, ConsumerError> {
        let (meta, to, email) = match event {
            Event::FulfillmentCanceled(e) => {
                return self
                    .outcome(&e.metadata, &e.data.order_id, FulfillmentOutcome::Canceled)
                    .await;
            }
            Event::FulfillmentCancelRejected(e) => {
                return self
                    .outcome(&e.metadata, &e.data.order_id, FulfillmentOutcome::Rejected)
                    .await;
            }
            Event::FulfillmentStarted(_) => {
                // Not routed here by the template; a stray one needs no email.
                tracing::info!("no email for FulfillmentStarted");
                return Ok(json!({ "ignored": "FulfillmentStarted" }));
            }
            Event::OrderPlaced(e) => {
                let email = templates::order_placed(&e.data);
                (e.metadata, e.data.email, email)
            }
            Event::OrderCanceled(e) => {
                let outcome = self
                    .log
                    .get_outcome(&e.data.order_id)
                    .await
                    .map_err(NotifyError::from)?;
                let email = templates::order_canceled(&e.data, outcome);
                (e.metadata, e.data.email, email)
            }
            Event::OrderShipped(e) => {
                let email = templates::order_shipped(&e.data);
                (e.metadata, e.data.email, email)
            }
            Event::MembershipSignedUp(e) => {
                let email = templates::membership_signed_up(&e.data);
                (e.metadata, e.data.email, email)
            }
            Event::MembershipCanceled(e) => {
                let email = templates::membership_canceled(&e.data);
                (e.metadata, e.data.email, email)
            }
        };
        let delivery = self
            .idempotency
            .run(payload, deadline, || {
                self.deliver(&meta, &to, &email, deadline)
            })
            .await
            .map_err(idempotency_error)?;
        Ok(serde_json::to_value(delivery).unwrap_or(Value::Null))
    }

    /// Runs once per claim: send, then record.
    async fn deliver(
        &self,
        meta: &Metadata,
        to: &Email,
        email: &Rendered,
        deadline: Option<SystemTime>,
    ) -> Result<Delivery, NotifyError> {
        let template = email.template.name();
        // An earlier invocation may have sent and recorded the email and then died
        // before its claim was marked COMPLETED, or the claim expired (a replay from the
        // archive): the record says the email went out.
        if self.log.message_recorded(&meta.event_id).await? {
            tracing::info!(
                template,
                "email already sent for this event, not sending again"
            );
            return Ok(Delivery {
                template: template.into(),
                ses_message_id: None,
            });
        }
        let id = self.mailer.send(to, email).await?;
        let record = MessageRecord {
            event_id: meta.event_id,
            template,
            recipient_hash: recipient_hash(to),
            ses_message_id: id.0.clone(),
            sent_at: format_time(chrono::Utc::now()),
            correlation_id: meta.correlation_id,
        };
        match self.record_sent(&record, deadline).await {
            Ok(()) => tracing::info!(template, sesMessageId = %id.0, "email sent"),
            // The email is out: failing now would make the retry send it again. The
            // idempotency record still holds the SES message id for its lifetime.
            Err(LogError::AlreadyRecorded(_)) => {
                tracing::warn!(template, sesMessageId = %id.0, "email sent, but a message record already existed")
            }
            Err(e) => {
                tracing::error!(template, sesMessageId = %id.0, error = %e, "email sent, but its message record could not be written")
            }
        }
        Ok(Delivery {
            template: template.into(),
            ses_message_id: Some(id.0),
        })
    }

    /// Writes the record of a sent email. The email is out, so a retryable failure is
    /// retried here, with backoff, until a second before the invocation's deadline
    /// (which rides out a short DynamoDB outage) rather than by failing the invocation.
    async fn record_sent(
        &self,
        record: &MessageRecord,
        deadline: Option<SystemTime>,
    ) -> Result<(), LogError> {
        let mut pause = Duration::from_millis(100);
        // Attempts end a second before the deadline: that second is the claim's
        // completion's. An attempt still retrying inside the SDK at the deadline would get
        // the instance killed, and Lambda's retry would send the email again.
        let end = deadline.and_then(|d| d.checked_sub(KEPT_FOR_COMPLETION));
        loop {
            // `within` keeps its own margin before the end it is given.
            let attempt = within(
                end.map(|e| e + DEADLINE_MARGIN),
                self.log.record_message(record),
            )
            .await
            .unwrap_or_else(|| {
                Err(LogError::Unavailable(
                    "no time left before the invocation's deadline".into(),
                ))
            });
            match attempt {
                Err(e) if e.is_retryable() => {
                    let left = end
                        .and_then(|e| e.duration_since(SystemTime::now()).ok())
                        .unwrap_or_default();
                    // The next attempt must get some time after the pause.
                    if left < pause + DEADLINE_MARGIN {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, "message record not written yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// Keeps a cancel's fulfillment outcome for the cancel email. Writing the same value
    /// twice is harmless, so duplicates need no idempotency record.
    async fn outcome(
        &self,
        meta: &Metadata,
        order_id: &eventmart_shared::events::OrderId,
        outcome: FulfillmentOutcome,
    ) -> Result<Value, ConsumerError> {
        self.log
            .put_outcome(order_id, outcome, &meta.event_id)
            .await
            .map_err(NotifyError::from)?;
        tracing::info!(
            outcome = outcome.as_str(),
            "fulfillment outcome recorded, no email"
        );
        Ok(json!({ "outcome": outcome.as_str() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::memory::{MemoryLog, MemoryMailer};
    use dynamodb_idempotency::{Config, InMemoryStore};
    use eventmart_shared::consumer::InMemoryDeadLetters;
    use std::path::PathBuf;
    use std::time::Duration;

    type TestNotifier = Notifier<MemoryMailer, MemoryLog, InMemoryStore, InMemoryDeadLetters>;

    fn notifier() -> TestNotifier {
        Notifier::new(
            MemoryMailer::default(),
            MemoryLog::default(),
            Idempotency::new(InMemoryStore::default(), Config::for_eventbridge(FUNCTION)),
            InMemoryDeadLetters::default(),
        )
    }

    fn sample(name: &str) -> Value {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/eventbridge")
            .join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn deadline() -> Option<SystemTime> {
        Some(SystemTime::now() + Duration::from_secs(60))
    }

    fn sent(n: &TestNotifier) -> Vec<(Email, Rendered)> {
        n.mailer.sent.lock().unwrap().clone()
    }

    fn dead(n: &TestNotifier) -> Vec<Value> {
        n.dead_letters.messages.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn every_email_event_sends_one_email_and_records_it() {
        let n = notifier();
        for (name, template) in [
            ("OrderPlaced", "order-placed"),
            ("OrderCanceled", "order-canceled"),
            ("OrderShipped", "order-shipped"),
            ("MembershipSignedUp", "membership-signed-up"),
            ("MembershipCanceled", "membership-canceled"),
        ] {
            let ev = sample(name);
            let out = n.handle(&ev, deadline()).await.unwrap();
            assert_eq!(out["template"], template, "{name}");
            let id: eventmart_shared::events::EventId = ev["detail"]["metadata"]["eventId"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let rec = n.log.messages.lock().unwrap()[&id].clone();
            assert_eq!(rec.template, template);
            assert_eq!(rec.ses_message_id, out["sesMessageId"].as_str().unwrap());
            assert_eq!(
                rec.recipient_hash,
                recipient_hash(&"ADA@example.com".parse().unwrap())
            );
        }
        let sent = sent(&n);
        assert_eq!(sent.len(), 5);
        assert!(sent.iter().all(|(to, _)| to.as_str() == "ada@example.com"));
        assert!(dead(&n).is_empty());
    }

    #[tokio::test]
    async fn duplicates_send_nothing_more() {
        let n = notifier();
        let ev = sample("OrderPlaced");
        let first = n.handle(&ev, deadline()).await.unwrap();
        for _ in 0..5 {
            assert_eq!(n.handle(&ev, deadline()).await.unwrap(), first);
        }
        assert_eq!(sent(&n).len(), 1);
    }

    #[tokio::test]
    async fn a_recorded_message_is_not_sent_again_after_its_claim_is_gone() {
        // Same event, fresh idempotency store: as after a claim expired.
        let n = notifier();
        let ev = sample("OrderShipped");
        n.handle(&ev, deadline()).await.unwrap();
        let again = Notifier::new(
            MemoryMailer::default(),
            MemoryLog {
                messages: std::sync::Mutex::new(std::mem::take(
                    &mut *n.log.messages.lock().unwrap(),
                )),
                ..MemoryLog::default()
            },
            Idempotency::new(InMemoryStore::default(), Config::for_eventbridge(FUNCTION)),
            InMemoryDeadLetters::default(),
        );
        let out = again.handle(&ev, deadline()).await.unwrap();
        assert_eq!(out["sesMessageId"], Value::Null);
        assert!(again.mailer.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn cancel_email_states_a_known_outcome_and_outcomes_send_no_email() {
        let n = notifier();
        let out = n
            .handle(&sample("FulfillmentCancelRejected"), deadline())
            .await
            .unwrap();
        assert_eq!(out, json!({"outcome": "REJECTED"}));
        assert!(sent(&n).is_empty());
        n.handle(&sample("OrderCanceled"), deadline())
            .await
            .unwrap();
        let sent = sent(&n);
        assert_eq!(sent.len(), 1);
        assert!(
            sent[0]
                .1
                .body
                .contains("Your parcel had already left the warehouse")
        );
    }

    #[tokio::test]
    async fn an_outcome_after_the_cancel_email_sends_nothing() {
        let n = notifier();
        n.handle(&sample("OrderCanceled"), deadline())
            .await
            .unwrap();
        n.handle(&sample("FulfillmentCanceled"), deadline())
            .await
            .unwrap();
        let sent = sent(&n);
        assert_eq!(sent.len(), 1);
        assert!(
            sent[0]
                .1
                .body
                .contains("We are stopping your shipment now.")
        );
    }

    #[tokio::test]
    async fn a_malformed_event_is_dead_lettered_with_its_reason() {
        let n = notifier();
        let mut ev = sample("OrderPlaced");
        ev["detail"]["data"]["email"] = json!("not-an-address");
        let out = n.handle(&ev, deadline()).await.unwrap();
        assert!(
            out["deadLettered"]
                .as_str()
                .unwrap()
                .contains("detail.data.email")
        );
        let dead = dead(&n);
        assert_eq!(dead.len(), 1);
        assert!(
            dead[0]["reason"]
                .as_str()
                .unwrap()
                .contains("detail.data.email")
        );
        assert!(sent(&n).is_empty());
    }

    #[tokio::test]
    async fn a_rejected_email_is_dead_lettered_and_a_transient_failure_retried() {
        let n = notifier();
        *n.mailer.fail.lock().unwrap() = Some(MailError::Unavailable("throttled".into()));
        let ev = sample("MembershipSignedUp");
        let err = n.handle(&ev, deadline()).await.unwrap_err();
        assert!(err.retryable);
        assert!(dead(&n).is_empty());

        *n.mailer.fail.lock().unwrap() = Some(MailError::Rejected("not verified".into()));
        let out = n.handle(&ev, deadline()).await.unwrap();
        assert!(
            out["deadLettered"]
                .as_str()
                .unwrap()
                .contains("not verified")
        );
        assert_eq!(dead(&n).len(), 1);

        // The failed attempts released their claim: once SES accepts, the email goes out.
        *n.mailer.fail.lock().unwrap() = None;
        n.handle(&ev, deadline()).await.unwrap();
        assert_eq!(sent(&n).len(), 1);
    }

    #[tokio::test]
    async fn a_failed_message_record_does_not_cause_a_second_email() {
        let n = notifier();
        *n.log.fail_record.lock().unwrap() = Some(LogError::Unavailable("timeout".into()));
        let ev = sample("OrderShipped");
        // Near its deadline the invocation does not wait for the table: it answers.
        let soon = Some(SystemTime::now() + Duration::from_millis(500));
        let out = n.handle(&ev, soon).await.unwrap();
        assert_eq!(out["sesMessageId"], "msg-1");
        n.handle(&ev, deadline()).await.unwrap();
        assert_eq!(sent(&n).len(), 1);
    }

    #[tokio::test]
    async fn a_message_record_that_fails_for_a_while_is_written_once_the_table_is_back() {
        let n = notifier();
        *n.log.fail_record.lock().unwrap() = Some(LogError::Unavailable("503".into()));
        *n.log.fail_record_times.lock().unwrap() = 3;
        let ev = sample("OrderPlaced");
        let out = n.handle(&ev, deadline()).await.unwrap();
        assert_eq!(sent(&n).len(), 1);
        let id: eventmart_shared::events::EventId = ev["detail"]["metadata"]["eventId"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let rec = n.log.messages.lock().unwrap()[&id].clone();
        assert_eq!(rec.ses_message_id, out["sesMessageId"].as_str().unwrap());
    }

    #[tokio::test]
    async fn a_record_write_that_never_answers_does_not_outlive_the_invocation() {
        let n = notifier();
        n.log
            .hang_record
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let ev = sample("OrderPlaced");
        let soon = SystemTime::now() + Duration::from_secs(2);
        // Answering after the deadline would mean being killed, and Lambda's retry would
        // send the email again.
        let out = tokio::time::timeout(Duration::from_secs(10), n.handle(&ev, Some(soon)))
            .await
            .expect("the handler answered")
            .unwrap();
        assert!(SystemTime::now() < soon, "answered before the deadline");
        assert_eq!(out["sesMessageId"], "msg-1");
        assert_eq!(sent(&n).len(), 1);
        // ...and the second kept for it let the claim complete: a later copy of the event
        // is answered from the record instead of sending again.
        let key = n.idempotency.key_of::<()>(&ev).unwrap();
        let record = n
            .idempotency
            .store()
            .record(&key)
            .expect("the claim's record");
        assert_eq!(record.status, dynamodb_idempotency::Status::Completed);
        n.log
            .hang_record
            .store(false, std::sync::atomic::Ordering::Relaxed);
        n.handle(&ev, deadline()).await.unwrap();
        assert_eq!(sent(&n).len(), 1);
    }
}
