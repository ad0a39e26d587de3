//! The EventBridge consumer: which email an event produces, sent at most once per event
//! id (see the crate docs for the exact guarantee), and fulfillment outcomes kept for the
//! cancel email.

use crate::app::{App, FUNCTION};
use crate::domain::{Delivery, FulfillmentOutcome, Mail, MessageRecord, Reaction, react};
use crate::ports::{LogError, MailError, Mailer, MessageLog};
use crate::templates::{self, Rendered};
use dynamodb_idempotency::{DEADLINE_MARGIN, Store, within};
use eventmart_shared::consumer::{ConsumerError, DeadLetters, consume};
use eventmart_shared::events::{Email, EventId, Metadata, OrderId};
use retryable::Retryable;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// What the message record's write leaves of an invocation for the claim's completion.
const KEPT_FOR_COMPLETION: Duration = Duration::from_secs(1);

/// A failure while handling one event.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl Retryable for NotifyError {
    fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Mail(e) => e.is_retryable(),
            NotifyError::Log(e) => e.is_retryable(),
        }
    }
}

impl<M: Mailer, L: MessageLog, S: Store, D: DeadLetters> App<M, L, S, D> {
    /// Handles one EventBridge event before the invocation's `deadline`. `Ok` when done
    /// (sent, recorded, ignored or dead-lettered with its reason); `Err` when a retry can
    /// help.
    pub async fn on_event(
        &self,
        payload: &Value,
        deadline: Option<SystemTime>,
    ) -> Result<Value, ConsumerError> {
        consume(FUNCTION, payload, &self.dead_letters, |event| async move {
            match react(event) {
                Reaction::Email { meta, to, mail } => {
                    self.email(payload, &meta, &to, &mail, deadline).await
                }
                Reaction::KeepOutcome {
                    order_id,
                    outcome,
                    event_id,
                } => self
                    .keep_outcome(&order_id, outcome, &event_id)
                    .await
                    .map_err(|e| ConsumerError::from_error(&e)),
                Reaction::Ignore { detail_type } => {
                    tracing::info!(detailType = detail_type, "no email for this event");
                    Ok(json!({ "ignored": detail_type }))
                }
            }
        })
        .await
    }

    /// Renders the email and delivers it under the event's idempotency claim.
    async fn email(
        &self,
        payload: &Value,
        meta: &Metadata,
        to: &Email,
        mail: &Mail,
        deadline: Option<SystemTime>,
    ) -> Result<Value, ConsumerError> {
        let outcome = match mail.states_outcome_of() {
            Some(order_id) => self
                .log
                .get_outcome(order_id)
                .await
                .map_err(|e| ConsumerError::from_error(&e))?,
            None => None,
        };
        let email = templates::render(mail, outcome);
        let delivery = self
            .idempotency
            .run(payload, deadline, || {
                self.deliver(meta, to, &email, deadline)
            })
            .await
            .map_err(|e| ConsumerError::from_error(&e))?;
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
        let record = MessageRecord::of(meta, to, template, &id.0, chrono::Utc::now());
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

    /// Keeps a cancel's fulfillment outcome for the cancel email.
    async fn keep_outcome(
        &self,
        order_id: &OrderId,
        outcome: FulfillmentOutcome,
        event_id: &EventId,
    ) -> Result<Value, NotifyError> {
        self.log.put_outcome(order_id, outcome, event_id).await?;
        tracing::info!(
            outcome = outcome.as_str(),
            "fulfillment outcome recorded, no email"
        );
        Ok(json!({ "outcome": outcome.as_str() }))
    }
}
