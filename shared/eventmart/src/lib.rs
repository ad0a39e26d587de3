//! Eventmart's shared library: the event contract every service speaks and the Lambda
//! plumbing every function starts with. The idempotency library every consumer stands on
//! is a crate of its own (`dynamodb-idempotency`), as is the retry classification every
//! port error uses (`retryable`).

pub mod auth;
pub mod aws;
pub mod consumer;
pub mod dynamo;
pub mod events;
pub mod http;
pub mod lambda;
pub mod outbox;
pub mod producer;
pub mod telemetry;
