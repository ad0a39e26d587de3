//! What the handlers need from storage: reads, and builders of the writes that
//! [`dynamodb_idempotency::Store`] commits (alone or with an idempotency record).

use crate::domain::{Order, OrderStatus};
use eventmart_shared::events::{Event, OrderId};
use std::future::Future;

/// A read of the orders table failed (the producers' one repository error).
pub use eventmart_shared::producer::RepoError;

/// The orders table.
pub trait OrderRepository: Send + Sync {
    /// The write type of the store the writes are committed through.
    type Write: Send;

    /// The order, read consistently, if it exists.
    fn get(&self, id: OrderId) -> impl Future<Output = Result<Option<Order>, RepoError>> + Send;

    /// Creates `order`; fails the transaction if the id is taken.
    fn insert(&self, order: &Order) -> Self::Write;

    /// Moves the stored order to `order`'s status (and cancel reason), only while it is
    /// still `from`: the condition that makes concurrent transitions lose cleanly.
    fn transition(&self, order: &Order, from: OrderStatus) -> Self::Write;

    /// The outbox item of `event`.
    fn outbox(&self, event: &Event, now_secs: i64) -> Self::Write;
}
