//! The notifications function: emails customers about their orders and memberships.
//!
//! | event | effect |
//! | --- | --- |
//! | `OrderPlaced` | order summary email: the lines, the subtotal, the member discount (plan and rate) when the order had one, and the total to pay |
//! | `OrderCanceled` | cancel email stating the refund (the event's `total`, what was paid after any member discount) and the fulfillment outcome when it is known |
//! | `OrderShipped` | "on its way" email |
//! | `MembershipSignedUp` | welcome email with the plan and what it saves on every order (the catalog's `Plan::discount`) |
//! | `MembershipCanceled` | the "please come back" email |
//! | `FulfillmentCanceled`, `FulfillmentCancelRejected` | no email: `OUTCOME#<orderId>` (`CANCELED` / `REJECTED`) is recorded for a later cancel email |
//!
//! Every email that goes out is recorded as `MESSAGE#<eventId>` (`eventId`, `template`,
//! `recipientHash` = hex SHA-256 of the lower-cased address, `sesMessageId`, `sentAt`,
//! `correlationId`). Addresses are never logged nor stored.
//!
//! # Amounts in the emails
//!
//! Amounts are shown from the events' minor units with the currency's digits after the
//! point, from the contract's one table (`Currency::minor_digits`): `10350` EUR is
//! `103.50 EUR`, `10350` JPY is `10350 JPY`, `10350` KWD is `10.350 KWD`. The order email
//! shows the amounts the event carries and computes none of them but the line totals
//! (quantity × unit price): the discount as `−11.49 EUR` under
//! `Member discount (annual plan, 10%)`, with the rate the event gives
//! (`membership.discountBasisPoints`, the plan's rate when the order was placed), shown
//! exactly (`500` basis points as `5%`, `250` as `2.5%`, `1` as `0.01%`). A non-member's
//! order has no discount line; a member's order whose discount rounded down to nothing
//! says "none on this order" rather than showing a zero discount.
//!
//! # Outcomes and the cancel email
//!
//! The cancel email says what is known when it is sent. If `OrderCanceled` arrives
//! before fulfillment's outcome, the email says the shipment is being stopped and asks
//! for a return if it had already left; the outcome that arrives later is recorded but
//! sends no second email: one event, at most one email.
//!
//! # What "never two emails for one event" means, exactly
//!
//! An email is an effect outside DynamoDB, so it cannot commit in the same transaction
//! as the idempotency record, and no design can make an external effect both
//! at-least-once and at-most-once. This function uses [`Idempotency::run`]:
//!
//! 1. claim `notifications#<eventId>` (INPROGRESS, in-progress expiry = the Lambda
//!    invocation's deadline); a duplicate meets the claim and sends nothing (a
//!    completed one is answered from the record; a concurrent one waits, within its own
//!    deadline, for the holder to complete and is answered from the record, or, out of
//!    time, gets a retryable error and, on retry, the completed answer);
//! 2. if `MESSAGE#<eventId>` exists, the email already went out: send nothing;
//! 3. send through SES; 4. write `MESSAGE#<eventId>` (condition `attribute_not_exists`);
//! 5. mark the claim COMPLETED.
//!
//! Guarantees:
//!
//! * Duplicates of any number, sequential or concurrent, while the claim or the message
//!   record exists: exactly one `SendEmail`. Replays after the idempotency record
//!   expired (24 hours) are caught by step 2.
//! * SES refuses the message (permanent): nothing was sent, the claim is released, the
//!   event goes to the dead-letter queue with SES's reason. Throttling, 5xx, network:
//!   nothing was sent (SES sends only on success), the claim is released, and the error
//!   goes back to Lambda, which retries.
//! * The process dies (timeout, crash) **after SES accepted the email and before
//!   `MESSAGE#<eventId>` is written**: nothing records the send. Once the claim's
//!   in-progress expiry (the dead invocation's deadline) has passed, Lambda's retry
//!   claims the event again and **the email is sent a second time**. This window is
//!   the SES call's return trip plus one `PutItem`; it cannot be closed, only narrowed.
//!   Shortening it further would need SES to de-duplicate by a client token, which
//!   SendEmail does not offer.
//! * The process dies after step 4: the retry finds the message record and sends
//!   nothing. If writing the record fails after the send (it is retried until a second
//!   before the deadline), the invocation still succeeds, the claim is completed with the
//!   SES message id, and the missing record is logged as an error with that id: no
//!   retry, no second email. Every store call after the send is bounded by the deadline,
//!   so the instance answers rather than being killed mid-retry (a killed invocation is
//!   retried by Lambda, which would send again).
//! * DynamoDB down from the send to the end of the invocation: neither the record nor the
//!   completion lands. The invocation succeeds (one email), but the claim expires at the
//!   deadline, so a *later copy* of the event (a duplicate delivery, a replay) finds
//!   nothing and sends the email again.
//! * If SES timed out after accepting the message, the handler sees a transient error and
//!   the retry sends again: the same window, seen from the network.
//!
//! [`Idempotency::run`]: dynamodb_idempotency::Idempotency::run

pub mod app;
pub mod domain;
mod dynamo;
mod events;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod ports;
mod ses;
pub mod templates;
#[cfg(test)]
mod tests;

pub use app::{App, Clients, Deployed, FUNCTION, Settings, build, build_with, from_env};
pub use domain::{Delivery, FulfillmentOutcome, MessageRecord, recipient_hash};
pub use dynamo::{DynamoMessageLog, message_key, outcome_key};
pub use events::NotifyError;
pub use ses::SesMailer;
