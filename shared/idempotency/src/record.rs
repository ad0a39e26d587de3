use super::EpochMillis;

/// The state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Completed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "INPROGRESS",
            Status::Completed => "COMPLETED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "INPROGRESS" => Some(Status::InProgress),
            "COMPLETED" => Some(Status::Completed),
            _ => None,
        }
    }
}

/// One idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `<function name>#<key>`.
    pub key: String,
    pub status: Status,
    /// Seconds since the epoch after which the record no longer answers (the TTL attribute).
    pub expiry: i64,
    /// Milliseconds since the epoch after which an INPROGRESS claim may be taken over.
    pub in_progress_expiry: Option<EpochMillis>,
    /// The handler's result, as JSON.
    pub data: Option<String>,
    /// Hash of the validated part of the payload.
    pub payload_hash: Option<String>,
}

impl Record {
    /// Whether the record no longer holds its key: the store's condition, in code.
    pub fn is_expired(&self, now: EpochMillis) -> bool {
        self.expiry < now / 1000
            || (self.status == Status::InProgress
                && self.in_progress_expiry.is_some_and(|t| t < now))
    }
}
