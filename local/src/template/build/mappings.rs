//! The functions' `DynamoDB` events: stream event source mappings with their filters.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn stream_mapping(
        &self,
        e: Event<'_, '_>,
        stack: &mut Stack,
    ) -> Result<(), TemplateError> {
        let p = &e.props;
        p.check(&[
            "Stream",
            "StartingPosition",
            "BatchSize",
            "MaximumBatchingWindowInSeconds",
            "BisectBatchOnFunctionError",
            "MaximumRetryAttempts",
            "MaximumRecordAgeInSeconds",
            "FunctionResponseTypes",
            "FilterCriteria",
            "DestinationConfig",
            "ParallelizationFactor",
            "Enabled",
        ])?;
        let stream_arn = p.req_str("Stream")?;
        let table = streamed_table(p, e.raw, stack, &stream_arn)?;
        let starting_position = starting_position(p)?;
        let report_batch_item_failures = reports_batch_item_failures(p)?;
        let filters = filters(p)?;
        let on_failure_queue = on_failure_queue(p, e.raw, stack)?;
        let retries = p.int("MaximumRetryAttempts", -1, 10000)?.unwrap_or(-1);
        let age = p
            .int("MaximumRecordAgeInSeconds", -1, 604800)?
            .unwrap_or(-1);
        if (0..60).contains(&age) {
            return Err(p
                .loc
                .key("MaximumRecordAgeInSeconds")
                .err("must be -1 or 60..=604800"));
        }
        stack.stream_mappings.push(StreamMapping {
            function: self.id.to_owned(),
            event: e.name.to_owned(),
            table,
            stream_arn,
            enabled: p.bool("Enabled")?.unwrap_or(true),
            batch_size: p.uint("BatchSize", 1, 10000)?.unwrap_or(100),
            maximum_batching_window: Duration::from_secs(
                p.uint("MaximumBatchingWindowInSeconds", 0, 300)?
                    .unwrap_or(0)
                    .into(),
            ),
            starting_position,
            bisect_batch_on_function_error: p.bool("BisectBatchOnFunctionError")?.unwrap_or(false),
            maximum_retry_attempts: u32::try_from(retries).ok(),
            maximum_record_age: u64::try_from(age).ok().map(Duration::from_secs),
            report_batch_item_failures,
            parallelization_factor: p.uint("ParallelizationFactor", 1, 10)?.unwrap_or(1),
            filters,
            on_failure_queue,
        });
        Ok(())
    }
}

/// The logical id of the template table whose stream `Stream` names: structurally from
/// `!GetAtt <Table>.StreamArn`, else by comparing the resolved ARN with the tables'.
fn streamed_table(
    p: &Obj<'_>,
    raw: Option<&Y>,
    stack: &Stack,
    stream_arn: &str,
) -> Result<String, TemplateError> {
    let sloc = p.loc.key("Stream");
    let structural = raw
        .and_then(|r| r.get("Stream"))
        .and_then(Ctx::get_att_target)
        .filter(|(_, attr)| attr == "StreamArn")
        .and_then(|(id, _)| stack.table(&id));
    let table = structural
        .or_else(|| {
            stack
                .tables
                .iter()
                .find(|t| t.stream_arn.as_deref() == Some(stream_arn))
        })
        .ok_or_else(|| sloc.err("must be !GetAtt <Table>.StreamArn of a table of this template"))?;
    if table.stream_arn.is_none() {
        return Err(sloc.err(format!(
            "table {} has no StreamSpecification",
            table.logical_id
        )));
    }
    Ok(table.logical_id.clone())
}

fn starting_position(p: &Obj<'_>) -> Result<StartingPosition, TemplateError> {
    match p.req_str("StartingPosition")?.as_str() {
        "TRIM_HORIZON" => Ok(StartingPosition::TrimHorizon),
        "LATEST" => Ok(StartingPosition::Latest),
        other => Err(p
            .loc
            .key("StartingPosition")
            .err(format!("{other} is not TRIM_HORIZON or LATEST"))),
    }
}

/// Whether `FunctionResponseTypes` lists `ReportBatchItemFailures` (the only type).
fn reports_batch_item_failures(p: &Obj<'_>) -> Result<bool, TemplateError> {
    let mut report_batch_item_failures = false;
    if let Some(types) = p.list("FunctionResponseTypes")? {
        for (i, t) in types.iter().enumerate() {
            let loc = p.loc.key("FunctionResponseTypes").idx(i);
            match scalar_string(t, &loc)?.as_str() {
                "ReportBatchItemFailures" => report_batch_item_failures = true,
                other => return Err(loc.err(format!("unknown response type {other}"))),
            }
        }
    }
    Ok(report_batch_item_failures)
}

/// `FilterCriteria.Filters`, each pattern compiled.
fn filters(p: &Obj<'_>) -> Result<Vec<Filter>, TemplateError> {
    let mut filters = Vec::new();
    if let Some(fc) = p.obj("FilterCriteria")? {
        fc.check(&["Filters"])?;
        for (i, f) in fc.list("Filters")?.into_iter().flatten().enumerate() {
            let f = Obj::of(f, fc.loc.key("Filters").idx(i))?;
            f.check(&["Pattern"])?;
            let ploc = f.loc.key("Pattern");
            let text = match f.get("Pattern") {
                Some(J::String(s)) => s.clone(),
                // CloudFormation wants text; a map is accepted as the same JSON.
                Some(v @ J::Object(_)) => v.to_string(),
                _ => return Err(ploc.err("missing (a JSON pattern string)")),
            };
            let compiled = Pattern::parse(&text).map_err(|e| ploc.err(e.to_string()))?;
            filters.push(Filter {
                pattern: text,
                compiled,
            });
        }
    }
    Ok(filters)
}

/// `DestinationConfig.OnFailure`: an SQS queue of this template.
fn on_failure_queue(
    p: &Obj<'_>,
    raw: Option<&Y>,
    stack: &Stack,
) -> Result<Option<String>, TemplateError> {
    let Some(d) = p.obj("DestinationConfig")? else {
        return Ok(None);
    };
    d.check(&["OnFailure"])?;
    let Some(f) = d.obj("OnFailure")? else {
        return Ok(None);
    };
    f.check(&["Type", "Destination"])?;
    if let Some(t) = f.str("Type")?
        && t != "SQS"
    {
        return Err(f.loc.key("Type").err(format!(
            "destination type {t} is {NOT_SUPPORTED} (only SQS)"
        )));
    }
    let raw = raw.and_then(|r| raw_at(r, &["DestinationConfig", "OnFailure", "Destination"]));
    Ok(Some(queue_of(
        stack,
        raw,
        f.get("Destination"),
        &f.loc.key("Destination"),
    )?))
}
