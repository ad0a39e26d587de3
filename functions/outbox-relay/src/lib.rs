//! The outbox relay: DynamoDB Streams records of outbox items → EventBridge PutEvents.
//!
//! Producers write a state change and the event it causes in one transaction (the
//! transactional outbox); the table's stream brings the outbox INSERTs here. Entries go
//! out in record order, in batches PutEvents accepts (at most 10 entries and 256 KB).
//! Entries PutEvents reports as failed are resent with exponential backoff; what still
//! fails, and outbox items that cannot be read, come back as batch item failures so that
//! the event source mapping retries them (and, in the end, bisects the batch and sends
//! the record to its on-failure destination). Nothing is dropped.
//!
//! # Guarantee: every outbox item reaches the bus at least once
//!
//! * An entry PutEvents failed (its result has an error code), or a request that failed
//!   as a whole with a transient error (throttling, a fault, the network): resent, alone
//!   or with the other failures, up to [`Backoff::attempts`] in all; still failing, it is
//!   a batch item failure.
//! * A request EventBridge rejects (malformed, unauthorised): not resent; its entries are
//!   batch item failures at once.
//! * An outbox item without its attributes, or too big for any PutEvents request: a batch
//!   item failure, logged with its `eventId`; the mapping's retries end in its on-failure
//!   destination.
//! * A stream record without a `SequenceNumber` cannot be named in a batch item failure:
//!   the invocation fails, and the mapping retries and bisects the batch.
//!
//! # Failure windows: when an event is published twice
//!
//! Consumers de-duplicate on `eventId`, which every copy carries.
//!
//! * PutEvents accepted an entry but its answer was lost (a timeout, a reset): the entry
//!   is resent and the bus has it twice.
//! * A batch item failure makes the mapping retry from that record: records after it in
//!   the shard that this invocation published are published again.
//! * The process dies (timeout, crash) after a PutEvents and before it answers: the
//!   mapping retries the whole batch, and what was published goes out again.

pub mod app;
pub mod domain;
pub mod eventbridge;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod ports;
mod stream;
#[cfg(test)]
mod tests;

pub use app::{App, Deployed, Settings, build, from_env};
pub use domain::{Backoff, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, OutboxEntry, Record, batches};
pub use eventbridge::EventBridgePublisher;
pub use eventmart_shared::aws::ConfigError;
pub use ports::{EntryFailure, PublishError, Publisher};
pub use stream::{RelayError, read_record};
