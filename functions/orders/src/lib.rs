//! The orders function: `POST /orders`, `GET /orders/{orderId}`,
//! `POST /orders/{orderId}/cancel` over HTTP, and `OrderShipped` from EventBridge.
//!
//! | input | effect |
//! | --- | --- |
//! | `POST /orders` | a PLACED order (`ORDER#<orderId>`) and its `OrderPlaced`; 201 with `Location` |
//! | `POST /orders/{orderId}/cancel` | PLACED → CANCELED and its `OrderCanceled`; 409 once canceled or shipped |
//! | `GET /orders/{orderId}` | the order, read consistently |
//! | `OrderShipped` | PLACED → SHIPPED; a canceled order stays CANCELED; an unknown order is dead-lettered |
//! | `MembershipSignedUp`, `MembershipCanceled` | the member view's entry for that membership ([`members::apply`]) |
//!
//! # What an order costs
//!
//! An order is placed at the price of the customer's active membership as the member
//! view holds it at that moment ([`members::discount`]; the plan catalog is the event
//! contract's [`Plan::discount`](eventmart_shared::events::Plan::discount)): the
//! discount is the plan's rate of the subtotal, taken once on the subtotal and rounded
//! down to a whole minor unit ([`Pricing`](eventmart_shared::events::Pricing)). The order,
//! its response and `OrderPlaced` carry the subtotal, the discount, the total and the
//! membership; a cancel refunds the total, what was paid.
//!
//! The view is the orders service's own (the `MEMBER_VIEW_TABLE`), fed by the
//! memberships service's events through an EventBridge rule; orders never calls that
//! service. It is eventually consistent: between a sign-up's commit and its event's
//! arrival here (the relay's stream poll, the bus, the rule's delivery) the customer
//! still pays the full price, and after a cancel, until its event arrives, still gets
//! the discount. An order keeps the price it was placed at.
//!
//! An id that does not parse is answered as an id that names nothing: 404,
//! `order <id> does not exist`.
//!
//! # Who may call
//!
//! Every route is behind the HTTP API's Cognito JWT authorizer, and the function checks
//! the claims again ([`eventmart_shared::auth::caller`]): a request without them is 401,
//! whatever the template says. The customer is the token's `sub` and the email its
//! verified `email` (none: 403); a body that sends `customerId` or `email` is a 422
//! naming the field. An order is its customer's alone ([`Order::visible_to`]): to anyone
//! else `GET` and cancel answer exactly as for an unknown id, and write nothing, no
//! idempotency record either. An `Idempotency-Key` is its caller's own: the record is
//! keyed by the caller's `sub`, the route and the key, so another customer's same key
//! is a new request and never gets this one's stored response.
//!
//! # Guarantees
//!
//! * Placing and canceling commit with their outbox item in one DynamoDB transaction;
//!   nothing here calls EventBridge (outbox-relay publishes from the table's stream). No
//!   order is placed or canceled without its event, and no event is emitted for a change
//!   that did not commit.
//! * A cancel moves the order only while it is still PLACED (a condition of the
//!   transaction): of concurrent cancels, or a cancel racing a shipment, one wins and
//!   the others are answered 409.
//! * A request with an `Idempotency-Key` commits its idempotency record in the same
//!   transaction as its writes: its retries, for 24 hours, get the first answer (the 201
//!   and its `Location`, or the refusal), and change nothing. The same key with another
//!   body is 422; while the first request runs, 409 (retry shortly).
//! * `OrderShipped` is applied exactly once per event id: its idempotency record commits
//!   with the transition. A failure a retry can fix (throttling, a fault, no answer) goes
//!   back to Lambda's asynchronous retries; one it cannot (an unknown order, a refused or
//!   unbuildable request, an unreadable item) is dead-lettered with its reason.
//!
//! # Failure windows
//!
//! * The function dies, or the answer is lost, after the transaction committed: the
//!   change and its event stand, and the client sees an error. With an
//!   `Idempotency-Key` its retry gets the committed answer; without one, a retried
//!   `POST /orders` places a second order, and a retried cancel gets 409.
//! * A retry after the record expired (24 hours) is a new request.
//! * An event reaches the bus when outbox-relay reads it from the stream, not when the
//!   request is answered.
//!
//! The handler ([`App`]) is generic over its ports ([`OrderRepository`],
//! [`dynamodb_idempotency::Store`], [`eventmart_shared::consumer::DeadLetters`]);
//! [`app::build`] wires the real ones.

pub mod app;
pub mod domain;
pub mod dynamo;
mod events;
mod http;
pub mod members;
pub mod ports;

pub use app::{App, Deployed, FUNCTION, Settings};
pub use domain::{Order, OrderStatus};
pub use dynamo::DynamoOrders;
pub use events::ShipError;
pub use ports::{MemberView, OrderRepository, RepoError};

#[cfg(any(test, feature = "memory"))]
pub mod memory;
#[cfg(test)]
mod tests;
