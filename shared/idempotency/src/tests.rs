use super::*;
use serde_json::json;
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

fn event(id: &str, payload: &str) -> serde_json::Value {
    json!({"detail": {"metadata": {"eventId": id}, "data": {"x": payload}}})
}

struct Harness {
    idem: Idempotency<InMemoryStore>,
    now_ms: Arc<AtomicI64>,
    runs: AtomicUsize,
}

fn harness(cache: usize) -> Harness {
    let now_ms = Arc::new(AtomicI64::new(1_800_000_000_000));
    let clock_now = now_ms.clone();
    let clock: Clock = Arc::new(move || {
        UNIX_EPOCH + Duration::from_millis(clock_now.load(Ordering::SeqCst) as u64)
    });
    let config = Config::for_eventbridge("fn")
        .with_clock(clock)
        .with_cache(cache)
        .with_expiry(Duration::from_secs(60));
    Harness {
        idem: Idempotency::new(InMemoryStore::default(), config),
        now_ms,
        runs: AtomicUsize::new(0),
    }
}

impl Harness {
    async fn call(
        &self,
        ev: &serde_json::Value,
        out: u32,
    ) -> Result<u32, IdempotencyError<Infallible>> {
        self.idem
            .run(ev, None, || async {
                self.runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(out)
            })
            .await
    }
    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
    fn advance(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn completed_duplicate_replays_the_stored_result() {
    let h = harness(0);
    let ev = event("e1", "a");
    assert_eq!(h.call(&ev, 7).await.unwrap(), 7);
    assert_eq!(
        h.call(&ev, 8).await.unwrap(),
        7,
        "the first result, not a new one"
    );
    assert_eq!(h.runs(), 1);
    let rec = h.idem.store().record("fn#e1").unwrap();
    assert_eq!(rec.status, Status::Completed);
    assert_eq!(rec.data.as_deref(), Some("7"));
}

#[tokio::test]
async fn handler_error_releases_the_key() {
    let h = harness(0);
    let ev = event("e1", "a");
    let err = h
        .idem
        .run(&ev, None, || async { Err::<u32, _>("boom".to_owned()) })
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::Handler(ref m) if m == "boom"));
    assert!(h.idem.store().record("fn#e1").is_none());
    assert_eq!(h.call(&ev, 3).await.unwrap(), 3);
}

#[tokio::test]
async fn in_progress_blocks_until_its_deadline() {
    let h = harness(0);
    let ev = event("e1", "a");
    let now = h.now_ms.load(Ordering::SeqCst);
    h.idem.store().insert(Record {
        key: "fn#e1".into(),
        status: Status::InProgress,
        expiry: now / 1000 + 60,
        in_progress_expiry: Some(now + 5_000),
        data: None,
        payload_hash: Some(hash(&ev["detail"])),
    });
    let err = h.call(&ev, 1).await.unwrap_err();
    assert!(matches!(err, IdempotencyError::AlreadyInProgress { .. }));
    assert!(err.is_retryable());
    h.advance(5_001);
    assert_eq!(h.call(&ev, 1).await.unwrap(), 1);
    assert_eq!(h.runs(), 1);
}

#[tokio::test]
async fn expired_record_runs_again() {
    let h = harness(0);
    let ev = event("e1", "a");
    h.call(&ev, 1).await.unwrap();
    h.advance(61_000);
    assert_eq!(h.call(&ev, 2).await.unwrap(), 2);
    assert_eq!(h.runs(), 2);
}

