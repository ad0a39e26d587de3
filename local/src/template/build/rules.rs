//! Rules: the functions' `EventBridgeRule` events and `AWS::Events::Rule` resources, with
//! their patterns, target input, retry policies and dead-letter queues.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn rule(&self, e: Event<'_, '_>, stack: &mut Stack) -> Result<(), TemplateError> {
        let p = &e.props;
        p.check(&[
            "EventBusName",
            "Pattern",
            "RetryPolicy",
            "DeadLetterConfig",
            "RuleName",
            "State",
            "Target",
            "Input",
            "InputPath",
            "InputTransformer",
        ])?;
        let (pattern, compiled) = compile_pattern(
            p.get("Pattern")
                .ok_or_else(|| p.loc.key("Pattern").err("missing (required)"))?,
            &p.loc.key("Pattern"),
        )?;
        let bus = bus_name(p.str("EventBusName")?, stack, &p.loc.key("EventBusName"))?;
        let retry_policy = retry_policy(p)?;
        let dead_letter_queue = match p.obj("DeadLetterConfig")? {
            None => None,
            Some(d) => {
                d.check(&["Arn"])?;
                let raw = e.raw.and_then(|r| raw_at(r, &["DeadLetterConfig", "Arn"]));
                Some(queue_of(stack, raw, d.get("Arn"), &d.loc.key("Arn"))?)
            }
        };
        let enabled = rule_state(p.str("State")?.as_deref(), &p.loc.key("State"))?;
        let target_id = match p.obj("Target")? {
            None => format!("{}{}LambdaTarget", self.id, e.name),
            Some(t) => {
                t.check(&["Id"])?;
                t.req_str("Id")?
            }
        };
        let name = p
            .str("RuleName")?
            .unwrap_or_else(|| format!("{}{}", self.id, e.name));
        if stack.rules.iter().any(|r| r.bus == bus && r.name == name) {
            return Err(p
                .loc
                .err(format!("a rule named {name} already exists on bus {bus}")));
        }
        let input = target_input(&J::Object(p.map.clone()), &p.loc)?;
        stack.rules.push(Rule {
            name,
            bus,
            pattern,
            compiled,
            target: RuleTarget::Function(self.id.to_owned()),
            event: e.name.to_owned(),
            target_id,
            input,
            enabled,
            retry_policy,
            dead_letter_queue,
        });
        Ok(())
    }

    /// An `AWS::Events::Rule`: one [`Rule`] per target. A target is a function or a
    /// delivery stream of this template.
    pub(super) fn events_rule(&self, r: &Y, stack: &mut Stack) -> Result<(), TemplateError> {
        let j = self.props(
            r,
            &[
                "Name",
                "Description",
                "EventBusName",
                "EventPattern",
                "State",
                "Targets",
                "RoleArn",
            ],
        )?;
        let p = Obj::of(&j, self.loc())?;
        let (pattern, compiled) = compile_pattern(
            p.get("EventPattern").ok_or_else(|| {
                p.loc
                    .key("EventPattern")
                    .err("missing (this local stack runs pattern rules only)")
            })?,
            &p.loc.key("EventPattern"),
        )?;
        let bus = bus_name(p.str("EventBusName")?, stack, &p.loc.key("EventBusName"))?;
        let enabled = rule_state(p.str("State")?.as_deref(), &p.loc.key("State"))?;
        let name = p.str("Name")?.unwrap_or_else(|| self.id.to_owned());
        if stack.rules.iter().any(|r| r.bus == bus && r.name == name) {
            return Err(p
                .loc
                .err(format!("a rule named {name} already exists on bus {bus}")));
        }
        let targets = p.list("Targets")?.cloned().unwrap_or_default();
        if targets.is_empty() {
            return Err(p.loc.key("Targets").err("a rule needs at least one target"));
        }
        let raw_targets = raw_at(r, &["Properties", "Targets"]).and_then(Y::as_sequence);
        for (i, t) in targets.iter().enumerate() {
            let t = Obj::of(t, p.loc.key(&format!("Targets[{i}]")))?;
            t.check(&[
                "Id",
                "Arn",
                "RoleArn",
                "RetryPolicy",
                "DeadLetterConfig",
                "Input",
                "InputPath",
                "InputTransformer",
            ])?;
            let raw = raw_targets.and_then(|ts| ts.get(i));
            let target = target_of(
                stack,
                raw.and_then(|t| t.get("Arn")),
                t.get("Arn"),
                &t.loc.key("Arn"),
            )?;
            let dead_letter_queue = match t.obj("DeadLetterConfig")? {
                None => None,
                Some(d) => {
                    d.check(&["Arn"])?;
                    let raw = raw.and_then(|r| raw_at(r, &["DeadLetterConfig", "Arn"]));
                    Some(queue_of(stack, raw, d.get("Arn"), &d.loc.key("Arn"))?)
                }
            };
            stack.rules.push(Rule {
                name: name.clone(),
                bus: bus.clone(),
                pattern: pattern.clone(),
                compiled: compiled.clone(),
                target,
                event: self.id.to_owned(),
                target_id: t.req_str("Id")?,
                input: target_input(&J::Object(t.map.clone()), &t.loc)?,
                enabled,
                retry_policy: retry_policy(&t)?,
                dead_letter_queue,
            });
        }
        Ok(())
    }
}

