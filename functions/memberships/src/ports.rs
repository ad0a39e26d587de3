//! What the handler needs from storage: reads, and builders of the writes that
//! [`dynamodb_idempotency::Store`] commits (alone or with an idempotency record).

use crate::domain::Membership;
use eventmart_shared::events::{CustomerId, Event, MembershipId};
use std::future::Future;

/// A read of the memberships table failed (the producers' one repository error).
pub use eventmart_shared::producer::RepoError;

/// The memberships table.
pub trait MembershipRepository: Send + Sync {
    /// The write type of the store the writes are committed through.
    type Write: Send;

    /// The membership, read consistently, if it exists.
    fn get(
        &self,
        id: MembershipId,
    ) -> impl Future<Output = Result<Option<Membership>, RepoError>> + Send;

    /// The customer's active membership, if any.
    fn active_membership(
        &self,
        customer: &CustomerId,
    ) -> impl Future<Output = Result<Option<MembershipId>, RepoError>> + Send;

    /// Creates the membership; fails the transaction if the id is taken.
    fn insert(&self, membership: &Membership) -> Self::Write;

    /// Makes the membership its customer's active one; fails the transaction if the
    /// customer already has one (the rule "one at a time" lives in this condition).
    fn claim_customer(&self, membership: &Membership) -> Self::Write;

    /// Stores the canceled membership, only while the stored one is still ACTIVE.
    fn cancel(&self, membership: &Membership) -> Self::Write;

    /// Frees the customer for a new membership, unless another membership holds it.
    fn release_customer(&self, membership: &Membership) -> Self::Write;

    /// The outbox item of `event`.
    fn outbox(&self, event: &Event, now_secs: i64) -> Self::Write;
}
