//! What the HTTP producers (orders, memberships) share: the resource an API serves and
//! its answers (404, 503, 201 with `Location`), the cancel body, the refusals a command
//! can meet, committing a command's writes with or without an `Idempotency-Key`, and the
//! error of a repository read.

use crate::events::{CustomerId, Reason};
use crate::http::{
    Fields, Matched, Problem, StoredResponse, idempotency_event, idempotency_problem,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as SdkResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use dynamodb_idempotency::{Idempotency, IdempotencyError, Store, StoreError};
use lambda_http::{Body, Response};
use retryable::Retryable;
use serde_json::Value;
use std::fmt::Display;
use std::future::Future;
use std::str::FromStr;

/// The one kind of resource a producer's API serves, named once for its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// What the API calls one of them in its answers: `order`.
    pub name: &'static str,
    /// The collection's path, prefix of a new resource's `Location`: `/orders`.
    pub collection: &'static str,
    /// The id's field in the body, which is also its path parameter: `orderId`.
    pub id_field: &'static str,
}

impl Resource {
    /// The id in the matched path; a malformed one is answered as an unknown one (404).
    pub fn id<I: FromStr, T>(&self, matched: &Matched<T>) -> Result<I, Problem> {
        matched.id(self.id_field, self.name)
    }

    /// 404 for an id that names nothing, with the same text as a malformed id's.
    pub fn not_found(&self, id: impl Display) -> Problem {
        Problem::not_found(format!("{} {id} does not exist", self.name))
    }

    /// 503 for a failed read, which says nothing about the request.
    pub fn read_failed(&self, e: &RepoError) -> Problem {
        tracing::error!(resource = self.name, error = %e, "could not read");
        Problem::unavailable(format!("the {} could not be read; retry later", self.name))
    }

    /// 503 for a failed commit that is not a lost race.
    pub fn write_failed(&self, e: &StoreError) -> Problem {
        tracing::error!(resource = self.name, error = %e, "could not write");
        Problem::unavailable(format!("the {} could not be saved; retry later", self.name))
    }

    /// The answer to a command, first or replayed: a 201 carries the new resource's
    /// address.
    pub fn respond(&self, answer: Result<StoredResponse, Problem>) -> Response<Body> {
        match answer {
            Ok(stored) => stored.into_created_response(self.collection, self.id_field),
            Err(problem) => problem.into_response(),
        }
    }
}

/// The body fields that once named the customer. The customer is the signed-in caller
/// (the token's `sub`, its verified `email`): a body that still sends either is refused,
/// naming the field, rather than silently ignored.
pub const CALLER_FIELDS: [&str; 2] = ["customerId", "email"];

/// What a body that sends one of [`CALLER_FIELDS`] is told.
pub const CALLER_FIELD_MESSAGE: &str = "is not accepted: the customer is the signed-in caller (the token's sub and verified email), not a field of the body";

/// Refuses [`CALLER_FIELDS`] in a create body.
pub fn refuse_caller_fields(f: &mut Fields<'_>) {
    for name in CALLER_FIELDS {
        f.refused(name, CALLER_FIELD_MESSAGE);
    }
}

/// The body of `POST /<collection>/{id}/cancel`: `{"reason": ...}`.
pub fn parse_cancel(body: &Value) -> Result<Reason, Problem> {
    let mut f = Fields::new(body);
    let reason = f.required::<Reason>("reason");
    f.finish()?;
    reason.ok_or_else(|| Problem::invalid(vec![]))
}

/// A request that could not be answered (a read failed): its problem is returned, never
/// stored as the idempotent response.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.detail)]
pub struct Rejected(pub Problem);

impl From<Problem> for Rejected {
    fn from(p: Problem) -> Self {
        Rejected(p)
    }
}

/// The response and writes one request computes, committed with or without a record.
pub type Outcome<W> = (StoredResponse, Vec<W>);

/// Runs `attempt` and commits its writes: with the idempotency record (in one
/// transaction) when the request has a key, else alone. `attempt` may read, never write:
/// under a key whose record exists, its writes are dropped and the record answers. The
/// record is `caller`'s own ([`idempotency_event`]): another caller's same key is another
/// request.
///
/// An attempt that is `Rejected` writes nothing at all, no record either: that is how a
/// refusal that must leave no trace (a resource of another customer, answered as an
/// unknown one) is returned.
///
/// The outer `Err` is the request's answer as it is (a rejected attempt, a key reused
/// with another body or still in progress). The inner `Err` is a failed transaction,
/// for the caller to tell a lost race (a failed condition) from an outage.
pub async fn commit<S, F, Fut>(
    http: &Idempotency<S>,
    caller: &CustomerId,
    key: Option<String>,
    route: &str,
    body: &Value,
    attempt: F,
) -> Result<Result<StoredResponse, StoreError>, Problem>
where
    S: Store,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Outcome<S::Write>, Rejected>>,
{
    match key {
        None => {
            let (stored, writes) = attempt().await.map_err(|r| r.0)?;
            Ok(http.store().write(writes).await.map(|()| stored))
        }
        Some(key) => {
            let event = idempotency_event(caller, &key, route, body);
            match http.run_transactional(&event, attempt).await {
                Ok(stored) => Ok(Ok(stored)),
                Err(IdempotencyError::Store(e)) => Ok(Err(e)),
                Err(e) => Err(idempotency_problem(e, |r| r.0)),
            }
        }
    }
}

