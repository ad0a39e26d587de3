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
use notifications::{Clients, Deployed, Settings, message_key, recipient_hash};
use retryable::Retryable;
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
    app: Arc<Deployed>,
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
    let app = notifications::build_with(
        Clients {
            dynamodb: ddb.clone(),
            ses,
            sqs: sqs.clone(),
        },
        &settings,
    );
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
        let out = env.app.on_event(&ev, deadline()).await.unwrap();
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
    env.app.on_event(&ev, deadline()).await.unwrap();
    assert_eq!(
        env.ddb_requests.snapshot(),
        counts(&[("GetItem", 1), ("PutItem", 2), ("UpdateItem", 1)]),
        "claim, message check, message record, complete"
    );
    env.ddb_requests.reset();
    env.app.on_event(&ev, deadline()).await.unwrap();
    assert_eq!(env.ddb_requests.snapshot(), counts(&[("PutItem", 1)]));
}

#[tokio::test]
async fn ten_sequential_duplicates_send_one_email() {
    let env = env(true).await;
    let ev = event("OrderPlaced", Some(OrderId::new()));
    let first = env.app.on_event(&ev, deadline()).await.unwrap();
    for _ in 0..9 {
        assert_eq!(env.app.on_event(&ev, deadline()).await.unwrap(), first);
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
    // The sample is an annual member's order: 10 % off the subtotal, rounded down.
    assert!(text.contains("\nSubtotal: 114.99 EUR\n"), "{text}");
    assert!(
        text.contains("\nMember discount (annual plan, 10%): \u{2212}11.49 EUR\n"),
        "{text}"
    );
    assert!(text.contains("\nTotal: 103.50 EUR\n"), "{text}");
}

#[tokio::test]
async fn sixty_four_concurrent_duplicates_send_one_email() {
    let env = env(true).await;
    let ev = event("MembershipSignedUp", None);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (app, ev) = (env.app.clone(), ev.clone());
            tokio::spawn(async move { app.on_event(&ev, deadline()).await })
        })
        .collect();
    let mut retry = 0;
    for t in futures::future::join_all(tasks).await {
        match t.unwrap() {
            Ok(out) => assert_eq!(out["template"], "membership-signed-up"),
            Err(e) => {
                assert!(e.is_retryable(), "{e}");
                retry += 1;
            }
        }
    }
    assert!(retry < 64, "one invocation sent the email");
    // Lambda retries the ones that met the claim in progress: they are answered from it.
    for _ in 0..retry {
        env.app.on_event(&ev, deadline()).await.unwrap();
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
        .on_event(&event("FulfillmentCanceled", Some(stopped)), deadline())
        .await
        .unwrap();
    assert_eq!(out, json!({"outcome": "CANCELED"}));
    assert_eq!(env.send_emails(), 0, "an outcome sends no email");
    env.app
        .on_event(&event("OrderCanceled", Some(stopped)), deadline())
        .await
        .unwrap();

    let left = OrderId::new();
    env.app
        .on_event(&event("FulfillmentCancelRejected", Some(left)), deadline())
        .await
        .unwrap();
    env.app
        .on_event(&event("OrderCanceled", Some(left)), deadline())
        .await
        .unwrap();

    let late = OrderId::new();
    env.app
        .on_event(&event("OrderCanceled", Some(late)), deadline())
        .await
        .unwrap();
    env.app
        .on_event(&event("FulfillmentCanceled", Some(late)), deadline())
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
    // Each states the refund: the sample's total, as paid after the member discount.
    for text in &texts {
        assert!(
            text.contains("\nRefund: 103.50 EUR, the amount you paid.\n"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_malformed_event_goes_to_the_dead_letter_queue_with_its_reason() {
    let env = env(true).await;
    let ev = fixture("events/notifications/OrderPlaced-invalid-quantity.json");
    let out = env.app.on_event(&ev, deadline()).await.unwrap();
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
    let out = env.app.on_event(&ev, deadline()).await.unwrap();
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

/// What the fake SES answers to one request: status, `x-amzn-errortype` (the error
/// code of a REST-JSON service), JSON body.
type Answer = (u16, Option<&'static str>, Value);

/// A tiny HTTP/1.1 server standing in for SES v2: it answers the requests it gets with
/// the scripted answers, in order, and counts them. moto's SES accepts or refuses by
/// identity only; this one gives the exact codes and statuses SES gives.
struct FakeSes {
    url: String,
    answers: Arc<Mutex<std::collections::VecDeque<Answer>>>,
    requests: Arc<Mutex<u32>>,
}

impl FakeSes {
    async fn start() -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answers: Arc<Mutex<std::collections::VecDeque<Answer>>> = Arc::default();
        let requests = Arc::new(Mutex::new(0));
        let (script, count) = (answers.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (script, count) = (script.clone(), count.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = BufReader::new(read);
                    loop {
                        // Headers, then a body of content-length bytes.
                        let mut length = 0usize;
                        loop {
                            let mut line = String::new();
                            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let line = line.trim_end();
                            if line.is_empty() {
                                break;
                            }
                            if let Some((name, value)) = line.split_once(':')
                                && name.eq_ignore_ascii_case("content-length")
                            {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; length];
                        if read.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        *count.lock().unwrap() += 1;
                        let (status, code, body) = script.lock().unwrap().pop_front().unwrap_or((
                            200,
                            None,
                            json!({"MessageId": "fake-message"}),
                        ));
                        let text = body.to_string();
                        let code = code
                            .map(|c| format!("x-amzn-errortype: {c}\r\n"))
                            .unwrap_or_default();
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{code}content-length: {}\r\nx-amzn-requestid: {}\r\n\r\n",
                            text.len(),
                            uuid::Uuid::new_v4()
                        );
                        if write.write_all(head.as_bytes()).await.is_err()
                            || write.write_all(text.as_bytes()).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            url,
            answers,
            requests,
        }
    }

    fn answer(&self, answer: Answer) {
        self.answers.lock().unwrap().push_back(answer);
    }

    fn requests(&self) -> u32 {
        *self.requests.lock().unwrap()
    }
}

/// The app with moto's tables and queue and the fake SES. The SDK's own retries are off,
/// so that every SendEmail the fake counts is one the handler made.
async fn env_with_fake_ses(fake: &FakeSes) -> Env {
    let mut env = env(false).await;
    let sdk = sdk_config().await;
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&sdk)
            .endpoint_url(&fake.url)
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
            .build(),
    );
    let settings = Settings {
        idempotency_table: env.tables["IdempotencyTable"].clone(),
        notifications_table: env.tables["NotificationsTable"].clone(),
        dead_letter_queue_url: env.dlq.clone(),
        sender: "shop@eventmart.test".parse().unwrap(),
    };
    env.app = Arc::new(notifications::build_with(
        Clients {
            dynamodb: env.ddb.clone(),
            ses,
            sqs: env.sqs.clone(),
        },
        &settings,
    ));
    env
}

#[tokio::test]
async fn ses_message_rejected_is_dead_lettered_once_and_not_retried() {
    let fake = FakeSes::start().await;
    let env = env_with_fake_ses(&fake).await;
    fake.answer((
        400,
        Some("MessageRejected"),
        json!({"message": "Email address is not verified. The following identities failed the check in region US-EAST-1: ada@example.com"}),
    ));
    let ev = event("OrderPlaced", Some(OrderId::new()));
    // Ok: Lambda takes the invocation as done and does not retry it.
    let out = env.app.on_event(&ev, deadline()).await.unwrap();
    let reason = out["deadLettered"].as_str().expect("dead-lettered");
    assert!(reason.contains("email rejected"), "{reason}");
    assert!(reason.contains("MessageRejected"), "{reason}");
    assert!(reason.contains("<recipient>"), "{reason}");
    assert!(
        !reason.contains("ada@example.com"),
        "the address is redacted"
    );
    assert_eq!(fake.requests(), 1, "SES was asked once");
    let dead = drain_queue(&env.sqs, &env.dlq).await;
    assert_eq!(dead.len(), 1, "dead-lettered once");
    assert_eq!(dead[0]["function"], "notifications");
    assert_eq!(dead[0]["reason"], reason);
    assert_eq!(dead[0]["event"], ev);
    assert!(
        env.message(&event_id(&ev)).await.is_none(),
        "nothing recorded"
    );
}

#[tokio::test]
async fn ses_503_is_an_error_for_lambda_to_retry_and_the_retry_sends() {
    let fake = FakeSes::start().await;
    let env = env_with_fake_ses(&fake).await;
    // No error code: the status decides, and a 5xx is transient.
    fake.answer((503, None, json!({"message": "Service Unavailable"})));
    let ev = event("OrderShipped", Some(OrderId::new()));
    let err = env.app.on_event(&ev, deadline()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("email provider unavailable"),
        "{err}"
    );
    assert_eq!(fake.requests(), 1);
    assert!(
        drain_queue(&env.sqs, &env.dlq).await.is_empty(),
        "not dead-lettered"
    );
    assert!(env.message(&event_id(&ev)).await.is_none());

    // Lambda's retry: the claim was released, SES accepts, the email goes out once.
    let out = env.app.on_event(&ev, deadline()).await.unwrap();
    assert_eq!(out["sesMessageId"], "fake-message");
    assert_eq!(fake.requests(), 2);
    let item = env.message(&event_id(&ev)).await.expect("message record");
    assert_eq!(s(&item, "sesMessageId"), "fake-message");
    assert!(drain_queue(&env.sqs, &env.dlq).await.is_empty());
}
