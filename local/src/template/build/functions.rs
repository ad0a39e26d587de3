//! AWS::Serverless::Function: code, environment, timeouts, event invoke config, and its `Events`.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn function(
        &self,
        r: &Y,
        globals: Option<&Mapping>,
        stack: &mut Stack,
    ) -> Result<(), TemplateError> {
        let id = self.id;
        let binary = self.binary(r)?;
        let own = r
            .get("Properties")
            .cloned()
            .unwrap_or_else(|| Y::Mapping(Mapping::new()));
        let merged = match globals {
            Some(g) => merge_globals(&Y::Mapping(g.clone()), &own),
            None => own,
        };
        let j = self.props_of(&merged, FUNCTION_PROPS)?;
        let p = Obj::of(&j, self.loc())?;

        let runtime = runtime(&p)?;
        let architecture = architecture(&p)?;
        let environment = environment(&p)?;
        let logging = logging(&p)?;
        let async_config = async_config(&p, &merged, stack)?;
        let timeout = p.uint("Timeout", 1, 900)?.unwrap_or(3);
        stack.functions.push(Function {
            logical_id: id.to_owned(),
            name: self.reference()?,
            arn: self.attr("Arn")?,
            binary,
            runtime,
            handler: p.str("Handler")?,
            environment,
            timeout: Duration::from_secs(timeout.into()),
            memory_size: p.uint("MemorySize", 128, 10240)?.unwrap_or(128),
            architecture,
            reserved_concurrency: p.uint("ReservedConcurrentExecutions", 0, u32::MAX)?,
            logging,
            async_config,
        });

        if let Some(events) = p.obj("Events")? {
            self.events(&events, &merged, stack)?;
        }
        Ok(())
    }

    /// The function's `Events`, in template order, each built by its kind.
    fn events(&self, events: &Obj<'_>, merged: &Y, stack: &mut Stack) -> Result<(), TemplateError> {
        // Template order, which the resolved (sorted) map has lost.
        let names: Vec<String> = match raw_at(merged, &["Events"]).and_then(Y::as_mapping) {
            Some(m) => m
                .keys()
                .filter_map(|k| key_string(k, &events.loc).ok())
                .collect(),
            None => events.map.keys().cloned().collect(),
        };
        for name in &names {
            let Some(ev) = events.map.get(name) else {
                continue;
            };
            let name = name.as_str();
            let ev = Obj::of(ev, events.loc.key(name))?;
            ev.check(&["Type", "Properties"])?;
            let empty = J::Object(Default::default());
            let props = Obj::of(
                ev.get("Properties").unwrap_or(&empty),
                ev.loc.key("Properties"),
            )?;
            let raw = raw_at(merged, &["Events", name, "Properties"]);
            let e = Event { name, props, raw };
            match ev.req_str("Type")?.as_str() {
                "HttpApi" => self.route(e, stack)?,
                "EventBridgeRule" => self.rule(e, stack)?,
                "DynamoDB" => self.stream_mapping(e, stack)?,
                other => {
                    return Err(ev
                        .loc
                        .key("Type")
                        .err(format!("event type {other} is {NOT_SUPPORTED}")));
                }
            }
        }
        Ok(())
    }

    fn binary(&self, r: &Y) -> Result<String, TemplateError> {
        let loc = Loc::new(self.id, "Metadata");
        let meta = r.get("Metadata");
        let method = meta.and_then(|m| m.get("BuildMethod"));
        if method.and_then(Y::as_str) != Some("rust-cargolambda") {
            return Err(loc.key("BuildMethod").err(
                "must be rust-cargolambda: the local stack runs the function's cargo-lambda binary",
            ));
        }
        let props = meta.and_then(|m| m.get("BuildProperties"));
        if let Some(m) = props.and_then(Y::as_mapping) {
            check_keys(m, &["Binary"], &loc.key("BuildProperties"))?;
        }
        props
            .and_then(|p| p.get("Binary"))
            .and_then(Y::as_str)
            .filter(|b| !b.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                loc.key("BuildProperties.Binary")
                    .err("missing: name the cargo-lambda binary of this function")
            })
    }
}