/// A read of a producer's table failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// No answer, throttling or a fault of the service: the same read can succeed later.
    #[error("{table} table: {message}")]
    Unavailable {
        table: &'static str,
        message: String,
    },
    /// The read was refused or could not be built (a missing table, credentials the
    /// service does not recognise, a malformed request): it fails the same way again.
    #[error("{table} table: {message}")]
    Refused {
        table: &'static str,
        message: String,
    },
    /// A stored item that is not what the table holds: a retry reads the same bytes.
    #[error("stored item `{key}` is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
}

impl RepoError {
    /// A failure of the AWS SDK, classified by [`retryable::sdk::is_retryable`].
    pub fn sdk<E>(table: &'static str, e: &SdkError<E, SdkResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let message = retryable::sdk::describe(e);
        if retryable::sdk::is_retryable(e) {
            RepoError::Unavailable { table, message }
        } else {
            RepoError::Refused { table, message }
        }
    }

    /// The item under `key` does not deserialize.
    pub fn corrupt(key: impl Into<String>, reason: impl Display) -> Self {
        RepoError::Corrupt {
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}

impl Retryable for RepoError {
    fn is_retryable(&self) -> bool {
        matches!(self, RepoError::Unavailable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    #[derive(Debug)]
    struct ServiceErr(ErrorMetadata);

    impl Display for ServiceErr {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}", self.0.code().unwrap_or("?"))
        }
    }
    impl std::error::Error for ServiceErr {}
    impl ProvideErrorMetadata for ServiceErr {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn service_error(code: &str, status: u16) -> SdkError<ServiceErr, SdkResponse> {
        let raw = SdkResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        let meta = ErrorMetadata::builder().code(code).build();
        SdkError::service_error(ServiceErr(meta), raw)
    }

    #[test]
    fn repository_errors_take_the_sdk_classification() {
        // The producers' own list of permanent codes retried these two.
        let unrecognized =
            RepoError::sdk("orders", &service_error("UnrecognizedClientException", 400));
        assert!(matches!(unrecognized, RepoError::Refused { .. }));
        assert!(!unrecognized.is_retryable());
        let unbuilt: SdkError<ServiceErr, SdkResponse> =
            SdkError::construction_failure("the request could not be built");
        assert!(!RepoError::sdk("orders", &unbuilt).is_retryable());

        let throttled = RepoError::sdk("orders", &service_error("ThrottlingException", 400));
        assert!(throttled.is_retryable());
        assert!(throttled.to_string().starts_with("orders table: "));
        let timeout: SdkError<ServiceErr, SdkResponse> = SdkError::timeout_error("too slow");
        assert!(RepoError::sdk("orders", &timeout).is_retryable());
        assert!(!RepoError::corrupt("ORDER#1", "not an order").is_retryable());
    }

    #[test]
    fn a_resource_answers_in_its_own_name() {
        const ORDER: Resource = Resource {
            name: "order",
            collection: "/orders",
            id_field: "orderId",
        };
        assert_eq!(ORDER.not_found("x").detail, "order x does not exist");
        assert_eq!(ORDER.not_found("x").status, 404);
        let p = ORDER.write_failed(&StoreError::transient("down"));
        assert_eq!(
            (p.status, p.detail.as_str()),
            (503, "the order could not be saved; retry later")
        );
        let stored = StoredResponse::new(
            lambda_http::http::StatusCode::CREATED,
            &serde_json::json!({"orderId": "o-1"}),
        );
        let resp = ORDER.respond(Ok(stored));
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["location"], "/orders/o-1");
        assert_eq!(ORDER.respond(Err(ORDER.not_found("y"))).status(), 404);
    }

    #[tokio::test]
    async fn commit_writes_alone_or_with_the_record_and_replays_under_a_key() {
        use dynamodb_idempotency::{InMemoryStore, InMemoryWrite};
        use std::sync::Arc;
        let store = Arc::new(InMemoryStore::default());
        let http = Idempotency::new(store.clone(), crate::http::idempotency_config("test"));
        let body = serde_json::json!({"n": 1});
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let attempt = || async {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let write = InMemoryWrite::put("ITEM#1", serde_json::json!(1));
            let ok = StoredResponse::new(lambda_http::http::StatusCode::OK, &body);
            Ok::<_, Rejected>((ok, vec![write]))
        };
        let ada: CustomerId = "ada".parse().unwrap();
        let alone = commit(&http, &ada, None, "POST /x", &body, attempt).await;
        assert_eq!(alone.unwrap().unwrap().status, 200);
        let keyed = commit(&http, &ada, Some("k".into()), "POST /x", &body, attempt).await;
        let replayed = commit(&http, &ada, Some("k".into()), "POST /x", &body, attempt).await;
        assert_eq!(keyed.unwrap().unwrap(), replayed.unwrap().unwrap());
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
        // Once alone, once with the record; the replay commits nothing.
        let items = store.committed().into_iter().filter(|w| w.key == "ITEM#1");
        assert_eq!(items.count(), 2);

        let other = serde_json::json!({});
        let reused = commit(&http, &ada, Some("k".into()), "POST /x", &other, attempt).await;
        assert_eq!(reused.unwrap_err().status, 422);
        let refused = commit(&http, &ada, None, "POST /x", &body, || async {
            Err::<Outcome<InMemoryWrite>, _>(Rejected(Problem::unavailable("read failed")))
        });
        assert_eq!(refused.await.unwrap_err().status, 503);
    }

    #[tokio::test]
    async fn a_key_is_the_callers_own_and_a_rejected_attempt_leaves_no_record() {
        use dynamodb_idempotency::{InMemoryStore, InMemoryWrite};
        use std::sync::Arc;
        let store = Arc::new(InMemoryStore::default());
        let http = Idempotency::new(store.clone(), crate::http::idempotency_config("test"));
        let ada: CustomerId = "ada".parse().unwrap();
        let bob: CustomerId = "bob".parse().unwrap();
        // Each attempt answers who made it, and writes an item of its own.
        let attempt = |who: &'static str| {
            move || async move {
                let write = InMemoryWrite::put(format!("ITEM#{who}"), serde_json::json!(who));
                let ok = StoredResponse::new(lambda_http::http::StatusCode::CREATED, &who);
                Ok::<_, Rejected>((ok, vec![write]))
            }
        };
        let body = serde_json::json!({"n": 1});
        let key = || Some("k".to_owned());
        let first = commit(&http, &ada, key(), "POST /x", &body, attempt("ada")).await;
        assert_eq!(first.unwrap().unwrap().body, "ada");
        // Bob's same key and body: his own request, not Ada's stored answer.
        let theirs = commit(&http, &bob, key(), "POST /x", &body, attempt("bob")).await;
        assert_eq!(theirs.unwrap().unwrap().body, "bob");
        // Nor a 422 for another body: nothing tells Bob the key was used.
        let other = serde_json::json!({"n": 2});
        let again = commit(
            &http,
            &bob,
            Some("k2".into()),
            "POST /x",
            &other,
            attempt("bob"),
        );
        assert_eq!(again.await.unwrap().unwrap().status, 201);
        // Ada's retry still gets her own first answer.
        let replay = commit(&http, &ada, key(), "POST /x", &body, attempt("other")).await;
        assert_eq!(replay.unwrap().unwrap().body, "ada");
        for record in [
            "test#ada#POST /x#k",
            "test#bob#POST /x#k",
            "test#bob#POST /x#k2",
        ] {
            assert!(store.record(record).is_some(), "{record}");
        }
        assert!(store.record("test#POST /x#k").is_none());

        // A rejected attempt under a key commits nothing, no record: the same key with
        // another body afterwards is a new request, not a reused key.
        store.take_committed();
        let rejected = commit(&http, &ada, key(), "POST /y", &body, || async {
            Err::<Outcome<InMemoryWrite>, _>(Rejected(Problem::not_found("x does not exist")))
        });
        assert_eq!(rejected.await.unwrap_err().status, 404);
        assert!(store.committed().is_empty());
        assert!(store.record("test#ada#POST /y#k").is_none());
        let after = commit(&http, &ada, key(), "POST /y", &other, attempt("ada")).await;
        assert_eq!(after.unwrap().unwrap().status, 201);
    }

    #[test]
    fn create_bodies_refuse_the_callers_fields() {
        let body = serde_json::json!({"customerId": "c-1", "email": "a@b.co", "plan": "x"});
        let mut f = Fields::new(&body);
        refuse_caller_fields(&mut f);
        let _ = f.required::<String>("plan");
        let p = f.finish().unwrap_err();
        let got: Vec<(&str, &str)> = p
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/customerId", CALLER_FIELD_MESSAGE),
                ("/email", CALLER_FIELD_MESSAGE)
            ]
        );
        assert!(CALLER_FIELD_MESSAGE.contains("the customer is the signed-in caller"));
    }

    #[test]
    fn a_cancel_needs_a_reason_and_nothing_else() {
        assert_eq!(
            parse_cancel(&serde_json::json!({"reason": "late"}))
                .unwrap()
                .to_string(),
            "late"
        );
        let p = parse_cancel(&serde_json::json!({"reason": "", "why": 1})).unwrap_err();
        let fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!((p.status, fields), (422, vec!["/reason", "/why"]));
    }
}
