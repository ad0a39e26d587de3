//! The memberships function: `POST /memberships`, `GET /memberships/{membershipId}`,
//! `POST /memberships/{membershipId}/cancel`, over HTTP only.
//!
//! | request | effect |
//! | --- | --- |
//! | `POST /memberships` | an ACTIVE membership (`MEMBERSHIP#<id>`), its customer's claim (`CUSTOMER#<customerId>`) and `MembershipSignedUp`; 201 with `Location`; 409 while the customer has an active one |
//! | `POST /memberships/{membershipId}/cancel` | ACTIVE → CANCELED, the claim released, and `MembershipCanceled`; 409 once canceled |
//! | `GET /memberships/{membershipId}` | the membership, read consistently |
//!
//! An id that does not parse is answered as an id that names nothing: 404,
//! `membership <id> does not exist`.
//!
//! # Who may call
//!
//! Every route is behind the HTTP API's Cognito JWT authorizer, and the function checks
//! the claims again ([`eventmart_shared::auth::caller`]): a request without them is 401.
//! The customer is the token's `sub` (the one-active-membership rule is per `sub`) and
//! the email its verified `email` (none: 403); a body that sends `customerId` or
//! `email` is a 422 naming the field. A membership is its customer's alone
//! ([`Membership::visible_to`]): to anyone else `GET` and cancel answer exactly as for an
//! unknown id and write nothing, no idempotency record either. An `Idempotency-Key` is
//! its caller's own (the record is keyed by `sub`, route and key).
//!
//! # Guarantees
//!
//! * Every state change commits with its outbox item in one DynamoDB transaction;
//!   nothing here calls EventBridge (outbox-relay publishes from the table's stream).
//! * One active membership per customer: the rule is the condition on the customer's
//!   claim item, so of concurrent sign-ups of one customer exactly one commits and the
//!   others are answered 409; a cancel moves the membership only while it is ACTIVE.
//! * A request with an `Idempotency-Key` commits its idempotency record in the same
//!   transaction as its writes: its retries, for 24 hours, get the first answer (the 201
//!   and its `Location`, or the refusal), and change nothing. The same key with another
//!   body is 422; while the first request runs, 409 (retry shortly).
//!
//! # Failure windows
//!
//! * The function dies, or the answer is lost, after the transaction committed: the
//!   change and its event stand, and the client sees an error. With an
//!   `Idempotency-Key` its retry gets the committed answer; without one, a retried
//!   sign-up or cancel gets 409.
//! * A retry after the record expired (24 hours) is a new request.
//! * An event reaches the bus when outbox-relay reads it from the stream, not when the
//!   request is answered.
//!
//! The handler ([`App`]) is generic over its ports ([`MembershipRepository`],
//! [`dynamodb_idempotency::Store`]); [`app::build`] wires the real ones.

pub mod app;
pub mod domain;
pub mod dynamo;
mod http;
pub mod ports;

pub use app::{App, Deployed, FUNCTION, Settings};
pub use domain::{Membership, MembershipStatus};
pub use dynamo::DynamoMemberships;
pub use ports::{MembershipRepository, RepoError};

#[cfg(any(test, feature = "memory"))]
pub mod memory;
#[cfg(test)]
mod tests;
