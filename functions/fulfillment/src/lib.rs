//! The fulfillment function: `OrderPlaced` prepares a shipment, `OrderCanceled` reverses
//! it (or, when the cancel came first, leaves a tombstone that a late order cannot get
//! past), and the warehouse marks shipments shipped over HTTP.
//!
//! | input | effect |
//! | --- | --- |
//! | `OrderPlaced` | a `PREPARING` shipment and `FulfillmentStarted`; nothing when a tombstone is there (`lateOrderAbsorbed`) or the shipment exists (`alreadyExists`) |
//! | `OrderCanceled` | a preparing shipment becomes `CANCELED` with `FulfillmentCanceled`; a shipped one stays `SHIPPED` with `FulfillmentCancelRejected`; no shipment yet: a `CANCELED` tombstone with `FulfillmentCanceled` |
//! | `GET /fulfillments/{orderId}` | the shipment |
//! | `POST /fulfillments/{orderId}/ship` | a preparing shipment becomes `SHIPPED` with `OrderShipped`; shipped already: the same answer, nothing emitted; canceled: 409 |
//!
//! A shipment is `SHIPMENT#<orderId>` in FULFILLMENT_TABLE; the events it causes are
//! outbox items in the same table, which outbox-relay publishes.
//!
//! # Who may call
//!
//! Both HTTP routes are the warehouse's: behind the HTTP API's Cognito JWT authorizer,
//! and checked again here from the claims before the path id or any header is read. No
//! claims is 401; a caller outside the `warehouse` group ([`domain::authorize`]) is 403
//! with nothing written, a customer too, even for their own order. A ship's
//! `Idempotency-Key` is its caller's own (the record is keyed by `sub`, route and key).
//!
//! # Guarantees
//!
//! * Every decision commits with the events it causes (outbox items) and the event's
//!   idempotency record (`fulfillment#<eventId>`) in one DynamoDB transaction
//!   ([`Idempotency::run_transactional`](dynamodb_idempotency::Idempotency::run_transactional)):
//!   a duplicate event, sequential or concurrent, changes nothing and emits nothing
//!   more, and there is no window in which a change happened but is not recorded.
//! * Each shipment write is conditional on the status it was read in (or its absence):
//!   a concurrent change between the read and the commit aborts the transaction, and
//!   the handler reads and decides again (up to three attempts, then the event is
//!   retried by Lambda). So a cancel racing a ship is either a cancel of a preparing
//!   shipment or a rejected cancel of a shipped one, never both.
//! * A cancel that arrives before its order wins: the tombstone makes the late
//!   `OrderPlaced` a no-op.
//! * A ship with an `Idempotency-Key` commits its answer with the change, and a retry
//!   replays it for 24 hours; without a key, a retry is safe because shipping a shipped
//!   shipment answers 200 and emits nothing.
//! * Errors keep their class ([`retryable::Retryable`]): throttling, faults and
//!   concurrent duplicates go back to Lambda, which retries; an event that is invalid,
//!   not one fulfillment consumes, or whose shipment is unreadable goes to the
//!   dead-letter queue with its reason. A path id that is no order id is answered 404,
//!   as an unknown order.
//!
//! # Failure windows
//!
//! * None between a decision and its record: both commit or neither does.
//! * An event whose retries run out (Lambda's asynchronous retries, then the function's
//!   on-failure destination) is not applied; replaying it from the archive applies it
//!   once.
//! * A ship answered 503 may be retried by the warehouse freely: either nothing was
//!   written, or (an answer lost after the commit) the retry finds the shipment shipped
//!   and answers 200 without emitting `OrderShipped` again.

pub mod app;
pub mod domain;
pub mod dynamo;
pub mod events;
pub mod http;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod ports;

pub use app::{App, Deployed, FUNCTION, Settings, build, from_env};
pub use dynamo::DynamoLedger;
pub use eventmart_shared::aws::ConfigError;
pub use events::{HandleError, Handled};
pub use http::ShipError;
#[cfg(any(test, feature = "memory"))]
pub use memory::MemoryLedger;
pub use ports::{Ledger, LedgerError};

#[cfg(test)]
mod tests;
