//! The ingestion function: every Eventmart event stored once in the analytics events
//! table, and per-day aggregates that stay exact under duplicates.
//!
//! Each event is one `TransactWriteItems` through
//! [`Idempotency::run_transactional`]: the idempotency record (COMPLETED), the event
//! item `EVENT#<eventId>` (`source, detailType, occurredAt, day, detail`, written only
//! where none exists) and, for counted events, an `ADD` on the day's aggregate
//! (`series = "daily"`, `day` = the UTC date of `occurredAt`):
//!
//! | event | counters |
//! | --- | --- |
//! | `OrderPlaced` | `ordersPlaced` +1, `grossRevenue_<CUR>` + total (what is paid, after any member discount; minor units) |
//! | `OrderPlaced` with a non-zero `discount` | also `discountedOrders` +1, `discountsGiven_<CUR>` + discount (minor units) |
//! | `OrderCanceled` | `ordersCanceled` +1, `canceledRevenue_<CUR>` + total (as paid: what the cancel refunds) |
//! | `OrderShipped` | `shipments` +1 |
//! | `MembershipSignedUp` | `signUps` +1 |
//! | `MembershipCanceled` | `membershipCancellations` +1 |
//! | `Fulfillment*` | stored, no counter |
//!
//! Member discounts are counted when they are given, on the order's day, like gross
//! revenue: a later cancel refunds the total as paid (`canceledRevenue`) and does not take
//! the discount back out of `discountsGiven`, which stays a gross figure (the
//! `OrderCanceled` event carries no discount to subtract). A member's order whose rate
//! rounds down to zero minor units is no discounted order. `grossRevenue + discountsGiven`
//! of a currency is what the day's orders would have cost at list price.
//!
//! All of it commits or none of it does, so a duplicate, sequential or concurrent,
//! changes nothing and costs one request (its record's condition fails). A replay after
//! the idempotency record expired fails on the event item's condition instead: still
//! counted once.
//!
//! # Failures
//!
//! * A malformed event, or an event id seen before with another `detail`: dead-lettered
//!   with its reason, nothing written.
//! * Throttling, a DynamoDB fault, the network, or a transaction that conflicts with a
//!   concurrent duplicate's: nothing was written, the error goes back to Lambda, which
//!   retries.
//! * The process dies before the transaction commits: nothing was written, and the retry
//!   stores the event. After it commits: the retry's transaction fails on the record's
//!   condition and changes nothing. There is no window in which the event is stored but
//!   not counted, or counted twice.
//!
//! [`Idempotency::run_transactional`]: dynamodb_idempotency::Idempotency::run_transactional

pub mod app;
pub mod domain;
mod dynamo;
mod events;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod ports;
#[cfg(test)]
mod tests;

pub use app::{App, Clients, Deployed, FUNCTION, Settings, build, build_with, from_env};
pub use domain::{DAILY, Increment, Ingest, day, increments, ingest};
pub use dynamo::{DynamoPlan, event_key};
pub use ports::WritePlan;
