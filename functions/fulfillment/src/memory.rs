//! An in-memory ledger with DynamoDB's all-or-nothing transactions and conditions, for
//! unit tests of the handler.

use crate::domain::{Change, Shipment};
use crate::ports::{Ledger, LedgerError};
use chrono::{DateTime, Utc};
use dynamodb_idempotency::{Claim, EpochMillis, Record, Store, StoreError};
use eventmart_shared::events::{Event, OrderId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Inner {
    records: HashMap<String, Record>,
    shipments: HashMap<OrderId, Shipment>,
    outbox: Vec<Event>,
    /// Applied right after the next read: a concurrent writer between read and commit.
    after_read: Option<Shipment>,
    /// What every read fails with, while set.
    read_error: Option<LedgerError>,
}

/// Shipments, outbox and idempotency records in memory; clones share them.
#[derive(Clone, Default)]
pub struct MemoryLedger(Arc<Mutex<Inner>>);

impl MemoryLedger {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked holding the lock has failed already.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored shipment of `id`, as it is now.
    pub fn shipment_now(&self, id: OrderId) -> Option<Shipment> {
        self.inner().shipments.get(&id).cloned()
    }

    /// The events committed to the outbox, in commit order.
    pub fn outbox(&self) -> Vec<Event> {
        self.inner().outbox.clone()
    }

    /// Stores `s` right after the next read, as a concurrent writer would.
    pub fn interleave(&self, s: Shipment) {
        self.inner().after_read = Some(s);
    }

    /// The keys of the idempotency records kept, sorted.
    pub fn record_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.inner().records.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Makes every read fail with `e` (`None`: read again).
    pub fn fail_reads(&self, e: Option<LedgerError>) {
        self.inner().read_error = e;
    }

    /// All or nothing, like TransactWriteItems; `offset` is the index of the first write.
    fn apply(inner: &mut Inner, writes: Vec<Change>, offset: usize) -> Result<(), StoreError> {
        let failed: Vec<usize> = writes
            .iter()
            .enumerate()
            .filter(|(_, w)| match w {
                Change::Put { shipment, expected } => {
                    inner
                        .shipments
                        .get(&shipment.order_id)
                        .map(|s| s.state.status())
                        != *expected
                }
                Change::Emit(_) => false,
            })
            .map(|(i, _)| i + offset)
            .collect();
        if !failed.is_empty() {
            return Err(
                StoreError::transient("transaction canceled").with_conditions_failed(failed)
            );
        }
        for w in writes {
            match w {
                Change::Put { shipment, .. } => {
                    inner.shipments.insert(shipment.order_id, shipment);
                }
                Change::Emit(e) => inner.outbox.push(e),
            }
        }
        Ok(())
    }
}

impl Ledger for MemoryLedger {
    async fn shipment(&self, order_id: OrderId) -> Result<Option<Shipment>, LedgerError> {
        let mut inner = self.inner();
        if let Some(e) = &inner.read_error {
            return Err(e.clone());
        }
        let read = inner.shipments.get(&order_id).cloned();
        if let Some(s) = inner.after_read.take() {
            inner.shipments.insert(s.order_id, s);
        }
        Ok(read)
    }

    fn writes(&self, changes: Vec<Change>, _now: DateTime<Utc>) -> Vec<Change> {
        changes
    }
}

impl Store for MemoryLedger {
    type Write = Change;

    async fn claim(&self, record: &Record, now: EpochMillis) -> Result<Claim, StoreError> {
        let mut inner = self.inner();
        match inner.records.get(&record.key) {
            Some(old) if !old.is_expired(now) => Ok(Claim::Exists(old.clone())),
            _ => {
                inner.records.insert(record.key.clone(), record.clone());
                Ok(Claim::Claimed)
            }
        }
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        self.inner()
            .records
            .insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.inner().records.remove(key);
        Ok(())
    }

    async fn write(&self, writes: Vec<Change>) -> Result<(), StoreError> {
        Self::apply(&mut self.inner(), writes, 0)
    }

    async fn commit(
        &self,
        record: &Record,
        writes: Vec<Change>,
        now: EpochMillis,
    ) -> Result<Claim, StoreError> {
        let mut inner = self.inner();
        if let Some(old) = inner.records.get(&record.key)
            && !old.is_expired(now)
        {
            return Ok(Claim::Exists(old.clone()));
        }
        Self::apply(&mut inner, writes, 1)?;
        inner.records.insert(record.key.clone(), record.clone());
        Ok(Claim::Claimed)
    }
}
