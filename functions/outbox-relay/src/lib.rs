//! The outbox relay: DynamoDB Streams records of outbox items → EventBridge PutEvents.
//!
//! Entries go out in record order, in batches PutEvents accepts (at most 10 entries and
//! 256 KB). Entries PutEvents reports as failed are resent with exponential backoff; what
//! still fails, and outbox items that cannot be read, come back as batch item failures so
//! that the event source mapping retries them (and, in the end, bisects the batch and
//! sends the record to its on-failure destination). Nothing is dropped.

pub mod eventbridge;

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use eventmart_shared::outbox::{self, attr};
use serde_dynamo::AttributeValue;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

pub use eventbridge::EventBridgePublisher;
pub use eventmart_shared::aws::ConfigError;

/// PutEvents takes at most 10 entries per request.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// ... and at most 256 KB of entries, sized as [`OutboxEntry::size`] computes.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// One event to publish, read from an outbox item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The stream record's `SequenceNumber`: what a batch item failure names.
    pub sequence_number: String,
    pub event_id: String,
    pub correlation_id: String,
    pub source: String,
    pub detail_type: String,
    pub detail: String,
}

impl OutboxEntry {
    /// The entry's size as AWS computes it for PutEvents' 256 KB limit: the UTF-8 bytes
    /// of Source, DetailType, Detail and Resources, plus 14 when Time is set. The relay
    /// sets neither Resources nor Time.
    pub fn size(&self) -> usize {
        self.source.len() + self.detail_type.len() + self.detail.len()
    }

    fn span(&self) -> tracing::Span {
        eventmart_shared::telemetry::event_span(&self.event_id, &self.correlation_id)
    }
}

/// Why PutEvents did not take one entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct EntryFailure {
    pub code: String,
    pub message: String,
}

/// A PutEvents request failed as a whole: every entry in it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PutEvents failed: {message}")]
pub struct PublishError {
    pub message: String,
    /// A rejected request (malformed, unauthorised) fails the same way when resent.
    pub retryable: bool,
}

/// The bus (the port the relay is generic over).
pub trait Publisher: Send + Sync {
    /// Puts one batch (within PutEvents' limits); the result has one element per entry,
    /// in order.
    fn put_events(
        &self,
        entries: &[&OutboxEntry],
    ) -> impl Future<Output = Result<Vec<Result<(), EntryFailure>>, PublishError>> + Send;
}

/// Why the relay could not even report its failures: the whole batch must be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// A batch item failure names a record by its sequence number; without one, only
    /// failing the invocation keeps the record (the mapping then bisects the batch).
    #[error("outbox stream record {event_id} has no SequenceNumber")]
    NoSequenceNumber { event_id: String },
}

/// How failed entries are resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; it doubles before each later one.
    pub base: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            attempts: 4,
            base: Duration::from_millis(50),
        }
    }
}

/// What a stream record is to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Entry(OutboxEntry),
    /// An outbox item the relay cannot publish: reported, never dropped.
    Malformed {
        sequence_number: String,
        event_id: String,
        reason: String,
    },
    /// Not an outbox INSERT (the event source mapping's filter should have kept it out).
    Skip,
}

/// Reads one stream record.
pub fn read_record(record: &EventRecord) -> Result<Record, RelayError> {
    let image = &record.change.new_image;
    let text = |name: &str| match image.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    if record.event_name != "INSERT" || text(attr::KIND) != Some(outbox::KIND) {
        return Ok(Record::Skip);
    }
    let event_id = text(attr::EVENT_ID).unwrap_or("unknown").to_owned();
    let Some(sequence_number) = record.change.sequence_number.clone() else {
        return Err(RelayError::NoSequenceNumber { event_id });
    };
    let missing: Vec<&str> = [
        attr::SOURCE,
        attr::DETAIL_TYPE,
        attr::DETAIL,
        attr::EVENT_ID,
        attr::CORRELATION_ID,
    ]
    .into_iter()
    .filter(|a| text(a).is_none_or(str::is_empty))
    .collect();
    if !missing.is_empty() {
        return Ok(Record::Malformed {
            sequence_number,
            event_id,
            reason: format!("missing or non-string attributes: {}", missing.join(", ")),
        });
    }
    let get = |a: &str| text(a).unwrap_or_default().to_owned();
    let entry = OutboxEntry {
        sequence_number,
        event_id,
        correlation_id: get(attr::CORRELATION_ID),
        source: get(attr::SOURCE),
        detail_type: get(attr::DETAIL_TYPE),
        detail: get(attr::DETAIL),
    };
    if entry.size() > MAX_BATCH_BYTES {
        return Ok(Record::Malformed {
            reason: format!(
                "the entry is {} bytes; PutEvents takes at most {MAX_BATCH_BYTES}",
                entry.size()
            ),
            sequence_number: entry.sequence_number,
            event_id: entry.event_id,
        });
    }
    Ok(Record::Entry(entry))
}

