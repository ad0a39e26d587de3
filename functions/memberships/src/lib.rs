//! The memberships function: `POST /memberships`, `GET /memberships/{membershipId}`,
//! `POST /memberships/{membershipId}/cancel`.
//!
//! Every state change commits with its outbox item (`MembershipSignedUp`,
//! `MembershipCanceled`) in one DynamoDB transaction; nothing here calls EventBridge. The
//! handler is generic over its ports ([`MembershipRepository`], [`Store`]); [`App`] wires
//! the real ones.

mod api;
pub mod domain;
pub mod dynamo;
pub mod ports;

pub use domain::{Membership, MembershipStatus};
pub use dynamo::DynamoMemberships;
pub use ports::{MembershipRepository, RepoError};

use dynamodb_idempotency::{DynamoStore, Idempotency, Store};
use eventmart_shared::aws::{ConfigError, env};

/// The function name idempotency records are kept under.
pub const FUNCTION: &str = "memberships";

/// The memberships handler over its ports.
pub struct Memberships<R, S> {
    repo: R,
    /// Records of requests with an `Idempotency-Key`; its store also commits the writes
    /// of requests without one.
    http: Idempotency<S>,
}

impl<R, S> Memberships<R, S>
where
    R: MembershipRepository<Write = S::Write>,
    S: Store,
{
    pub fn new(repo: R, store: S) -> Self {
        Self {
            repo,
            http: Idempotency::new(store, eventmart_shared::http::idempotency_config(FUNCTION)),
        }
    }
}

/// The function as deployed, over DynamoDB.
pub type App = Memberships<DynamoMemberships, DynamoStore>;

impl App {
    /// The function over explicit tables (what tests use).
    pub fn with_tables(
        dynamodb: aws_sdk_dynamodb::Client,
        memberships_table: &str,
        idempotency_table: &str,
    ) -> Self {
        Memberships::new(
            DynamoMemberships::new(dynamodb.clone(), memberships_table),
            DynamoStore::new(dynamodb, idempotency_table),
        )
    }

    /// The function configured by `MEMBERSHIPS_TABLE` and `IDEMPOTENCY_TABLE`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::with_tables(
            aws_sdk_dynamodb::Client::new(sdk),
            &env("MEMBERSHIPS_TABLE")?,
            &env("IDEMPOTENCY_TABLE")?,
        ))
    }
}

#[cfg(any(test, feature = "memory"))]
pub mod memory;
#[cfg(test)]
mod tests;
