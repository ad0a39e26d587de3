//! The HTTP API: `POST /memberships`, `GET /memberships/{membershipId}`,
//! `POST /memberships/{membershipId}/cancel`.
//!
//! Every route is the signed-in caller's ([`eventmart_shared::auth::caller`], from the JWT
//! authorizer's claims): a membership is started for the token's `sub` (one active at a
//! time) to its verified email, and read or canceled by its own customer only; to anyone
//! else it is an unknown id.

use crate::app::App;
use crate::domain::{Membership, MembershipStatus};
use crate::ports::MembershipRepository;
use chrono::Utc;
use dynamodb_idempotency::Store;
use eventmart_shared::auth::{self, Caller};
use eventmart_shared::events::{CorrelationId, CustomerId, Email, MembershipId, Plan, Reason};
use eventmart_shared::http::{self, Fields, Problem, RouteSpec, StoredResponse};
use eventmart_shared::producer::{
    Outcome, Rejected, Resource, commit, parse_cancel, refuse_caller_fields,
};
use eventmart_shared::telemetry::event_span;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    SignUp,
    Get,
    Cancel,
}

/// The routes, as template.yaml declares them.
const ROUTES: &[RouteSpec<Route>] = &[
    (Method::POST, "/memberships", Route::SignUp),
    (Method::GET, "/memberships/{membershipId}", Route::Get),
    (
        Method::POST,
        "/memberships/{membershipId}/cancel",
        Route::Cancel,
    ),
];

/// What the API serves, as its answers name it.
const MEMBERSHIP: Resource = Resource {
    name: "membership",
    collection: "/memberships",
    id_field: "membershipId",
};

