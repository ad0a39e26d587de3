//! The outbox-relay function (being built).
