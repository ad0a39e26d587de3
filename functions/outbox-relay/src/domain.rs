//! What the relay decides without I/O: which stream records are entries to publish, and
//! how entries are split into PutEvents requests.

use std::time::Duration;

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

impl Record {
    /// An entry too big for any PutEvents request is malformed: resending cannot help.
    pub fn checked(entry: OutboxEntry) -> Self {
        if entry.size() > MAX_BATCH_BYTES {
            return Record::Malformed {
                reason: format!(
                    "the entry is {} bytes; PutEvents takes at most {MAX_BATCH_BYTES}",
                    entry.size()
                ),
                sequence_number: entry.sequence_number,
                event_id: entry.event_id,
            };
        }
        Record::Entry(entry)
    }
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
