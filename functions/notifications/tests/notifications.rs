//! The notifications function against moto: DynamoDB tables of the template, SES v2 and
//! an SQS dead-letter queue.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use eventmart_shared::aws::RequestCounter;
use eventmart_shared::events::{EventId, OrderId};
use eventmart_tests::{
    create_queue, create_tables, drain_queue, dynamodb, fixture, sdk_config, sqs,
};
use notifications::{App, Settings, message_key, ports::recipient_hash};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Keeps the JSON body of every SendEmail request, to read the emails that went out.
#[derive(Debug, Clone, Default)]
struct SentBodies(Arc<Mutex<Vec<Value>>>);

impl Intercept for SentBodies {
    fn name(&self) -> &'static str {
        "SentBodies"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        if req.uri().ends_with("/v2/email/outbound-emails")
            && let Some(bytes) = req.body().bytes()
        {
            self.0.lock().unwrap().push(serde_json::from_slice(bytes)?);
        }
        Ok(())
    }
}

struct Env {
    app: Arc<App>,
    ddb: aws_sdk_dynamodb::Client,
    ddb_requests: RequestCounter,
    ses_requests: RequestCounter,
    sent: SentBodies,
    sqs: aws_sdk_sqs::Client,
    dlq: String,
    tables: HashMap<String, String>,
}

/// Fresh tables and queue, and a sender address of its own (moto's SES identities are
/// shared by every test on the server); `verified` creates the sender's identity.
async fn env(verified: bool) -> Env {
    let (ddb, ddb_requests) = dynamodb().await;
    let tables = create_tables(&ddb).await;
    let sqs = sqs().await;
    let dlq = create_queue(&sqs, "notifications-dlq").await;
    let sdk = sdk_config().await;
    let ses_requests = RequestCounter::default();
    let sent = SentBodies::default();
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&sdk)
            .interceptor(ses_requests.clone())
            .interceptor(sent.clone())
            .build(),
    );
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let sender = format!("shop@{}.eventmart.test", &unique[..12]);
    if verified {
        ses.create_email_identity()
            .email_identity(&sender)
            .send()
            .await
            .expect("create sender identity");
    }
    let settings = Settings {
        idempotency_table: tables["IdempotencyTable"].clone(),
        notifications_table: tables["NotificationsTable"].clone(),
        dead_letter_queue_url: dlq.clone(),
        sender: sender.parse().unwrap(),
    };
    let app = notifications::app(ddb.clone(), ses, sqs.clone(), &settings);
    ddb_requests.reset();
    ses_requests.reset();
    Env {
        app: Arc::new(app),
        ddb,
        ddb_requests,
        ses_requests,
        sent,
        sqs,
        dlq,
        tables,
    }
}

/// A sample event with a fresh event id (and the given order id, for order events).
fn event(name: &str, order: Option<OrderId>) -> Value {
    let mut ev = fixture(&format!("events/eventbridge/{name}.json"));
    ev["detail"]["metadata"]["eventId"] = json!(EventId::new().to_string());
    if let Some(order) = order {
        ev["detail"]["data"]["orderId"] = json!(order.to_string());
    }
    ev
}