/// The function or delivery stream a target's ARN names.
fn target_of(
    stack: &Stack,
    raw: Option<&Y>,
    resolved: Option<&J>,
    loc: &Loc,
) -> Result<RuleTarget, TemplateError> {
    let streams = stack
        .delivery_streams
        .iter()
        .map(|d| (d.logical_id.as_str(), d.arn.as_str()));
    let functions = stack
        .functions
        .iter()
        .map(|f| (f.logical_id.as_str(), f.arn.as_str()));
    let id = arn_target(raw, resolved, loc, streams.chain(functions))?.map_err(|arn| {
        loc.err(format!(
            "'{arn}' is neither a function nor a delivery stream of this template"
        ))
    })?;
    Ok(match stack.delivery_stream(&id) {
        Some(_) => RuleTarget::DeliveryStream(id),
        None => RuleTarget::Function(id),
    })
}

/// A target's `Input`, `InputPath` or `InputTransformer`, validated as PutTargets does.
fn target_input(target: &J, loc: &Loc) -> Result<TargetInput, TemplateError> {
    TargetInput::from_target(target).map_err(|e| loc.err(e.to_string()))
}

/// `EventBusName`: `default` when absent; an ARN names the bus after `event-bus/`.
fn bus_name(given: Option<String>, stack: &Stack, loc: &Loc) -> Result<String, TemplateError> {
    let bus = match given {
        None => "default".to_owned(),
        Some(b) => match b.rsplit_once(":event-bus/") {
            Some((_, name)) if b.starts_with("arn:") => name.to_owned(),
            _ => b,
        },
    };
    if bus != "default" && !stack.buses.iter().any(|b| b.name == bus) {
        return Err(loc.err(format!(
            "bus '{bus}' is neither 'default' nor an AWS::Events::EventBus of this template"
        )));
    }
    Ok(bus)
}

/// `State`: `DISABLED` gives false.
fn rule_state(state: Option<&str>, loc: &Loc) -> Result<bool, TemplateError> {
    match state {
        None | Some("ENABLED") | Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") => Ok(true),
        Some("DISABLED") => Ok(false),
        Some(other) => Err(loc.err(format!("unknown state {other}"))),
    }
}

/// A target's `RetryPolicy`, EventBridge's defaults where absent.
fn retry_policy(target: &Obj<'_>) -> Result<RetryPolicy, TemplateError> {
    let mut policy = RetryPolicy::default();
    if let Some(r) = target.obj("RetryPolicy")? {
        r.check(&["MaximumRetryAttempts", "MaximumEventAgeInSeconds"])?;
        if let Some(n) = r.uint("MaximumRetryAttempts", 0, 185)? {
            policy.maximum_retry_attempts = n;
        }
        if let Some(s) = r.uint("MaximumEventAgeInSeconds", 60, 86400)? {
            policy.maximum_event_age = Duration::from_secs(s.into());
        }
    }
    Ok(policy)
}
