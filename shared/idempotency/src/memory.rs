use super::{Claim, EpochMillis, Record, Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// A business write for [`InMemoryStore::commit`]: put `value` at `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct InMemoryWrite {
    pub key: String,
    pub value: serde_json::Value,
}

/// A store in memory with the same conditions as the DynamoDB one, for unit tests. It
/// also keeps every business write that landed, in order, for tests to inspect.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    records: Mutex<HashMap<String, Record>>,
    items: Mutex<HashMap<String, serde_json::Value>>,
    committed: Mutex<Vec<InMemoryWrite>>,
}

impl InMemoryStore {
    /// Every business write that landed, in order.
    pub fn committed(&self) -> Vec<InMemoryWrite> {
        self.committed.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The business writes that landed since the last call.
    pub fn take_committed(&self) -> Vec<InMemoryWrite> {
        self.committed
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    fn land(&self, items: &mut HashMap<String, serde_json::Value>, writes: Vec<InMemoryWrite>) {
        if let Ok(mut c) = self.committed.lock() {
            c.extend(writes.iter().cloned());
        }
        for w in writes {
            items.insert(w.key, w.value);
        }
    }

    pub fn record(&self, key: &str) -> Option<Record> {
        self.records.lock().ok()?.get(key).cloned()
    }

    pub fn item(&self, key: &str) -> Option<serde_json::Value> {
        self.items.lock().ok()?.get(key).cloned()
    }

    pub fn insert(&self, record: Record) {
        if let Ok(mut r) = self.records.lock() {
            r.insert(record.key.clone(), record);
        }
    }

    fn write_if_free(&self, record: &Record, now: EpochMillis) -> Result<Claim, StoreError> {
        let mut records = self
            .records
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        match records.get(&record.key) {
            Some(old) if !old.is_expired(now) => Ok(Claim::Exists(old.clone())),
            _ => {
                records.insert(record.key.clone(), record.clone());
                Ok(Claim::Claimed)
            }
        }
    }
}

impl Store for InMemoryStore {
    type Write = InMemoryWrite;

    async fn claim(&self, record: &Record, now: EpochMillis) -> Result<Claim, StoreError> {
        self.write_if_free(record, now)
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        self.insert(record.clone());
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        if let Ok(mut r) = self.records.lock() {
            r.remove(key);
        }
        Ok(())
    }

    async fn write(&self, writes: Vec<InMemoryWrite>) -> Result<(), StoreError> {
        let mut items = self
            .items
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        self.land(&mut items, writes);
        Ok(())
    }

    async fn commit(
        &self,
        record: &Record,
        writes: Vec<InMemoryWrite>,
        now: EpochMillis,
    ) -> Result<Claim, StoreError> {
        // Both locks held: the record and the writes land together or not at all.
        let mut items = self
            .items
            .lock()
            .map_err(|_| StoreError::permanent("poisoned"))?;
        let claim = self.write_if_free(record, now)?;
        if claim == Claim::Claimed {
            self.land(&mut items, writes);
        }
        Ok(claim)
    }
}
