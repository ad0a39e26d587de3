//! What the handlers need from storage: reads, and builders of the writes that
//! [`dynamodb_idempotency::Store`] commits (alone or with an idempotency record).

use crate::domain::{Order, OrderStatus};
use crate::members::{ViewEntry, ViewStatus};
use eventmart_shared::events::{CustomerId, Event, MembershipId, OrderId};
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

/// The orders service's view of who is a member (its own table, fed by events).
pub trait MemberView: Send + Sync {
    /// The write type of the store the writes are committed through.
    type Write: Send;

    /// Every membership of `customer` the view holds, read consistently.
    fn memberships(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Vec<ViewEntry>, RepoError>> + Send;

    /// One membership's entry, read consistently, if the view holds it.
    fn entry(
        &self,
        customer: &CustomerId,
        membership: MembershipId,
    ) -> impl Future<Output = Result<Option<ViewEntry>, RepoError>> + Send;

    /// Stores `entry`, only while the stored entry is still as read (`None`: absent): the
    /// condition that makes a concurrent delivery of the same membership's other event
    /// lose and retry on what won.
    fn put(&self, entry: &ViewEntry, read: Option<ViewStatus>) -> Self::Write;
}
