//! An in-memory bus, for unit tests and for callers that run the relay without AWS.

use crate::domain::{MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, OutboxEntry};
use crate::ports::{EntryFailure, PublishError, Publisher};
use std::collections::HashMap;
use std::sync::Mutex;

/// Whether to fail an entry, by its eventId and the times it was seen before.
type Rule = Box<dyn Fn(&str, u32) -> bool + Send + Sync>;

/// Records every request; fails an entry while `fail` says so for its eventId and the
/// number of times it was seen before, and a whole request with `request_error` once.
pub struct InMemoryBus {
    requests: Mutex<Vec<Vec<String>>>,
    seen: Mutex<HashMap<String, u32>>,
    fail: Rule,
    pub request_error: Mutex<Option<PublishError>>,
}

impl InMemoryBus {
    pub fn new(fail: impl Fn(&str, u32) -> bool + Send + Sync + 'static) -> Self {
        Self {
            requests: Mutex::default(),
            seen: Mutex::default(),
            fail: Box::new(fail),
            request_error: Mutex::default(),
        }
    }

    /// The eventIds of every request, in order.
    pub fn requests(&self) -> Vec<Vec<String>> {
        self.requests.lock().unwrap().clone()
    }
}

impl Publisher for InMemoryBus {
    async fn put_events(
        &self,
        entries: &[&OutboxEntry],
    ) -> Result<Vec<Result<(), EntryFailure>>, PublishError> {
        assert!(entries.len() <= MAX_BATCH_ENTRIES);
        assert!(entries.iter().map(|e| e.size()).sum::<usize>() <= MAX_BATCH_BYTES);
        self.requests
            .lock()
            .unwrap()
            .push(entries.iter().map(|e| e.event_id.clone()).collect());
        if let Some(e) = self.request_error.lock().unwrap().take() {
            return Err(e);
        }
        let mut seen = self.seen.lock().unwrap();
        Ok(entries
            .iter()
            .map(|e| {
                let n = seen.entry(e.event_id.clone()).or_default();
                let fail = (self.fail)(&e.event_id, *n);
                *n += 1;
                if fail {
                    Err(EntryFailure {
                        code: "InternalException".into(),
                        message: "try again".into(),
                    })
                } else {
                    Ok(())
                }
            })
            .collect())
    }
}
