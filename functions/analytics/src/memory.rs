//! Daily aggregates in memory, for unit tests of the handler.

use crate::domain::{DateRange, Day};
use crate::ports::{DailyStore, StoreError};
use std::sync::{Mutex, MutexGuard};

/// Stored days in memory; records the ranges it was asked for.
#[derive(Debug, Default)]
pub struct MemoryDailyStore {
    days: Vec<Day>,
    asked: Mutex<Vec<DateRange>>,
}

impl MemoryDailyStore {
    pub fn new(days: Vec<Day>) -> Self {
        Self {
            days,
            asked: Mutex::default(),
        }
    }

    /// The ranges read so far, in order.
    pub fn asked(&self) -> Vec<DateRange> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<DateRange>> {
        // A test that panicked holding the lock has failed already.
        self.asked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DailyStore for MemoryDailyStore {
    async fn days(&self, range: DateRange) -> Result<Vec<Day>, StoreError> {
        self.lock().push(range);
        Ok(self
            .days
            .iter()
            .filter(|d| range.contains(d.day))
            .cloned()
            .collect())
    }
}
