//! The path every EventBridge consumer shares: parse the event once into a typed
//! [`Event`], run the handler inside a span carrying `eventId` and `correlationId`, send
//! what can never succeed to the dead-letter queue with its reason, and return what a
//! retry can fix as an error so that Lambda's asynchronous retries take it.

use crate::events::Event;
use dynamodb_idempotency::IdempotencyError;
use retryable::Retryable;
use serde_json::{Value, json};
use std::future::Future;
use tracing::Instrument;

/// A consumer's failure: what went wrong and whether a retry of the same event can
/// succeed. Any [`Retryable`] error of a handler becomes one without losing its class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConsumerError {
    pub message: String,
    retryable: bool,
}

impl ConsumerError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }

    /// `e`, keeping its message and its class.
    pub fn from_error<E: Retryable + std::fmt::Display>(e: &E) -> Self {
        Self {
            message: e.to_string(),
            retryable: e.is_retryable(),
        }
    }
}

impl Retryable for ConsumerError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// An idempotent handler's failure keeps the handler's own class: a permanent handler
/// error is dead-lettered, not retried forever.
impl<E: Retryable + std::fmt::Display> From<IdempotencyError<E>> for ConsumerError {
    fn from(e: IdempotencyError<E>) -> Self {
        Self::from_error(&e)
    }
}

/// Where events that cannot be processed go, with the reason.
pub trait DeadLetters: Send + Sync {
    fn send(&self, message: &Value) -> impl Future<Output = Result<(), ConsumerError>> + Send;
}

/// The SQS queue that is also the function's on-failure destination.
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl DeadLetters for SqsDeadLetters {
    async fn send(&self, message: &Value) -> Result<(), ConsumerError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(message.to_string())
            .send()
            .await
            .map_err(|e| {
                ConsumerError::transient(format!(
                    "dead-letter queue: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ))
            })?;
        Ok(())
    }
}

/// What a dead-lettered event looks like in the queue.
pub fn dead_letter(function: &str, event: &Value, reason: &str) -> Value {
    json!({ "function": function, "reason": reason, "retryable": false, "event": event })
}

/// Runs `handler` on one EventBridge event. `Ok` means done (handled, or dead-lettered
/// with its reason); `Err` means a retry can help. The handler's error decides which
/// through [`Retryable`].
pub async fn consume<D, F, Fut, E>(
    function: &str,
    payload: &Value,
    dlq: &D,
    handler: F,
) -> Result<Value, ConsumerError>
where
    D: DeadLetters,
    F: FnOnce(Event) -> Fut,
    Fut: Future<Output = Result<Value, E>>,
    E: Retryable + std::fmt::Display,
{
    let event = match Event::from_eventbridge(payload) {
        Ok(e) => e,
        Err(e) => {
            let event_id = payload
                .pointer("/detail/metadata/eventId")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            let correlation_id = payload
                .pointer("/detail/metadata/correlationId")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            tracing::error!(eventId = event_id, correlationId = correlation_id, field = %e.field, reason = %e.reason, "invalid event, dead-lettered");
            dlq.send(&dead_letter(function, payload, &e.to_string()))
                .await?;
            return Ok(json!({ "deadLettered": e.to_string() }));
        }
    };
    let meta = event.metadata().clone();
    let span = crate::telemetry::event_span(&meta.event_id, &meta.correlation_id);
    async move {
        let detail_type = event.event_type().detail_type();
        match handler(event).await {
            Ok(out) => {
                tracing::info!(detailType = detail_type, "handled");
                Ok(out)
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(detailType = detail_type, error = %e, "failed, will be retried");
                Err(ConsumerError::from_error(&e))
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(detailType = detail_type, error = %reason, "cannot be processed, dead-lettered");
                dlq.send(&dead_letter(function, payload, &reason)).await?;
                Ok(json!({ "deadLettered": reason }))
            }
        }
    }
    .instrument(span)
    .await
}

/// A dead-letter queue in memory, for unit tests of handlers.
#[derive(Debug, Default)]
pub struct InMemoryDeadLetters {
    pub messages: std::sync::Mutex<Vec<Value>>,
}

impl DeadLetters for InMemoryDeadLetters {
    async fn send(&self, message: &Value) -> Result<(), ConsumerError> {
        self.messages
            .lock()
            .map_err(|_| ConsumerError::transient("poisoned"))?
            .push(message.clone());
        Ok(())
    }
}
