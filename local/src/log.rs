//! The stack's log lines: one line per event worth telling (a delivery attempt, a stream
//! batch, an invocation report), written to stderr so that a CLI's stdout stays its own,
//! one `eprintln!` each so that lines of concurrent work never interleave.

/// How the stack's parts write their lines (deliveries, stream batches, reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogMode {
    /// `bus ItemAdded 3f1c… rule=Items target=IndexFunction delivery#1 ok`
    #[default]
    Human,
    /// One JSON object per line.
    Json,
    /// Nothing (counters and `delivery_log` still work).
    Quiet,
}

/// Writes one line in `mode`; the line is only formatted if it is written.
pub fn write_line(
    mode: LogMode,
    human: impl FnOnce() -> String,
    json: impl FnOnce() -> serde_json::Value,
) {
    match mode {
        LogMode::Human => eprintln!("{}", human()),
        LogMode::Json => eprintln!("{}", json()),
        LogMode::Quiet => {}
    }
}
