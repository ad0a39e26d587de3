//! The functions' `EventBridgeRule` events: rules with their patterns, retry policies and dead-letter queues.

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
        ])?;
        let (pattern, compiled) = compile_pattern(
            p.get("Pattern")
                .ok_or_else(|| p.loc.key("Pattern").err("missing (required)"))?,
            &p.loc.key("Pattern"),
        )?;
        let bus = match p.str("EventBusName")? {
            None => "default".to_owned(),
            // An ARN names the bus after `event-bus/`.
            Some(b) => match b.rsplit_once(":event-bus/") {
                Some((_, name)) if b.starts_with("arn:") => name.to_owned(),
                _ => b,
            },
        };
        if bus != "default" && !stack.buses.iter().any(|b| b.name == bus) {
            return Err(p.loc.key("EventBusName").err(format!(
                "bus '{bus}' is neither 'default' nor an AWS::Events::EventBus of this template"
            )));
        }
        let mut retry_policy = RetryPolicy::default();
        if let Some(r) = p.obj("RetryPolicy")? {
            r.check(&["MaximumRetryAttempts", "MaximumEventAgeInSeconds"])?;
            if let Some(n) = r.uint("MaximumRetryAttempts", 0, 185)? {
                retry_policy.maximum_retry_attempts = n;
            }
            if let Some(s) = r.uint("MaximumEventAgeInSeconds", 60, 86400)? {
                retry_policy.maximum_event_age = Duration::from_secs(s.into());
            }
        }
        let dead_letter_queue = match p.obj("DeadLetterConfig")? {
            None => None,
            Some(d) => {
                d.check(&["Arn"])?;
                let raw = e.raw.and_then(|r| raw_at(r, &["DeadLetterConfig", "Arn"]));
                Some(queue_of(stack, raw, d.get("Arn"), &d.loc.key("Arn"))?)
            }
        };
        let enabled = match p.str("State")?.as_deref() {
            None | Some("ENABLED") | Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") => true,
            Some("DISABLED") => false,
            Some(other) => return Err(p.loc.key("State").err(format!("unknown state {other}"))),
        };
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
        stack.rules.push(Rule {
            name,
            bus,
            pattern,
            compiled,
            function: self.id.to_owned(),
            event: e.name.to_owned(),
            target_id,
            enabled,
            retry_policy,
            dead_letter_queue,
        });
        Ok(())
    }
}
