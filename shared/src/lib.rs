//! Eventmart's shared library: the event contract every service speaks, the
//! idempotency library every consumer stands on, and the AWS plumbing every function
//! starts with.

pub mod aws;
pub mod consumer;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod lambda;
pub mod outbox;
pub mod telemetry;
