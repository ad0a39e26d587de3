//! The idempotency library against a real DynamoDB-compatible server (moto).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use dynamodb_idempotency::{
    Clock, Config, DynamoStore, Idempotency, IdempotencyError, Status, attr,
};
use eventmart_tests::{create_tables, dynamodb};
use retryable::Retryable;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Env {
    idem: Arc<Idempotency<DynamoStore>>,
    client: aws_sdk_dynamodb::Client,
    counter: eventmart_shared::aws::RequestCounter,
    tables: std::collections::HashMap<String, String>,
    now_ms: Arc<AtomicI64>,
}

/// A fresh set of tables and a library whose clock the test moves.
async fn env() -> Env {
    let (client, counter) = dynamodb().await;
    let tables = create_tables(&client).await;
    let now_ms = Arc::new(AtomicI64::new(dynamodb_idempotency::millis(
        SystemTime::now(),
    )));
    let at = now_ms.clone();
    let clock: Clock =
        Arc::new(move || UNIX_EPOCH + Duration::from_millis(at.load(Ordering::SeqCst) as u64));
    let store = DynamoStore::new(client.clone(), &tables["IdempotencyTable"]);
    let config = Config::for_eventbridge("consumer")
        .with_clock(clock)
        .with_expiry(Duration::from_secs(3600));
    counter.reset();
    Env {
        idem: Arc::new(Idempotency::new(store, config)),
        client,
        counter,
        tables,
        now_ms,
    }
}

fn event(payload: &str) -> Value {
    let id = eventmart_shared::events::EventId::new().to_string();
    json!({"detail": {"metadata": {"eventId": id}, "data": {"sku": payload}}})
}

fn key(ev: &Value) -> String {
    format!(
        "consumer#{}",
        ev["detail"]["metadata"]["eventId"].as_str().unwrap()
    )
}