/// Splits entries, in order, into PutEvents requests within both limits.
pub fn batches<'a>(entries: &[&'a OutboxEntry]) -> Vec<Vec<&'a OutboxEntry>> {
    let mut out: Vec<Vec<&OutboxEntry>> = vec![];
    let mut bytes = 0;
    for &e in entries {
        match out.last_mut() {
            Some(batch)
                if batch.len() < MAX_BATCH_ENTRIES && bytes + e.size() <= MAX_BATCH_BYTES =>
            {
                bytes += e.size();
                batch.push(e);
            }
            _ => {
                bytes = e.size();
                out.push(vec![e]);
            }
        }
    }
    out
}

pub struct Relay<P> {
    publisher: P,
    backoff: Backoff,
}

impl Relay<EventBridgePublisher> {
    /// EVENT_BUS_NAME from the environment.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let bus = eventmart_shared::aws::env("EVENT_BUS_NAME")?;
        Ok(Relay::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(config),
            bus,
        )))
    }
}

impl<P: Publisher> Relay<P> {
    pub fn new(publisher: P) -> Self {
        Self {
            publisher,
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Publishes a batch of stream records; the response names every record that must
    /// be retried.
    pub async fn handle(&self, event: &StreamEvent) -> Result<DynamoDbEventResponse, RelayError> {
        // Sequence numbers of records that failed, with why, in record order.
        let mut failures: BTreeMap<usize, String> = BTreeMap::new();
        let mut entries: Vec<(usize, OutboxEntry)> = vec![];
        for (i, record) in event.records.iter().enumerate() {
            match read_record(record)? {
                Record::Entry(e) => entries.push((i, e)),
                Record::Malformed {
                    sequence_number,
                    event_id,
                    reason,
                } => {
                    tracing::error!(eventId = %event_id, sequenceNumber = %sequence_number, %reason, "malformed outbox item; reported as failed");
                    failures.insert(i, sequence_number);
                }
                Record::Skip => {
                    tracing::debug!(eventName = %record.event_name, "not an outbox insert; skipped")
                }
            }
        }
        for (i, e) in self.publish(&entries).await {
            failures.insert(*i, e.sequence_number.clone());
        }
        let mut response = DynamoDbEventResponse::default();
        for sequence_number in failures.into_values() {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence_number);
            response.batch_item_failures.push(failure);
        }
        Ok(response)
    }

    /// Sends every entry, resending failed ones; returns those that never went through.
    async fn publish<'a>(
        &self,
        entries: &'a [(usize, OutboxEntry)],
    ) -> Vec<&'a (usize, OutboxEntry)> {
        let mut pending: Vec<&(usize, OutboxEntry)> = entries.iter().collect();
        let mut given_up = vec![];
        let mut delay = self.backoff.base;
        for attempt in 1..=self.backoff.attempts.max(1) {
            if pending.is_empty() {
                break;
            }
            if attempt > 1 {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            let last = attempt == self.backoff.attempts.max(1);
            let mut failed = vec![];
            let refs: Vec<&OutboxEntry> = pending.iter().map(|(_, e)| e).collect();
            let mut next = pending.iter();
            for batch in batches(&refs) {
                let members: Vec<&(usize, OutboxEntry)> =
                    next.by_ref().take(batch.len()).copied().collect();
                match self.publisher.put_events(&batch).await {
                    Ok(results) => {
                        for (k, item) in members.into_iter().enumerate() {
                            let entry = &item.1;
                            let _span = entry.span().entered();
                            match results.get(k) {
                                Some(Ok(())) => {
                                    tracing::info!(detailType = %entry.detail_type, attempt, "published")
                                }
                                Some(Err(f)) => {
                                    log_failure(last, attempt, &f.to_string());
                                    failed.push(item);
                                }
                                None => {
                                    log_failure(
                                        last,
                                        attempt,
                                        "PutEvents returned no result for the entry",
                                    );
                                    failed.push(item);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        for item in members {
                            let _span = item.1.span().entered();
                            log_failure(last || !e.retryable, attempt, &e.to_string());
                            if e.retryable {
                                failed.push(item);
                            } else {
                                given_up.push(item);
                            }
                        }
                    }
                }
            }
            pending = failed;
        }
        given_up.extend(pending);
        given_up
    }
}

fn log_failure(final_attempt: bool, attempt: u32, error: &str) {
    if final_attempt {
        tracing::error!(
            attempt,
            error,
            "not published; reported as a batch item failure"
        );
    } else {
        tracing::warn!(attempt, error, "not published; will resend");
    }
}

#[cfg(test)]
mod tests;
