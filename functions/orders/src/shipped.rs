//! `OrderShipped` from EventBridge: a PLACED order becomes SHIPPED, exactly once.

use crate::domain::{OrderStatus, Shipment};
use crate::ports::OrderRepository;
use crate::{FUNCTION, Orders};
use chrono::Utc;
use dynamodb_idempotency::{IdempotencyError, Store};
use eventmart_shared::consumer::{ConsumerError, DeadLetters, consume};
use eventmart_shared::events::{Envelope, Event, OrderShipped};
use serde_json::{Value, json};

impl<R, S, D> Orders<R, S, D>
where
    R: OrderRepository<Write = S::Write>,
    S: Store + Clone,
    D: DeadLetters,
{
    /// Handles one EventBridge event. `Ok` when done or dead-lettered; `Err` when a
    /// retry can help (Lambda's asynchronous retries take it).
    pub async fn on_event(&self, payload: &Value) -> Result<Value, ConsumerError> {
        consume(FUNCTION, payload, &self.dead_letters, |event| async move {
            match event {
                Event::OrderShipped(shipped) => self.ship(payload, shipped).await,
                other => Err(ConsumerError::permanent(format!(
                    "{FUNCTION} does not consume {}",
                    other.event_type().detail_type()
                ))),
            }
        })
        .await
    }

    async fn ship(
        &self,
        payload: &Value,
        shipped: Envelope<OrderShipped>,
    ) -> Result<Value, ConsumerError> {
        let id = shipped.data.order_id;
        let outcome = self
            .events
            .run_transactional(payload, || async {
                let order = self
                    .repo
                    .get(id)
                    .await
                    .map_err(|e| ConsumerError {
                        message: e.to_string(),
                        retryable: e.is_retryable(),
                    })?
                    .ok_or_else(|| {
                        ConsumerError::permanent(format!("order {id} does not exist"))
                    })?;
                Ok(match order.ship(Utc::now()) {
                    Shipment::Ship(order) => {
                        tracing::info!(orderId = %id, "order shipped");
                        (
                            json!({"orderId": id, "status": order.status}),
                            vec![self.repo.transition(&order, OrderStatus::Placed)],
                        )
                    }
                    Shipment::AlreadyShipped => {
                        tracing::info!(orderId = %id, "order already shipped");
                        (json!({"orderId": id, "status": order.status}), vec![])
                    }
                    Shipment::Canceled => {
                        // The warehouse shipped what the customer had canceled; the
                        // cancel stands and the mismatch is visible here.
                        tracing::warn!(orderId = %id, "a canceled order was shipped; it stays CANCELED");
                        (json!({"orderId": id, "status": order.status}), vec![])
                    }
                })
            })
            .await;
        match outcome {
            Ok(result) => Ok(result),
            // Our own classification: `From` would call every handler error transient.
            Err(IdempotencyError::Handler(e)) => Err(e),
            Err(e) => Err(e.into()),
        }
    }
}