#[tokio::test]
async fn payload_mismatch_is_a_permanent_error() {
    let h = harness(0);
    h.call(&event("e1", "a"), 1).await.unwrap();
    let err = h.call(&event("e1", "b"), 1).await.unwrap_err();
    assert!(matches!(err, IdempotencyError::PayloadMismatch { ref key } if key == "fn#e1"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn missing_key_names_the_pointer() {
    let h = harness(0);
    for ev in [
        json!({"detail": {}}),
        json!({"detail": {"metadata": {"eventId": null}}}),
        json!({"detail": {"metadata": {"eventId": ""}}}),
    ] {
        let err = h.call(&ev, 1).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "idempotency key `/detail/metadata/eventId` is missing or null in the event"
        );
    }
    assert_eq!(h.runs(), 0);
}

#[tokio::test]
async fn non_string_keys_are_hashed_and_prefixed() {
    let h = harness(0);
    let key = h
        .idem
        .key_of::<()>(&json!({"detail": {"metadata": {"eventId": {"a": 1}}}}))
        .unwrap();
    assert!(key.starts_with("fn#") && key.len() == 3 + 64, "{key}");
}

#[tokio::test]
async fn cache_answers_without_the_store_and_still_validates() {
    let h = harness(16);
    let ev = event("e1", "a");
    h.call(&ev, 5).await.unwrap();
    // Remove the record behind the cache's back: only the cache can answer now.
    h.idem.store().release("fn#e1").await.unwrap();
    assert_eq!(h.call(&ev, 6).await.unwrap(), 5);
    assert!(matches!(
        h.call(&event("e1", "b"), 6).await,
        Err(IdempotencyError::PayloadMismatch { .. })
    ));
    h.advance(61_000);
    assert_eq!(
        h.call(&ev, 6).await.unwrap(),
        6,
        "expired cache entries are not used"
    );
}

#[tokio::test]
async fn transactional_writes_once() {
    let h = harness(0);
    let ev = event("e1", "a");
    for i in 0..3 {
        let out: u32 = h
            .idem
            .run_transactional(&ev, || async move {
                Ok::<_, Infallible>((i, vec![InMemoryWrite::put("item", json!(i))]))
            })
            .await
            .unwrap();
        assert_eq!(out, 0, "duplicates replay the first result");
    }
    assert_eq!(h.idem.store().item("item"), Some(json!(0)));
}

#[tokio::test]
async fn transactional_handler_error_writes_nothing() {
    let h = harness(0);
    let ev = event("e1", "a");
    let err = h
        .idem
        .run_transactional::<u32, _, _, _>(&ev, || async { Err("no".to_owned()) })
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::Handler(_)));
    assert!(h.idem.store().record("fn#e1").is_none());
}

/// Real-clock idempotency over one store, for the waiting duplicate's tests.
fn real_clock() -> Arc<Idempotency<InMemoryStore>> {
    Arc::new(Idempotency::new(
        InMemoryStore::default(),
        Config::for_eventbridge("fn"),
    ))
}

fn in_5s() -> Option<SystemTime> {
    Some(SystemTime::now() + Duration::from_secs(5))
}

#[tokio::test]
async fn a_concurrent_duplicate_waits_for_the_claim_and_answers_its_result() {
    let idem = real_clock();
    let ev = event("e1", "a");
    let runs = Arc::new(AtomicUsize::new(0));
    let (i, e, r) = (idem.clone(), ev.clone(), runs.clone());
    let holder = tokio::spawn(async move {
        i.run(&e, in_5s(), || async {
            r.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(600)).await;
            Ok::<_, Infallible>(1u32)
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = runs.clone();
    let duplicate = idem
        .run(&ev, in_5s(), || async {
            r.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(2u32)
        })
        .await;
    assert_eq!(duplicate.unwrap(), 1, "the holder's result");
    assert_eq!(holder.await.unwrap().unwrap(), 1);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");
}

#[tokio::test]
async fn a_duplicate_takes_over_a_dead_claim_once_it_expires() {
    let idem = real_clock();
    let ev = event("e1", "a");
    let now = millis(SystemTime::now());
    // An invocation that claimed the key and died: its claim ends at its deadline.
    idem.store().insert(Record {
        key: "fn#e1".into(),
        status: Status::InProgress,
        expiry: now / 1000 + 60,
        in_progress_expiry: Some(now + 700),
        data: None,
        payload_hash: Some(hash(&ev["detail"])),
    });
    let out = idem
        .run(&ev, in_5s(), || async { Ok::<_, Infallible>(9u32) })
        .await;
    assert_eq!(out.unwrap(), 9);
    assert_eq!(
        idem.store().record("fn#e1").unwrap().status,
        Status::Completed
    );
}

#[tokio::test]
async fn a_duplicate_gives_up_on_a_live_claim_before_its_own_deadline() {
    let idem = real_clock();
    let ev = event("e1", "a");
    let now = millis(SystemTime::now());
    idem.store().insert(Record {
        key: "fn#e1".into(),
        status: Status::InProgress,
        expiry: now / 1000 + 60,
        in_progress_expiry: Some(now + 60_000),
        data: None,
        payload_hash: Some(hash(&ev["detail"])),
    });
    let started = std::time::Instant::now();
    let deadline = Duration::from_millis(1_600);
    let err = idem
        .run(&ev, Some(SystemTime::now() + deadline), || async {
            Ok::<_, Infallible>(9u32)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::AlreadyInProgress { .. }));
    assert!(err.is_retryable(), "Lambda's retry comes back later");
    assert!(
        started.elapsed() < deadline,
        "answered before the invocation's deadline"
    );
    // Without a deadline nothing is known of the time left: no wait either.
    let err = idem
        .run(&ev, None, || async { Ok::<_, Infallible>(9u32) })
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::AlreadyInProgress { .. }));
}

/// A store whose `complete` never answers (a table whose client keeps retrying).
struct HangingComplete(InMemoryStore);

impl Store for HangingComplete {
    type Write = InMemoryWrite;
    async fn claim(&self, record: &Record, now: EpochMillis) -> Result<Claim, StoreError> {
        self.0.claim(record, now).await
    }
    async fn complete(&self, _record: &Record) -> Result<(), StoreError> {
        std::future::pending().await
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.0.release(key).await
    }
    async fn write(&self, writes: Vec<InMemoryWrite>) -> Result<(), StoreError> {
        self.0.write(writes).await
    }
    async fn commit(
        &self,
        record: &Record,
        writes: Vec<InMemoryWrite>,
        now: EpochMillis,
    ) -> Result<Claim, StoreError> {
        self.0.commit(record, writes, now).await
    }
}

#[tokio::test]
async fn a_completion_that_never_answers_does_not_outlive_the_invocation() {
    let idem = Idempotency::new(
        HangingComplete(InMemoryStore::default()),
        Config::for_eventbridge("fn"),
    );
    let deadline = SystemTime::now() + Duration::from_secs(1);
    // Past its deadline the instance is killed and Lambda runs the effect again.
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        idem.run(&event("e1", "a"), Some(deadline), || async {
            Ok::<_, Infallible>(7)
        }),
    )
    .await
    .expect("run answered");
    assert_eq!(out.unwrap(), 7);
    assert!(SystemTime::now() < deadline, "answered before the deadline");
}

