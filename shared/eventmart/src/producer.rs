//! What the HTTP producers (orders, memberships) share: the refusals a command can meet,
//! and committing a command's writes with or without an `Idempotency-Key`.
