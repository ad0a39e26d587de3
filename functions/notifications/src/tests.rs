//! Unit tests of the consumer over in-memory ports.

use crate::app::{App, FUNCTION};
use crate::domain::recipient_hash;
use crate::memory::{MemoryLog, MemoryMailer};
use crate::ports::{LogError, MailError};
use crate::templates::Rendered;
use dynamodb_idempotency::{Config, Idempotency, InMemoryStore};
use eventmart_shared::consumer::InMemoryDeadLetters;
use eventmart_shared::events::Email;
use retryable::Retryable;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

type TestApp = App<MemoryMailer, MemoryLog, InMemoryStore, InMemoryDeadLetters>;

fn notifier() -> TestApp {
    App::new(
        MemoryMailer::default(),
        MemoryLog::default(),
        Idempotency::new(InMemoryStore::default(), Config::for_eventbridge(FUNCTION)),
        InMemoryDeadLetters::default(),
    )
}

fn sample(name: &str) -> Value {
    eventmart_tests::sample_event(name)
}

fn deadline() -> Option<SystemTime> {
    Some(SystemTime::now() + Duration::from_secs(60))
}

fn sent(n: &TestApp) -> Vec<(Email, Rendered)> {
    n.mailer.sent.lock().unwrap().clone()
}

fn dead(n: &TestApp) -> Vec<Value> {
    n.dead_letters.messages.lock().unwrap().clone()
}

#[tokio::test]
async fn every_email_event_sends_one_email_and_records_it() {
    let n = notifier();
    for (name, template) in [
        ("OrderPlaced", "order-placed"),
        ("OrderCanceled", "order-canceled"),
        ("OrderShipped", "order-shipped"),
        ("MembershipSignedUp", "membership-signed-up"),
        ("MembershipCanceled", "membership-canceled"),
    ] {
        let ev = sample(name);
        let out = n.on_event(&ev, deadline()).await.unwrap();
        assert_eq!(out["template"], template, "{name}");
        let id: eventmart_shared::events::EventId = ev["detail"]["metadata"]["eventId"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let rec = n.log.messages.lock().unwrap()[&id].clone();
        assert_eq!(rec.template, template);
        assert_eq!(rec.ses_message_id, out["sesMessageId"].as_str().unwrap());
        assert_eq!(
            rec.recipient_hash,
            recipient_hash(&"ADA@example.com".parse().unwrap())
        );
    }
    let sent = sent(&n);
    assert_eq!(sent.len(), 5);
    assert!(sent.iter().all(|(to, _)| to.as_str() == "ada@example.com"));
    assert!(dead(&n).is_empty());
}

#[tokio::test]
async fn the_sample_emails_state_the_members_discount_and_the_refund() {
    let n = notifier();
    for name in ["OrderPlaced", "OrderCanceled", "MembershipSignedUp"] {
        n.on_event(&sample(name), deadline()).await.unwrap();
    }
    let sent = sent(&n);
    let lines = |i: usize| -> Vec<String> { sent[i].1.body.lines().map(String::from).collect() };
    let placed = lines(0);
    for line in [
        "Subtotal: 114.99 EUR",
        "Member discount (annual plan, 10%): \u{2212}11.49 EUR",
        "Total: 103.50 EUR",
    ] {
        assert!(placed.iter().any(|l| l == line), "{line}: {placed:?}");
    }
    let canceled = lines(1);
    assert!(
        canceled
            .iter()
            .any(|l| l == "Refund: 103.50 EUR, the amount you paid."),
        "{canceled:?}"
    );
    let welcome = lines(2);
    assert!(
        welcome
            .iter()
            .any(|l| l == "As an annual member you save 10% on every order."),
        "{welcome:?}"
    );
}

#[tokio::test]
async fn duplicates_send_nothing_more() {
    let n = notifier();
    let ev = sample("OrderPlaced");
    let first = n.on_event(&ev, deadline()).await.unwrap();
    for _ in 0..5 {
        assert_eq!(n.on_event(&ev, deadline()).await.unwrap(), first);
    }
    assert_eq!(sent(&n).len(), 1);
}

#[tokio::test]
async fn a_recorded_message_is_not_sent_again_after_its_claim_is_gone() {
    // Same event, fresh idempotency store: as after a claim expired.
    let n = notifier();
    let ev = sample("OrderShipped");
    n.on_event(&ev, deadline()).await.unwrap();
    let again = App::new(
        MemoryMailer::default(),
        MemoryLog {
            messages: std::sync::Mutex::new(std::mem::take(&mut *n.log.messages.lock().unwrap())),
            ..MemoryLog::default()
        },
        Idempotency::new(InMemoryStore::default(), Config::for_eventbridge(FUNCTION)),
        InMemoryDeadLetters::default(),
    );
    let out = again.on_event(&ev, deadline()).await.unwrap();
    assert_eq!(out["sesMessageId"], Value::Null);
    assert!(again.mailer.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn cancel_email_states_a_known_outcome_and_outcomes_send_no_email() {
    let n = notifier();
    let out = n
        .on_event(&sample("FulfillmentCancelRejected"), deadline())
        .await
        .unwrap();
    assert_eq!(out, json!({"outcome": "REJECTED"}));
    assert!(sent(&n).is_empty());
    n.on_event(&sample("OrderCanceled"), deadline())
        .await
        .unwrap();
    let sent = sent(&n);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .1
            .body
            .contains("Your parcel had already left the warehouse")
    );
}

#[tokio::test]
async fn an_outcome_after_the_cancel_email_sends_nothing() {
    let n = notifier();
    n.on_event(&sample("OrderCanceled"), deadline())
        .await
        .unwrap();
    n.on_event(&sample("FulfillmentCanceled"), deadline())
        .await
        .unwrap();
    let sent = sent(&n);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .1
            .body
            .contains("We are stopping your shipment now.")
    );
}

#[tokio::test]
async fn a_malformed_event_is_dead_lettered_with_its_reason() {
    let n = notifier();
    let mut ev = sample("OrderPlaced");
    ev["detail"]["data"]["email"] = json!("not-an-address");
    let out = n.on_event(&ev, deadline()).await.unwrap();
    assert!(
        out["deadLettered"]
            .as_str()
            .unwrap()
            .contains("detail.data.email")
    );
    let dead = dead(&n);
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .contains("detail.data.email")
    );
    assert!(sent(&n).is_empty());
}