#[tokio::test]
async fn a_handler_error_keeps_its_own_retryability() {
    #[derive(Debug)]
    struct Failure {
        retry: bool,
    }
    impl Retryable for Failure {
        fn is_retryable(&self) -> bool {
            self.retry
        }
    }
    let h = harness(0);
    for retry in [true, false] {
        let err = h
            .idem
            .run(&event("e1", "a"), None, || async {
                Err::<u32, _>(Failure { retry })
            })
            .await
            .unwrap_err();
        assert!(matches!(err, IdempotencyError::Handler(_)));
        assert_eq!(err.is_retryable(), retry);
    }
}

#[tokio::test]
async fn in_memory_writes_honour_their_conditions_all_or_nothing() {
    let store = InMemoryStore::default();
    let new = |key: &str, v: serde_json::Value| InMemoryWrite::put(key, v).when(Condition::Absent);
    store
        .write(vec![new("a", json!({"status": "PLACED"}))])
        .await
        .unwrap();

    // The second write's condition fails: nothing lands, and its position is named.
    let err = store
        .write(vec![new("b", json!(1)), new("a", json!(2))])
        .await
        .unwrap_err();
    assert_eq!(err.conditions_failed, vec![1]);
    assert!(err.is_retryable(), "a retry re-reads and decides again");
    assert_eq!(
        err.message,
        "transaction canceled: [None, ConditionalCheckFailed]"
    );
    assert_eq!(store.item("b"), None);

    // Two writers move the same item from PLACED: the first wins, the second loses.
    let from_placed = |to: &str| {
        InMemoryWrite::put("a", json!({"status": to})).when(Condition::equals("/status", "PLACED"))
    };
    store.write(vec![from_placed("CANCELED")]).await.unwrap();
    let lost = store.write(vec![from_placed("SHIPPED")]).await.unwrap_err();
    assert_eq!(lost.conditions_failed, vec![0]);
    assert_eq!(store.item("a"), Some(json!({"status": "CANCELED"})));

    // With a record, the record is item 0 and the writes follow; null deletes.
    let record = Record {
        key: "fn#k".into(),
        status: Status::Completed,
        expiry: i64::MAX / 1000,
        in_progress_expiry: None,
        data: None,
        payload_hash: None,
    };
    let err = store
        .commit(&record, vec![from_placed("SHIPPED")], 0)
        .await
        .unwrap_err();
    assert_eq!(err.conditions_failed, vec![1]);
    assert!(
        store.record("fn#k").is_none(),
        "the record did not land either"
    );
    let delete = InMemoryWrite::put("a", serde_json::Value::Null).when(Condition::Any(vec![
        Condition::Absent,
        Condition::equals("/status", "CANCELED"),
    ]));
    assert_eq!(
        store.commit(&record, vec![delete], 0).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(store.item("a"), None);
    // A live record answers before any business condition, as in DynamoDB.
    let again = store
        .commit(&record, vec![new("x", json!(1))], 0)
        .await
        .unwrap();
    assert!(matches!(again, Claim::Exists(_)));
}
