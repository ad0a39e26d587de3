//! Eventmart's shared library: the event contract every service speaks, the
//! idempotency library every consumer stands on, and the AWS plumbing every function
//! starts with.

pub mod aws;
pub mod events;
pub mod idempotency;
pub mod telemetry;