impl Env {
    async fn run(
        &self,
        ev: &Value,
        runs: &AtomicUsize,
        out: u64,
    ) -> Result<u64, IdempotencyError<Infallible>> {
        self.idem
            .run(ev, None, || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(out)
            })
            .await
    }

    fn requests(&self) -> BTreeMap<String, u64> {
        let snap = self.counter.snapshot();
        self.counter.reset();
        snap
    }

    async fn record(
        &self,
        ev: &Value,
    ) -> Option<std::collections::HashMap<String, AttributeValue>> {
        self.client
            .get_item()
            .table_name(&self.tables["IdempotencyTable"])
            .key(attr::KEY, AttributeValue::S(key(ev)))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    fn advance(&self, d: Duration) {
        self.now_ms
            .fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn first_run_executes_and_a_duplicate_replays_with_one_request() {
    let env = env().await;
    let runs = AtomicUsize::new(0);
    let ev = event("SHOE-1");

    assert_eq!(env.run(&ev, &runs, 41).await.unwrap(), 41);
    assert_eq!(
        env.requests(),
        counts(&[("PutItem", 1), ("UpdateItem", 1)]),
        "new event: claim, then complete"
    );

    assert_eq!(
        env.run(&ev, &runs, 99).await.unwrap(),
        41,
        "duplicate gets the stored result"
    );
    assert_eq!(
        env.requests(),
        counts(&[("PutItem", 1)]),
        "duplicate: the failed claim returns the record"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let item = env.record(&ev).await.unwrap();
    assert_eq!(
        item[attr::STATUS].as_s().unwrap(),
        Status::Completed.as_str()
    );
    assert_eq!(item[attr::DATA].as_s().unwrap(), "41");
    assert!(!item.contains_key(attr::IN_PROGRESS_EXPIRY));
}

#[tokio::test]
async fn sixty_four_concurrent_duplicates_run_the_handler_once() {
    let env = env().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let ev = event("SHOE-2");
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (idem, runs, ev) = (env.idem.clone(), runs.clone(), ev.clone());
            tokio::spawn(async move {
                idem.run(&ev, None, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, Infallible>(i)
                })
                .await
            })
        })
        .collect();
    let mut ok = vec![];
    let mut in_progress = 0;
    for t in futures::future::join_all(tasks).await {
        match t.unwrap() {
            Ok(v) => ok.push(v),
            Err(IdempotencyError::AlreadyInProgress { .. }) => in_progress += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "exactly one execution");
    assert_eq!(ok.len() + in_progress, 64);
    assert!(!ok.is_empty());
    assert!(
        ok.windows(2).all(|w| w[0] == w[1]),
        "every success carries the one result: {ok:?}"
    );
}

#[tokio::test]
async fn handler_error_deletes_the_record_so_the_retry_runs() {
    let env = env().await;
    let runs = AtomicUsize::new(0);
    let ev = event("SHOE-3");
    let err = env
        .idem
        .run(&ev, None, || async {
            Err::<u64, _>("downstream timeout".to_owned())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::Handler(ref m) if m == "downstream timeout"));
    assert!(env.record(&ev).await.is_none(), "record released");
    assert_eq!(env.run(&ev, &runs, 7).await.unwrap(), 7);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn expired_record_executes_again() {
    let env = env().await;
    let runs = AtomicUsize::new(0);
    let ev = event("SHOE-4");
    env.run(&ev, &runs, 1).await.unwrap();
    env.advance(Duration::from_secs(3599));
    assert_eq!(env.run(&ev, &runs, 2).await.unwrap(), 1, "still live");
    env.advance(Duration::from_secs(2));
    assert_eq!(
        env.run(&ev, &runs, 2).await.unwrap(),
        2,
        "expired: runs again"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn in_progress_past_its_deadline_executes_again() {
    let env = env().await;
    let runs = AtomicUsize::new(0);
    let ev = event("SHOE-5");
    let now = UNIX_EPOCH + Duration::from_millis(env.now_ms.load(Ordering::SeqCst) as u64);
    let deadline = now + Duration::from_secs(3);

    // An invocation that dies mid-handler: its future is dropped after the claim.
    let died = tokio::time::timeout(
        Duration::from_millis(300),
        env.idem.run(
            &ev,
            Some(deadline),
            std::future::pending::<Result<u64, String>>,
        ),
    )
    .await;
    assert!(died.is_err(), "the first invocation never finished");
    let item = env.record(&ev).await.unwrap();
    assert_eq!(item[attr::STATUS].as_s().unwrap(), "INPROGRESS");

    let err = env.run(&ev, &runs, 5).await.unwrap_err();
    assert!(
        matches!(err, IdempotencyError::AlreadyInProgress { .. }),
        "{err}"
    );
    env.advance(Duration::from_secs(4));
    assert_eq!(
        env.run(&ev, &runs, 5).await.unwrap(),
        5,
        "past the deadline the retry takes over"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn same_key_with_another_payload_is_an_error_also_from_the_returned_record() {
    let env = env().await;
    let runs = AtomicUsize::new(0);
    let ev = event("SHOE-6");
    env.run(&ev, &runs, 1).await.unwrap();
    let mut other = ev.clone();
    other["detail"]["data"]["sku"] = json!("SHOE-7");
    env.requests();
    let err = env.run(&other, &runs, 1).await.unwrap_err();
    assert!(
        matches!(err, IdempotencyError::PayloadMismatch { .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        env.requests(),
        counts(&[("PutItem", 1)]),
        "detected on the ALL_OLD path"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn missing_key_is_a_clear_permanent_error_with_no_request() {
    let env = env().await;
    let runs = AtomicUsize::new(0);
    let err = env
        .run(&json!({"detail": {"data": {}}}), &runs, 1)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "idempotency key `/detail/metadata/eventId` is missing or null in the event"
    );
    assert!(env.requests().is_empty());
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

/// The business write of the transactional tests: add one to a counter item.
fn increment(table: &str, item: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", AttributeValue::S(item.to_owned()))
                .update_expression("ADD #n :one")
                .expression_attribute_names("#n", "n")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .build()
                .unwrap(),
        )
        .build()
}

async fn counter_value(env: &Env, item: &str) -> Option<String> {
    let out = env
        .client
        .get_item()
        .table_name(&env.tables["FulfillmentTable"])
        .key("pk", AttributeValue::S(item.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item.map(|i| i["n"].as_n().unwrap().to_owned())
}

#[tokio::test]
async fn transactional_mode_writes_once_in_one_request_per_event() {
    let env = env().await;
    let table = env.tables["FulfillmentTable"].clone();
    let ev = event("SHOE-8");
    let call = |out: u64| {
        let table = table.clone();
        env.idem.run_transactional(&ev, move || async move {
            Ok::<_, Infallible>((out, vec![increment(&table, "counter-8")]))
        })
    };
    assert_eq!(call(10).await.unwrap(), 10);
    assert_eq!(
        env.requests(),
        counts(&[("TransactWriteItems", 1)]),
        "new event: one transaction"
    );
    assert_eq!(
        call(11).await.unwrap(),
        10,
        "duplicate replays the committed result"
    );
    assert_eq!(
        env.requests(),
        counts(&[("TransactWriteItems", 1)]),
        "duplicate: one request"
    );
    assert_eq!(counter_value(&env, "counter-8").await.as_deref(), Some("1"));
}

#[tokio::test]
async fn transactional_mode_under_sixty_four_concurrent_duplicates_writes_once() {
    let env = env().await;
    let table = env.tables["FulfillmentTable"].clone();
    let ev = event("SHOE-9");
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let (idem, ev, table) = (env.idem.clone(), ev.clone(), table.clone());
            tokio::spawn(async move {
                idem.run_transactional(&ev, move || async move {
                    Ok::<_, Infallible>((i, vec![increment(&table, "counter-9")]))
                })
                .await
            })
        })
        .collect();
    let mut results = vec![];
    for t in futures::future::join_all(tasks).await {
        match t.unwrap() {
            Ok(v) => results.push(v),
            // Two transactions on one item at once: DynamoDB may cancel one as a
            // conflict, which is retryable and wrote nothing.
            Err(IdempotencyError::Store(e)) if e.is_retryable() => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert!(!results.is_empty());
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "one committed result: {results:?}"
    );
    assert_eq!(
        counter_value(&env, "counter-9").await.as_deref(),
        Some("1"),
        "exactly one effect"
    );
}

#[tokio::test]
async fn transactional_handler_error_commits_nothing() {
    let env = env().await;
    let ev = event("SHOE-10");
    let err = env
        .idem
        .run_transactional::<u64, _, _, _>(&ev, || async { Err("invalid state".to_owned()) })
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::Handler(_)));
    assert!(env.requests().is_empty());
    assert!(env.record(&ev).await.is_none());
}
