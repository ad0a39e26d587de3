//! The DynamoDB Streams consumer: a batch of stream records in, the outbox items among
//! them published, and a response naming every record the mapping must retry.

use crate::app::App;
use crate::domain::{OutboxEntry, Record, batches};
use crate::ports::Publisher;
use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use eventmart_shared::outbox::{self, attr};
use retryable::Retryable;
use serde_dynamo::AttributeValue;
use std::collections::BTreeMap;

/// Why the relay could not even report its failures: the whole batch must be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// A batch item failure names a record by its sequence number; without one, only
    /// failing the invocation keeps the record (the mapping then bisects the batch).
    #[error("outbox stream record {event_id} has no SequenceNumber")]
    NoSequenceNumber { event_id: String },
}

/// The mapping retries a failed invocation (and bisects its batch): that is the only way
/// the record is kept.
impl Retryable for RelayError {
    fn is_retryable(&self) -> bool {
        match self {
            RelayError::NoSequenceNumber { .. } => true,
        }
    }
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
    Ok(Record::checked(OutboxEntry {
        sequence_number,
        event_id,
        correlation_id: get(attr::CORRELATION_ID),
        source: get(attr::SOURCE),
        detail_type: get(attr::DETAIL_TYPE),
        detail: get(attr::DETAIL),
    }))
}

/// An entry, by its index in the batch.
type Indexed = (usize, OutboxEntry);

/// What one attempt left: entries to resend, and entries a resend cannot help.
#[derive(Default)]
struct Round<'a> {
    failed: Vec<&'a Indexed>,
    rejected: Vec<&'a Indexed>,
}

impl<P: Publisher> App<P> {
    /// Publishes a batch of stream records; the response names every record that must
    /// be retried.
    pub async fn on_stream(
        &self,
        event: &StreamEvent,
    ) -> Result<DynamoDbEventResponse, RelayError> {
        // Sequence numbers of records that failed, in record order.
        let mut failures: BTreeMap<usize, String> = BTreeMap::new();
        let mut entries: Vec<Indexed> = vec![];
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
    async fn publish<'a>(&self, entries: &'a [Indexed]) -> Vec<&'a Indexed> {
        let attempts = self.backoff.attempts.max(1);
        let mut pending: Vec<&Indexed> = entries.iter().collect();
        let mut given_up = vec![];
        let mut delay = self.backoff.base;
        for attempt in 1..=attempts {
            if pending.is_empty() {
                break;
            }
            if attempt > 1 {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            let round = self.attempt(&pending, attempt, attempt == attempts).await;
            given_up.extend(round.rejected);
            pending = round.failed;
        }
        given_up.extend(pending);
        given_up
    }

    /// One attempt at every pending entry, in PutEvents requests within its limits.
    async fn attempt<'a>(&self, pending: &[&'a Indexed], attempt: u32, last: bool) -> Round<'a> {
        let mut round = Round::default();
        let refs: Vec<&OutboxEntry> = pending.iter().map(|(_, e)| e).collect();
        let mut next = pending.iter();
        for batch in batches(&refs) {
            let members: Vec<&Indexed> = next.by_ref().take(batch.len()).copied().collect();
            match self.publisher.put_events(&batch).await {
                Ok(results) => {
                    for (k, item) in members.into_iter().enumerate() {
                        let entry = &item.1;
                        let _span = span(entry).entered();
                        match results.get(k) {
                            Some(Ok(())) => {
                                tracing::info!(detailType = %entry.detail_type, attempt, "published")
                            }
                            Some(Err(f)) => {
                                log_failure(last, attempt, &f.to_string());
                                round.failed.push(item);
                            }
                            None => {
                                log_failure(
                                    last,
                                    attempt,
                                    "PutEvents returned no result for the entry",
                                );
                                round.failed.push(item);
                            }
                        }
                    }
                }
                Err(e) => {
                    let retryable = e.is_retryable();
                    for item in members {
                        let _span = span(&item.1).entered();
                        log_failure(last || !retryable, attempt, &e.to_string());
                        if retryable {
                            round.failed.push(item);
                        } else {
                            round.rejected.push(item);
                        }
                    }
                }
            }
        }
        round
    }
}

/// Every log line about an entry carries its `eventId` and `correlationId`.
fn span(entry: &OutboxEntry) -> tracing::Span {
    eventmart_shared::telemetry::event_span(&entry.event_id, &entry.correlation_id)
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