/// `Runtime`: only the custom runtimes cargo-lambda builds for.
fn runtime(p: &Obj<'_>) -> Result<String, TemplateError> {
    let runtime = p.req_str("Runtime")?;
    if !runtime.starts_with("provided") {
        return Err(p.loc.key("Runtime").err(format!(
            "runtime {runtime} is {NOT_SUPPORTED}: it runs cargo-lambda binaries (provided.*)"
        )));
    }
    Ok(runtime)
}

/// `Architectures`: exactly one, x86_64 when absent.
fn architecture(p: &Obj<'_>) -> Result<Architecture, TemplateError> {
    Ok(match p.list("Architectures")? {
        None => Architecture::X86_64,
        Some(list) => {
            let loc = p.loc.key("Architectures");
            match list.as_slice() {
                [one] => match scalar_string(one, &loc)?.as_str() {
                    "x86_64" => Architecture::X86_64,
                    "arm64" => Architecture::Arm64,
                    other => return Err(loc.err(format!("unknown architecture {other}"))),
                },
                _ => return Err(loc.err("must list exactly one architecture")),
            }
        }
    })
}

/// `Environment.Variables`.
fn environment(p: &Obj<'_>) -> Result<BTreeMap<String, String>, TemplateError> {
    let mut environment = BTreeMap::new();
    if let Some(env) = p.obj("Environment")? {
        env.check(&["Variables"])?;
        if let Some(vars) = env.obj("Variables")? {
            for (k, v) in vars.map {
                environment.insert(k.clone(), scalar_string(v, &vars.loc.key(k))?);
            }
        }
    }
    Ok(environment)
}

/// `LoggingConfig`.
fn logging(p: &Obj<'_>) -> Result<Option<Logging>, TemplateError> {
    match p.obj("LoggingConfig")? {
        None => Ok(None),
        Some(l) => {
            l.check(&[
                "LogFormat",
                "ApplicationLogLevel",
                "SystemLogLevel",
                "LogGroup",
            ])?;
            Ok(Some(Logging {
                log_format: l.str("LogFormat")?,
                application_log_level: l.str("ApplicationLogLevel")?,
                system_log_level: l.str("SystemLogLevel")?,
            }))
        }
    }
}

/// `EventInvokeConfig`: retries, event age, and an SQS on-failure destination.
fn async_config(p: &Obj<'_>, merged: &Y, stack: &Stack) -> Result<AsyncConfig, TemplateError> {
    let mut async_config = AsyncConfig::default();
    if let Some(c) = p.obj("EventInvokeConfig")? {
        c.check(&[
            "MaximumRetryAttempts",
            "MaximumEventAgeInSeconds",
            "DestinationConfig",
        ])?;
        if let Some(n) = c.uint("MaximumRetryAttempts", 0, 2)? {
            async_config.maximum_retry_attempts = n;
        }
        if let Some(s) = c.uint("MaximumEventAgeInSeconds", 60, 21600)? {
            async_config.maximum_event_age = Duration::from_secs(s.into());
        }
        if let Some(d) = c.obj("DestinationConfig")? {
            d.check(&["OnFailure"])?;
            if let Some(f) = d.obj("OnFailure")? {
                f.check(&["Type", "Destination"])?;
                let t = f.req_str("Type")?;
                if t != "SQS" {
                    return Err(f.loc.key("Type").err(format!(
                        "destination type {t} is {NOT_SUPPORTED} (only SQS)"
                    )));
                }
                let raw = raw_at(
                    merged,
                    &[
                        "EventInvokeConfig",
                        "DestinationConfig",
                        "OnFailure",
                        "Destination",
                    ],
                );
                async_config.on_failure_queue = Some(queue_of(
                    stack,
                    raw,
                    f.get("Destination"),
                    &f.loc.key("Destination"),
                )?);
            }
        }
    }
    Ok(async_config)
}
