//! Reading the shards: listing them, following their iterators, filtering records into
//! each shard's buffer and handing due batches to [`Mapping::process`].

use super::records::record_json;
use super::{Mapping, Rec, ShardState, StartingPosition, add};
use aws_sdk_dynamodbstreams::operation::get_records::GetRecordsOutput;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde_json::Value;
use std::time::{Duration, Instant};

impl Mapping {
    fn stopping(&self) -> bool {
        *self.shared.shutdown.borrow()
    }

    pub(super) async fn sleep(&self, d: Duration) -> bool {
        let mut stop = self.shared.shutdown.subscribe();
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    fn poll_error(&self, what: &str, message: String) {
        add(&self.shared.counters.poll_errors, 1);
        tracing::warn!(table = %self.spec.table_name, "stream poll: {what}: {message}");
    }

    pub(super) async fn run(&mut self) {
        let mut round = 0u64;
        while !self.stopping() {
            round += 1;
            self.progress.send_modify(|p| p.cycle = round);
            let mut busy = false;
            // Shards are few and rarely change locally; list them every few rounds.
            if round % 10 == 1 && !self.refresh_shards().await {
                busy = true;
            }
            for i in 0..self.shards.len() {
                if self.stopping() {
                    return;
                }
                busy |= self.poll_shard(i).await;
            }
            // Records held for the batching window are work still to do.
            let holding = self.shards.iter().any(|s| !s.buffer.is_empty());
            if !busy && !holding {
                self.progress.send_modify(|p| p.quiet = round);
            }
            if !self.sleep(self.shared.options.poll_interval).await {
                return;
            }
        }
    }

    /// Adds new shards; false when listing failed.
    async fn refresh_shards(&mut self) -> bool {
        let mut start: Option<String> = None;
        let mut found = Vec::new();
        loop {
            let resp = self
                .shared
                .streams
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await;
            let desc = match resp {
                Ok(r) => r,
                Err(e) => {
                    self.poll_error(
                        "DescribeStream",
                        aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string(),
                    );
                    return false;
                }
            };
            let Some(d) = desc.stream_description() else {
                break;
            };
            for s in d.shards() {
                if let Some(id) = s.shard_id() {
                    found.push((id.to_owned(), s.parent_shard_id().map(str::to_owned)));
                }
            }
            match d.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        let latest_for_existing = self.first_listing;
        self.first_listing = false;
        for (id, parent) in found {
            if self.shards.iter().any(|s| s.id == id) {
                continue;
            }
            // LATEST applies to shards present at start; later (child) shards are read
            // from their beginning so nothing is skipped.
            let started =
                !(latest_for_existing && self.spec.starting_position == StartingPosition::Latest);
            self.shards.push(ShardState {
                id,
                parent,
                iterator: None,
                checkpoint: None,
                buffer: Vec::new(),
                buffered_since: None,
                done: false,
                started,
            });
        }
        true
    }

    async fn shard_iterator(&self, i: usize) -> Option<String> {
        let shard = &self.shards[i];
        let mut req = self
            .shared
            .streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&shard.id);
        req = match (&shard.checkpoint, shard.started) {
            (Some(seq), _) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
            (None, true) => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            (None, false) => req.shard_iterator_type(ShardIteratorType::Latest),
        };
        match req.send().await {
            Ok(r) => r.shard_iterator().map(str::to_owned),
            Err(e) => {
                self.poll_error(
                    "GetShardIterator",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string(),
                );
                None
            }
        }
    }

    /// Reads one page of a shard and sends what is due. True when there was work.
    async fn poll_shard(&mut self, i: usize) -> bool {
        if self.shards[i].done {
            return false;
        }
        // A child shard waits until its parent is fully read, keeping key order.
        if let Some(parent) = &self.shards[i].parent
            && self.shards.iter().any(|s| &s.id == parent && !s.done)
        {
            return false;
        }
        if self.shards[i].iterator.is_none() {
            match self.shard_iterator(i).await {
                Some(it) => {
                    self.shards[i].iterator = Some(it);
                    self.shards[i].started = true;
                }
                None => return true,
            }
        }
        let Some(iterator) = self.shards[i].iterator.clone() else {
            return true;
        };
        let resp = self
            .shared
            .streams
            .get_records()
            .shard_iterator(iterator)
            .limit(self.spec.batch_size.min(1000) as i32)
            .send()
            .await;
        let out = match resp {
            Ok(o) => o,
            Err(e) => {
                // An expired or invalid iterator: get a new one from the checkpoint.
                self.shards[i].iterator = None;
                self.poll_error(
                    "GetRecords",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string(),
                );
                return true;
            }
        };
        let got = !out.records().is_empty();
        self.buffer_page(i, &out);
        if self.flush_if_due(i).await {
            return true;
        }
        got || !self.shards[i].buffer.is_empty()
    }

    /// Buffers a page's records that pass the filters, advancing the checkpoint past every
    /// record read, and moves to the page's next iterator (none: the shard is closed).
    fn buffer_page(&mut self, i: usize, out: &GetRecordsOutput) {
        let records = out.records();
        add(&self.shared.counters.records_read, records.len() as u64);
        for r in records {
            let rec = record_json(r, &self.stream_arn, &self.shared.options.region);
            let Some(seq) = rec
                .pointer("/dynamodb/SequenceNumber")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            let shard = &mut self.shards[i];
            shard.checkpoint = Some(seq.clone());
            if self.spec.filters.is_empty() || self.spec.filters.iter().any(|f| f.matches(&rec)) {
                shard.buffered_since.get_or_insert_with(Instant::now);
                shard.buffer.push(Rec { seq, json: rec });
            } else {
                add(&self.shared.counters.records_filtered_out, 1);
            }
        }
        match out.next_shard_iterator() {
            Some(next) => self.shards[i].iterator = Some(next.to_owned()),
            None => {
                self.shards[i].iterator = None;
                self.shards[i].done = true;
            }
        }
    }

    /// Sends the buffer when due. True when it sent.
    async fn flush_if_due(&mut self, i: usize) -> bool {
        let shard = &self.shards[i];
        let window_over = shard
            .buffered_since
            .is_some_and(|t| t.elapsed() >= self.spec.batching_window);
        // Send when a batch is full, the window is over, or the stream has no more for
        // now (a short page means we are caught up).
        let due = shard.buffer.len() >= self.spec.batch_size
            || window_over
            || (shard.done && !shard.buffer.is_empty());
        if due {
            let buffer = std::mem::take(&mut self.shards[i].buffer);
            self.shards[i].buffered_since = None;
            for chunk in buffer.chunks(self.spec.batch_size) {
                self.process(i, chunk.to_vec()).await;
            }
            return true;
        }
        false
    }
}