impl<R, S> App<R, S>
where
    R: MembershipRepository<Write = S::Write>,
    S: Store,
{
    /// Answers one HTTP API request. Never fails: every outcome is a response.
    ///
    /// After routing, who the caller is comes first (401 without claims, whatever the
    /// gateway in front is configured to do), before any header, body or id is read.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let matched = match http::route(&req, ROUTES) {
            Ok(matched) => matched,
            Err(refused) => return refused,
        };
        let caller = match auth::caller(&req) {
            Ok(caller) => caller,
            Err(refused) => return refused.into_response(),
        };
        match matched.route {
            Route::SignUp => match caller.verified_email() {
                Ok(email) => MEMBERSHIP.respond(self.sign_up(&req, &caller, email).await),
                Err(refused) => refused.into_response(),
            },
            Route::Get => match MEMBERSHIP.id(&matched) {
                Ok(id) => self.get(caller.customer_id(), id).await,
                Err(unknown) => unknown.into_response(),
            },
            Route::Cancel => {
                let answer = async { self.cancel(&req, &caller, MEMBERSHIP.id(&matched)?).await };
                MEMBERSHIP.respond(answer.await)
            }
        }
    }

    /// A membership of the caller (the token's `sub`, one active at a time), to their
    /// verified email.
    async fn sign_up(
        &self,
        req: &Request,
        caller: &Caller,
        email: &Email,
    ) -> Result<StoredResponse, Problem> {
        let key = http::idempotency_key(req)?;
        let body = http::json_body(req)?;
        let plan = parse_sign_up(&body)?;
        let correlation = http::correlation_id(req);
        let customer = caller.customer_id();
        let attempt = || self.sign_up_writes(customer.clone(), email.clone(), plan, correlation);
        match commit(
            &self.http,
            customer,
            key,
            "POST /memberships",
            &body,
            attempt,
        )
        .await?
        {
            Ok(stored) => Ok(stored),
            // Another sign-up of this customer committed between our read and our write.
            Err(e) if !e.conditions_failed.is_empty() => Err(already_member(None)),
            Err(e) => Err(MEMBERSHIP.write_failed(&e)),
        }
    }

    /// The response and writes of a sign-up, from the customer's membership as it is now.
    async fn sign_up_writes(
        &self,
        customer_id: CustomerId,
        email: Email,
        plan: Plan,
        correlation: CorrelationId,
    ) -> Result<Outcome<S::Write>, Rejected> {
        if let Some(active) = self.read(self.repo.active_membership(&customer_id)).await? {
            return Ok((
                StoredResponse::refusal(&already_member(Some(active))),
                vec![],
            ));
        }
        let now = Utc::now();
        let membership = Membership::start(customer_id, email, plan, now);
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
        Ok((
            StoredResponse::new(StatusCode::CREATED, &membership),
            writes,
        ))
    }

    /// The caller's membership; another customer's is answered as an unknown one.
    async fn get(&self, customer: &CustomerId, id: MembershipId) -> Response<Body> {
        match self.read_visible(customer, id).await {
            Ok(Some(m)) => http::json(StatusCode::OK, &m),
            Ok(None) => MEMBERSHIP.not_found(id).into_response(),
            Err(problem) => problem.into_response(),
        }
    }

    async fn cancel(
        &self,
        req: &Request,
        caller: &Caller,
        id: MembershipId,
    ) -> Result<StoredResponse, Problem> {
        let key = http::idempotency_key(req)?;
        let body = http::json_body(req)?;
        let reason = parse_cancel(&body)?;
        let correlation = http::correlation_id(req);
        let customer = caller.customer_id();
        let attempt = || self.cancel_writes(customer, id, reason, correlation);
        let route = format!("POST /memberships/{id}/cancel");
        match commit(&self.http, customer, key, &route, &body, attempt).await? {
            Ok(stored) => Ok(stored),
            // Another cancel committed between our read and our write.
            Err(e) if !e.conditions_failed.is_empty() => {
                Err(self.after_lost_race(customer, id).await)
            }
            Err(e) => Err(MEMBERSHIP.write_failed(&e)),
        }
    }

    /// The response and writes of a cancel, from the membership as it is now. A refusal
    /// (409) is an answer like any other, so that a retried request replays the first
    /// answer rather than a refusal caused by its own success. A membership the caller
    /// cannot see (none, or another customer's) is rejected, not answered: it writes
    /// nothing, no idempotency record either, so that the two cannot be told apart. A
    /// failed read is rejected too.
    async fn cancel_writes(
        &self,
        customer: &CustomerId,
        id: MembershipId,
        reason: Reason,
        correlation: CorrelationId,
    ) -> Result<Outcome<S::Write>, Rejected> {
        let Some(membership) = self.read_visible(customer, id).await? else {
            return Err(Rejected(MEMBERSHIP.not_found(id)));
        };
        let now = Utc::now();
        let (canceled, event) = match membership.cancel(reason, correlation, now) {
            Ok(done) => done,
            Err(refused) => {
                let conflict = Problem::conflict(refused.to_string());
                return Ok((StoredResponse::refusal(&conflict), vec![]));
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
        Ok((StoredResponse::new(StatusCode::OK, &canceled), writes))
    }

    /// The answer to a cancel whose condition failed: the membership changed meanwhile.
    async fn after_lost_race(&self, customer: &CustomerId, id: MembershipId) -> Problem {
        match self.read_visible(customer, id).await {
            Ok(Some(m)) if m.status == MembershipStatus::Canceled => {
                Problem::conflict("the membership is already canceled")
            }
            Ok(None) => MEMBERSHIP.not_found(id),
            Ok(Some(_)) => Problem::unavailable("the membership changed during the request; retry"),
            Err(p) => p,
        }
    }

    /// The membership, if it exists and `customer` may see it
    /// ([`Membership::visible_to`]).
    async fn read_visible(
        &self,
        customer: &CustomerId,
        id: MembershipId,
    ) -> Result<Option<Membership>, Problem> {
        let membership = self.read(self.repo.get(id)).await?;
        Ok(membership.filter(|m| m.visible_to(customer)))
    }

    /// A repository read, a failure answered 503.
    async fn read<T>(
        &self,
        read: impl Future<Output = Result<T, crate::RepoError>>,
    ) -> Result<T, Problem> {
        read.await.map_err(|e| MEMBERSHIP.read_failed(&e))
    }
}

/// `POST /memberships`: every invalid field named at once. The customer is the caller,
/// never the body (`customerId`, `email` are refused).
fn parse_sign_up(body: &Value) -> Result<Plan, Problem> {
    let mut f = Fields::new(body);
    refuse_caller_fields(&mut f);
    let plan = f.required::<Plan>("plan");
    f.finish()?;
    plan.ok_or_else(|| Problem::invalid(vec![]))
}

fn already_member(active: Option<MembershipId>) -> Problem {
    match active {
        Some(id) => Problem::conflict(format!(
            "the customer already has an active membership ({id})"
        )),
        None => Problem::conflict("the customer already has an active membership"),
    }
}