fn event_id(ev: &Value) -> EventId {
    ev["detail"]["metadata"]["eventId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn deadline() -> Option<SystemTime> {
    Some(SystemTime::now() + Duration::from_secs(60))
}

impl Env {
    fn send_emails(&self) -> u64 {
        self.ses_requests
            .snapshot()
            .get("SendEmail")
            .copied()
            .unwrap_or(0)
    }

    async fn message(&self, id: &EventId) -> Option<HashMap<String, AttributeValue>> {
        self.ddb
            .get_item()
            .table_name(&self.tables["NotificationsTable"])
            .key("pk", AttributeValue::S(message_key(id)))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    /// Every MESSAGE# item in the table.
    async fn messages(&self) -> usize {
        let items = self
            .ddb
            .scan()
            .table_name(&self.tables["NotificationsTable"])
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default();
        items
            .iter()
            .filter(|i| i["pk"].as_s().unwrap().starts_with("MESSAGE#"))
            .count()
    }

    fn bodies(&self) -> Vec<Value> {
        self.sent.0.lock().unwrap().clone()
    }
}

fn s(item: &HashMap<String, AttributeValue>, a: &str) -> String {
    item[a].as_s().unwrap().clone()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn every_email_event_sends_one_email_and_records_one_message() {
    let env = env(true).await;
    let names = [
        ("OrderPlaced", "order-placed", "is confirmed"),
        ("OrderCanceled", "order-canceled", "is canceled"),
        ("OrderShipped", "order-shipped", "is on its way"),
        (
            "MembershipSignedUp",
            "membership-signed-up",
            "annual membership",
        ),
        (
            "MembershipCanceled",
            "membership-canceled",
            "sorry to see you go",
        ),
    ];
    for (i, (name, template, subject)) in names.iter().enumerate() {
        let order = (!name.starts_with("Membership")).then(OrderId::new);
        let ev = event(name, order);
        let out = env.app.handle(&ev, deadline()).await.unwrap();
        assert_eq!(out["template"], *template);
        assert_eq!(env.send_emails(), i as u64 + 1, "{name}");

        let item = env.message(&event_id(&ev)).await.expect("message record");
        assert_eq!(s(&item, "eventId"), event_id(&ev).to_string());
        assert_eq!(s(&item, "template"), *template);
        assert_eq!(
            s(&item, "recipientHash"),
            recipient_hash(&"ada@example.com".parse().unwrap())
        );
        assert_eq!(
            s(&item, "sesMessageId"),
            out["sesMessageId"].as_str().unwrap()
        );
        assert_eq!(
            s(&item, "correlationId"),
            ev["detail"]["metadata"]["correlationId"].as_str().unwrap()
        );
        assert!(s(&item, "sentAt").ends_with('Z'));
        assert!(
            !item
                .values()
                .any(|v| v.as_s().is_ok_and(|v| v.contains("ada@"))),
            "no address stored"
        );

        let body = env.bodies().last().cloned().unwrap();
        assert_eq!(
            body["Destination"]["ToAddresses"],
            json!(["ada@example.com"])
        );
        let subject_sent = body["Content"]["Simple"]["Subject"]["Data"]
            .as_str()
            .unwrap();
        assert!(subject_sent.contains(subject), "{subject_sent}");
    }
    assert_eq!(env.messages().await, 5);
    assert!(drain_queue(&env.sqs, &env.dlq).await.is_empty());
}

#[tokio::test]
async fn a_new_event_costs_four_dynamodb_requests_and_a_duplicate_one() {
    let env = env(true).await;
    let ev = event("OrderShipped", Some(OrderId::new()));
    env.app.handle(&ev, deadline()).await.unwrap();
    assert_eq!(
        env.ddb_requests.snapshot(),
        counts(&[("GetItem", 1), ("PutItem", 2), ("UpdateItem", 1)]),
        "claim, message check, message record, complete"
    );
    env.ddb_requests.reset();
    env.app.handle(&ev, deadline()).await.unwrap();
    assert_eq!(env.ddb_requests.snapshot(), counts(&[("PutItem", 1)]));
}

#[tokio::test]
async fn ten_sequential_duplicates_send_one_email() {
    let env = env(true).await;
    let ev = event("OrderPlaced", Some(OrderId::new()));
    let first = env.app.handle(&ev, deadline()).await.unwrap();
    for _ in 0..9 {
        assert_eq!(env.app.handle(&ev, deadline()).await.unwrap(), first);
    }
    assert_eq!(env.send_emails(), 1);
    assert_eq!(env.messages().await, 1);
    let body = &env.bodies()[0];
    let text = body["Content"]["Simple"]["Body"]["Text"]["Data"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("2 x SOCK-3PK at 12.50 EUR = 25.00 EUR"),
        "{text}"
    );
    assert!(text.contains("Total: 114.99 EUR"), "{text}");
}

#[tokio::test]
async fn sixty_four_concurrent_duplicates_send_one_email() {
    let env = env(true).await;
    let ev = event("MembershipSignedUp", None);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (app, ev) = (env.app.clone(), ev.clone());
            tokio::spawn(async move { app.handle(&ev, deadline()).await })
        })
        .collect();
    let mut retry = 0;
    for t in futures::future::join_all(tasks).await {
        match t.unwrap() {
            Ok(out) => assert_eq!(out["template"], "membership-signed-up"),
            Err(e) => {
                assert!(e.retryable, "{e}");
                retry += 1;
            }
        }
    }
    assert!(retry < 64, "one invocation sent the email");
    // Lambda retries the ones that met the claim in progress: they are answered from it.
    for _ in 0..retry {
        env.app.handle(&ev, deadline()).await.unwrap();
    }
    assert_eq!(env.send_emails(), 1, "exactly one SendEmail");
    assert_eq!(env.messages().await, 1);
    assert!(drain_queue(&env.sqs, &env.dlq).await.is_empty());
}

#[tokio::test]
async fn cancel_after_an_outcome_states_it_and_a_late_outcome_sends_nothing() {
    let env = env(true).await;
    let stopped = OrderId::new();
    let out = env
        .app
        .handle(&event("FulfillmentCanceled", Some(stopped)), deadline())
        .await
        .unwrap();
    assert_eq!(out, json!({"outcome": "CANCELED"}));
    assert_eq!(env.send_emails(), 0, "an outcome sends no email");
    env.app
        .handle(&event("OrderCanceled", Some(stopped)), deadline())
        .await
        .unwrap();

    let left = OrderId::new();
    env.app
        .handle(&event("FulfillmentCancelRejected", Some(left)), deadline())
        .await
        .unwrap();
    env.app
        .handle(&event("OrderCanceled", Some(left)), deadline())
        .await
        .unwrap();

    let late = OrderId::new();
    env.app
        .handle(&event("OrderCanceled", Some(late)), deadline())
        .await
        .unwrap();
    env.app
        .handle(&event("FulfillmentCanceled", Some(late)), deadline())
        .await
        .unwrap();

    assert_eq!(env.send_emails(), 3);
    let texts: Vec<String> = env
        .bodies()
        .iter()
        .map(|b| {
            b["Content"]["Simple"]["Body"]["Text"]["Data"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(texts[0].contains(&stopped.to_string()));
    assert!(
        texts[0].contains("Your shipment was stopped"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("Your parcel had already left the warehouse"),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("please return it"));
    assert!(
        texts[2].contains("We are stopping your shipment now."),
        "{}",
        texts[2]
    );
}

#[tokio::test]
async fn a_malformed_event_goes_to_the_dead_letter_queue_with_its_reason() {
    let env = env(true).await;
    let ev = fixture("events/notifications/OrderPlaced-invalid-quantity.json");
    let out = env.app.handle(&ev, deadline()).await.unwrap();
    assert!(out["deadLettered"].is_string());
    let dead = drain_queue(&env.sqs, &env.dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["function"], "notifications");
    assert_eq!(dead[0]["event"], ev);
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(reason.contains("detail.data.items[1].quantity"), "{reason}");
    assert_eq!(env.send_emails(), 0);
    assert_eq!(env.messages().await, 0);
}

#[tokio::test]
async fn an_unverified_sender_is_a_permanent_failure_and_goes_to_the_dead_letter_queue() {
    let env = env(false).await;
    let ev = event("OrderShipped", Some(OrderId::new()));
    let out = env.app.handle(&ev, deadline()).await.unwrap();
    let reason = out["deadLettered"].as_str().expect("dead-lettered");
    assert!(reason.contains("email rejected"), "{reason}");
    assert!(reason.contains("not verified"), "{reason}");
    assert_eq!(env.send_emails(), 1, "SES was asked once and refused");
    let dead = drain_queue(&env.sqs, &env.dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["reason"], reason);
    assert!(
        env.message(&event_id(&ev)).await.is_none(),
        "nothing sent, nothing recorded"
    );
    // The claim was released: the event can be redriven once the sender is verified.
    let claim = env
        .ddb
        .get_item()
        .table_name(&env.tables["IdempotencyTable"])
        .key(
            "id",
            AttributeValue::S(format!("notifications#{}", event_id(&ev))),
        )
        .send()
        .await
        .unwrap()
        .item;
    assert!(claim.is_none());
}
