//! The HTTP routes.

use crate::domain::{Membership, MembershipStatus};
use crate::ports::MembershipRepository;
use crate::{FUNCTION, Memberships};
use chrono::Utc;
use dynamodb_idempotency::{IdempotencyError, Store, StoreError};
use eventmart_shared::events::{CustomerId, Email, MembershipId, Plan, Reason};
use eventmart_shared::http::{
    self, Fields, Problem, StoredResponse, idempotency_event, idempotency_problem,
    method_not_allowed,
};
use eventmart_shared::telemetry::event_span;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// A request that could not be answered (a read failed): its problem is returned, never
/// stored as the idempotent response.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.detail)]
struct Rejected(Problem);

impl From<Problem> for Rejected {
    fn from(p: Problem) -> Self {
        Rejected(p)
    }
}

/// The response and writes one request computes, committed with or without a record.
type Outcome<W> = (StoredResponse, Vec<W>);

impl<R, S> Memberships<R, S>
where
    R: MembershipRepository<Write = S::Write>,
    S: Store,
{
    /// Answers one HTTP API request. Never fails: every outcome is a response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let segments = http::segments(&req);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = req.method().clone();
        let result = match (segments.as_slice(), method) {
            (["memberships"], Method::POST) => self.sign_up(&req).await,
            (["memberships"], _) => return method_not_allowed(&[Method::POST]),
            (["memberships", id], Method::GET) => return self.get(id).await,
            (["memberships", _], _) => return method_not_allowed(&[Method::GET]),
            (["memberships", id, "cancel"], Method::POST) => self.cancel(&req, id).await,
            (["memberships", _, "cancel"], _) => return method_not_allowed(&[Method::POST]),
            _ => Err(Problem::not_found(format!(
                "no resource at {}",
                req.uri().path()
            ))),
        };
        match result {
            Ok(stored) => crate::api::created(stored),
            Err(problem) => problem.into_response(),
        }
    }

    async fn sign_up(&self, req: &Request) -> Result<StoredResponse, Problem> {
        let key = http::idempotency_key(req)?;
        let body = http::json_body(req)?;
        let (customer_id, email, plan) = parse_sign_up(&body)?;
        let correlation = http::correlation_id(req);
        let attempt = || async {
            if let Some(active) = self
                .repo
                .active_membership(&customer_id)
                .await
                .map_err(read_failed)?
            {
                return Ok((
                    StoredResponse::refusal(&already_member(Some(active))),
                    vec![],
                ));
            }
            let now = Utc::now();
            let membership = Membership::start(customer_id.clone(), email, plan, now);
            let event = membership.signed_up_event(correlation, now);
            let meta = event.metadata();
            event_span(&meta.event_id, &meta.correlation_id).in_scope(|| {
                tracing::info!(membershipId = %membership.membership_id, "membership started");
            });
            let writes = vec![
                self.repo.insert(&membership),
                self.repo.claim_customer(&membership),
                self.repo.outbox(&event, now.timestamp()),
            ];
            Ok::<_, Rejected>((
                StoredResponse::new(StatusCode::CREATED, &membership),
                writes,
            ))
        };
        match self
            .commit(key, "POST /memberships", &body, attempt)
            .await?
        {
            Ok(stored) => Ok(stored),
            // Another sign-up of this customer committed between our read and our write.
            Err(e) if !e.conditions_failed.is_empty() => Err(already_member(None)),
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn get(&self, id: &str) -> Response<Body> {
        let Ok(id) = id.parse::<MembershipId>() else {
            return not_found(id).into_response();
        };
        match self.repo.get(id).await {
            Ok(Some(m)) => http::json(StatusCode::OK, &m),
            Ok(None) => not_found(&id.to_string()).into_response(),
            Err(e) => read_failed(e).0.into_response(),
        }
    }

    async fn cancel(&self, req: &Request, id: &str) -> Result<StoredResponse, Problem> {
        let Ok(id) = id.parse::<MembershipId>() else {
            return Err(not_found(id));
        };
        let key = http::idempotency_key(req)?;
        let body = http::json_body(req)?;
        let reason = parse_cancel(&body)?;
        let correlation = http::correlation_id(req);
        // A refusal is an answer like any other, so that a retried request replays the
        // first answer rather than a refusal caused by its own success.
        let attempt = || async {
            let Some(membership) = self.repo.get(id).await.map_err(read_failed)? else {
                return Ok((StoredResponse::refusal(&not_found(&id.to_string())), vec![]));
            };
            let now = Utc::now();
            let (canceled, event) = match membership.cancel(reason, correlation, now) {
                Ok(done) => done,
                Err(refused) => {
                    return Ok((
                        StoredResponse::refusal(&Problem::conflict(refused.to_string())),
                        vec![],
                    ));
                }
            };
            let meta = event.metadata();
            event_span(&meta.event_id, &meta.correlation_id).in_scope(|| {
                tracing::info!(membershipId = %id, "membership canceled");
            });
            let writes = vec![
                self.repo.cancel(&canceled),
                self.repo.release_customer(&canceled),
                self.repo.outbox(&event, now.timestamp()),
            ];
            Ok::<_, Rejected>((StoredResponse::new(StatusCode::OK, &canceled), writes))
        };
        let route = format!("POST /memberships/{id}/cancel");
        match self.commit(key, &route, &body, attempt).await? {
            Ok(stored) => Ok(stored),
            // Another cancel committed between our read and our write.
            Err(e) if !e.conditions_failed.is_empty() => match self.repo.get(id).await {
                Ok(Some(m)) if m.status == MembershipStatus::Canceled => {
                    Err(Problem::conflict("the membership is already canceled"))
                }
                Ok(None) => Err(not_found(&id.to_string())),
                Ok(Some(_)) => Err(Problem::unavailable(
                    "the membership changed during the request; retry",
                )),
                Err(e) => Err(read_failed(e).0),
            },
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Runs `attempt` and commits its writes: with the idempotency record when the
    /// request has a key, else alone. The inner `Err` is a failed transaction, for the
    /// caller to tell a lost race (a failed condition) from an outage.
    async fn commit<F, Fut>(
        &self,
        key: Option<String>,
        route: &str,
        body: &Value,
        attempt: F,
    ) -> Result<Result<StoredResponse, StoreError>, Problem>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Outcome<S::Write>, Rejected>>,
    {
        match key {
            None => {
                let (stored, writes) = attempt().await.map_err(|r| r.0)?;
                Ok(self.http.store().write(writes).await.map(|_| stored))
            }
            Some(key) => {
                let event = idempotency_event(&key, route, body);
                match self.http.run_transactional(&event, attempt).await {
                    Ok(stored) => Ok(Ok(stored)),
                    Err(IdempotencyError::Store(e)) => Ok(Err(e)),
                    Err(e) => Err(idempotency_problem(e, |r| r.0)),
                }
            }
        }
    }
}

/// `POST /memberships`: every invalid field named at once.
fn parse_sign_up(body: &Value) -> Result<(CustomerId, Email, Plan), Problem> {
    let mut f = Fields::new(body);
    let customer_id = f.required::<CustomerId>("customerId");
    let email = f.required::<Email>("email");
    let plan = f.required::<Plan>("plan");
    f.finish()?;
    match (customer_id, email, plan) {
        (Some(c), Some(e), Some(p)) => Ok((c, e, p)),
        _ => Err(Problem::invalid(vec![])),
    }
}

/// `POST /memberships/{membershipId}/cancel`.
fn parse_cancel(body: &Value) -> Result<Reason, Problem> {
    let mut f = Fields::new(body);
    let reason = f.required::<Reason>("reason");
    f.finish()?;
    reason.ok_or_else(|| Problem::invalid(vec![]))
}

fn already_member(active: Option<MembershipId>) -> Problem {
    match active {
        Some(id) => Problem::conflict(format!(
            "the customer already has an active membership ({id})"
        )),
        None => Problem::conflict("the customer already has an active membership"),
    }
}

/// A malformed id names no membership that could exist: 404, not 400.
fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("membership {id} does not exist"))
}

fn read_failed(e: crate::RepoError) -> Rejected {
    tracing::error!(function = FUNCTION, error = %e, "could not read membership");
    Rejected(Problem::unavailable(
        "the membership could not be read; retry later",
    ))
}

fn unavailable(e: &StoreError) -> Problem {
    tracing::error!(function = FUNCTION, error = %e, "could not write membership");
    Problem::unavailable("the membership could not be saved; retry later")
}

/// A response, first or replayed: a 201 carries the new resource's address.
fn created(stored: StoredResponse) -> Response<Body> {
    stored.into_created_response("/memberships", "membershipId")
}
