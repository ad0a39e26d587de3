//! Events from EventBridge: `OrderShipped` (a PLACED order becomes SHIPPED), and
//! `MembershipSignedUp` / `MembershipCanceled` (the member view), each exactly once.

use crate::app::{App, FUNCTION};
use crate::domain::{OrderStatus, Shipment};
use crate::members::{self, MembershipFact};
use crate::ports::{MemberView, OrderRepository, RepoError};
use chrono::Utc;
use dynamodb_idempotency::{IdempotencyError, Store};
use eventmart_shared::consumer::{ConsumerError, DeadLetters, consume};
use eventmart_shared::events::{Envelope, Event, OrderId, OrderShipped};
use retryable::Retryable;
use serde_json::{Value, json};

/// Why an `OrderShipped` was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// The warehouse named an order this service never placed: no retry creates it.
    #[error("order {0} does not exist")]
    UnknownOrder(OrderId),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl Retryable for ShipError {
    fn is_retryable(&self) -> bool {
        match self {
            ShipError::UnknownOrder(_) => false,
            ShipError::Repo(e) => e.is_retryable(),
        }
    }
}

impl<R, S, D> App<R, S, D>
where
    R: OrderRepository<Write = S::Write> + MemberView<Write = S::Write>,
    S: Store + Clone,
    D: DeadLetters,
{
    /// Handles one EventBridge event. `Ok` when done or dead-lettered; `Err` when a
    /// retry can help (Lambda's asynchronous retries take it).
    pub async fn on_event(&self, payload: &Value) -> Result<Value, ConsumerError> {
        consume(FUNCTION, payload, &self.dead_letters, |event| async move {
            match event {
                // The failure keeps its class: a permanent one is dead-lettered.
                Event::OrderShipped(shipped) => self
                    .ship(payload, shipped)
                    .await
                    .map_err(|e| ConsumerError::from_error(&e)),
                Event::MembershipSignedUp(e) => self
                    .learn(payload, MembershipFact::SignedUp(e.data))
                    .await
                    .map_err(|e| ConsumerError::from_error(&e)),
                Event::MembershipCanceled(e) => self
                    .learn(payload, MembershipFact::Canceled(e.data))
                    .await
                    .map_err(|e| ConsumerError::from_error(&e)),
                other => Err(ConsumerError::permanent(format!(
                    "{FUNCTION} does not consume {}",
                    other.event_type().detail_type()
                ))),
            }
        })
        .await
    }

    /// The transition and its idempotency record commit in one transaction.
    async fn ship(
        &self,
        payload: &Value,
        shipped: Envelope<OrderShipped>,
    ) -> Result<Value, IdempotencyError<ShipError>> {
        let id = shipped.data.order_id;
        self.events
            .run_transactional(payload, || async {
                let order = self
                    .repo
                    .get(id)
                    .await?
                    .ok_or(ShipError::UnknownOrder(id))?;
                let status = json!({"orderId": id, "status": order.status});
                Ok(match order.ship(Utc::now()) {
                    Shipment::Ship(order) => {
                        tracing::info!(orderId = %id, "order shipped");
                        let status = json!({"orderId": id, "status": order.status});
                        (status, vec![self.repo.transition(&order, OrderStatus::Placed)])
                    }
                    Shipment::AlreadyShipped => {
                        tracing::info!(orderId = %id, "order already shipped");
                        (status, vec![])
                    }
                    Shipment::Canceled => {
                        // The warehouse shipped what the customer had canceled; the
                        // cancel stands and the mismatch is visible here.
                        tracing::warn!(orderId = %id, "a canceled order was shipped; it stays CANCELED");
                        (status, vec![])
                    }
                })
            })
            .await
    }

    /// The member view's entry for the event's membership, moved on by the event
    /// ([`members::apply`]); the write, conditional on the entry as read, commits with the
    /// event's idempotency record. A duplicate, or an event that arrives after one that
    /// outranks it, commits the record alone.
    async fn learn(
        &self,
        payload: &Value,
        fact: MembershipFact,
    ) -> Result<Value, IdempotencyError<RepoError>> {
        let customer = fact.customer_id().clone();
        let id = fact.membership_id();
        self.events
            .run_transactional(payload, || async {
                let current = self.repo.entry(&customer, id).await?;
                let read = current.as_ref().map(|e| e.status);
                Ok(match members::apply(current.as_ref(), &fact) {
                    Some(next) => {
                        tracing::info!(membershipId = %id, status = next.status.as_str(), "member view updated");
                        let answer = json!({"membershipId": id, "status": next.status});
                        (answer, vec![self.repo.put(&next, read)])
                    }
                    None => {
                        tracing::info!(membershipId = %id, "member view already has this");
                        (json!({"membershipId": id, "status": read}), vec![])
                    }
                })
            })
            .await
    }
}