#[tokio::test]
async fn a_rejected_email_is_dead_lettered_and_a_transient_failure_retried() {
    let n = notifier();
    *n.mailer.fail.lock().unwrap() = Some(MailError::Unavailable("throttled".into()));
    let ev = sample("MembershipSignedUp");
    let err = n.on_event(&ev, deadline()).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(dead(&n).is_empty());

    *n.mailer.fail.lock().unwrap() = Some(MailError::Rejected("not verified".into()));
    let out = n.on_event(&ev, deadline()).await.unwrap();
    assert!(
        out["deadLettered"]
            .as_str()
            .unwrap()
            .contains("not verified")
    );
    assert_eq!(dead(&n).len(), 1);

    // The failed attempts released their claim: once SES accepts, the email goes out.
    *n.mailer.fail.lock().unwrap() = None;
    n.on_event(&ev, deadline()).await.unwrap();
    assert_eq!(sent(&n).len(), 1);
}

#[tokio::test]
async fn a_failed_message_record_does_not_cause_a_second_email() {
    let n = notifier();
    *n.log.fail_record.lock().unwrap() = Some(LogError::Unavailable("timeout".into()));
    let ev = sample("OrderShipped");
    // Near its deadline the invocation does not wait for the table: it answers.
    let soon = Some(SystemTime::now() + Duration::from_millis(500));
    let out = n.on_event(&ev, soon).await.unwrap();
    assert_eq!(out["sesMessageId"], "msg-1");
    n.on_event(&ev, deadline()).await.unwrap();
    assert_eq!(sent(&n).len(), 1);
}

#[tokio::test]
async fn a_message_record_that_fails_for_a_while_is_written_once_the_table_is_back() {
    let n = notifier();
    *n.log.fail_record.lock().unwrap() = Some(LogError::Unavailable("503".into()));
    *n.log.fail_record_times.lock().unwrap() = 3;
    let ev = sample("OrderPlaced");
    let out = n.on_event(&ev, deadline()).await.unwrap();
    assert_eq!(sent(&n).len(), 1);
    let id: eventmart_shared::events::EventId = ev["detail"]["metadata"]["eventId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let rec = n.log.messages.lock().unwrap()[&id].clone();
    assert_eq!(rec.ses_message_id, out["sesMessageId"].as_str().unwrap());
}

#[tokio::test]
async fn a_record_write_that_never_answers_does_not_outlive_the_invocation() {
    let n = notifier();
    n.log
        .hang_record
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let ev = sample("OrderPlaced");
    let soon = SystemTime::now() + Duration::from_secs(2);
    // Answering after the deadline would mean being killed, and Lambda's retry would
    // send the email again.
    let out = tokio::time::timeout(Duration::from_secs(10), n.on_event(&ev, Some(soon)))
        .await
        .expect("the handler answered")
        .unwrap();
    assert!(SystemTime::now() < soon, "answered before the deadline");
    assert_eq!(out["sesMessageId"], "msg-1");
    assert_eq!(sent(&n).len(), 1);
    // ...and the second kept for it let the claim complete: a later copy of the event
    // is answered from the record instead of sending again.
    let key = n.idempotency.key_of::<()>(&ev).unwrap();
    let record = n
        .idempotency
        .store()
        .record(&key)
        .expect("the claim's record");
    assert_eq!(record.status, dynamodb_idempotency::Status::Completed);
    n.log
        .hang_record
        .store(false, std::sync::atomic::Ordering::Relaxed);
    n.on_event(&ev, deadline()).await.unwrap();
    assert_eq!(sent(&n).len(), 1);
}
