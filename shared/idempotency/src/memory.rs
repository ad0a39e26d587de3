use super::{Claim, EpochMillis, Record, Store, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;

/// A business write for [`InMemoryStore::commit`]: put `value` at `key` if `condition`
/// holds, as a `Put` with a condition expression does in DynamoDB. A put of `null`
/// deletes the item.
#[derive(Debug, Clone, PartialEq)]
pub struct InMemoryWrite {
    pub key: String,
    pub value: serde_json::Value,
    pub condition: Condition,
}

impl InMemoryWrite {
    /// An unconditional put.
    pub fn put(key: impl Into<String>, value: serde_json::Value) -> Self {
        Self {
            key: key.into(),
            value,
            condition: Condition::Always,
        }
    }

    /// The same put, only where `condition` holds.
    pub fn when(mut self, condition: Condition) -> Self {
        self.condition = condition;
        self
    }
}

/// What must hold of the item at a write's key, as the condition expressions the
/// DynamoDB adapters write say it. Conditions are checked against the items as they were
/// before the transaction, all or nothing, as `TransactWriteItems` does.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Condition {
    #[default]
    Always,
    /// `attribute_not_exists(pk)`: the item is new.
    Absent,
    /// `attribute_exists(pk)`.
    Present,
    /// The item exists and its value at the JSON Pointer `pointer` is `value`
    /// (`#status = :from`; the pointer `""` is the whole value).
    Equals {
        pointer: String,
        value: serde_json::Value,
    },
    /// Any of these (`attribute_not_exists(pk) OR membershipId = :id`).
    Any(Vec<Condition>),
}

impl Condition {
    /// `Equals` for the value at `pointer`.
    pub fn equals(pointer: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        Condition::Equals {
            pointer: pointer.into(),
            value: value.into(),
        }
    }

    fn holds(&self, item: Option<&serde_json::Value>) -> bool {
        match self {
            Condition::Always => true,
            Condition::Absent => item.is_none(),
            Condition::Present => item.is_some(),
            Condition::Equals { pointer, value } => {
                item.and_then(|i| i.pointer(pointer)) == Some(value)
            }
            Condition::Any(any) => any.iter().any(|c| c.holds(item)),
        }
    }
}

/// The error `TransactWriteItems` gives when conditions fail: its cancellation reasons
/// in the order of the items, `offset` items (the record) before the writes.
fn check(
    items: &HashMap<String, serde_json::Value>,
    writes: &[InMemoryWrite],
    offset: usize,
) -> Result<(), StoreError> {
    let failed: Vec<usize> = writes
        .iter()
        .enumerate()
        .filter(|(_, w)| !w.condition.holds(items.get(&w.key)))
        .map(|(i, _)| i + offset)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let reasons: Vec<&str> = (0..offset + writes.len())
        .map(|i| {
            if failed.contains(&i) {
                "ConditionalCheckFailed"
            } else {
                "None"
            }
        })
        .collect();
    Err(
        StoreError::transient(format!("transaction canceled: [{}]", reasons.join(", ")))
            .with_conditions_failed(failed),
    )
}

/// A store in memory with the same conditions as the DynamoDB one, for unit tests: the
/// record's claim condition, and each business write's [`Condition`], so that a race
/// between two writers can be tested without a server. It also keeps every business
/// write that landed, in order, for tests to inspect.
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
            if w.value.is_null() {
                items.remove(&w.key);
            } else {
                items.insert(w.key, w.value);
            }
        }
    }

    pub fn record(&self, key: &str) -> Option<Record> {
        self.records.lock().ok()?.get(key).cloned()
    }

    pub fn item(&self, key: &str) -> Option<serde_json::Value> {
        self.items.lock().ok()?.get(key).cloned()
    }

    /// Every item whose key starts with `prefix`, by key: a query of a partition.
    pub fn items_with_prefix(&self, prefix: &str) -> Vec<serde_json::Value> {
        let Ok(items) = self.items.lock() else {
            return vec![];
        };
        let mut found: Vec<_> = items
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect();
        found.sort_by(|a, b| a.0.cmp(b.0));
        found.into_iter().map(|(_, v)| v.clone()).collect()
    }

    pub fn insert(&self, record: Record) {
        if let Ok(mut r) = self.records.lock() {
            r.insert(record.key.clone(), record);
        }
    }

    fn live_record(&self, key: &str, now: EpochMillis) -> Option<Record> {
        let records = self.records.lock().ok()?;
        records.get(key).filter(|old| !old.is_expired(now)).cloned()
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
        check(&items, &writes, 0)?;
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
        // As in DynamoDB, a live record answers first: the duplicate gets it back.
        if let Some(old) = self.live_record(&record.key, now) {
            return Ok(Claim::Exists(old));
        }
        check(&items, &writes, 1)?;
        let claim = self.write_if_free(record, now)?;
        if claim == Claim::Claimed {
            self.land(&mut items, writes);
        }
        Ok(claim)
    }
}
