//! From template text to a [`Stack`]: sections, parameters, Globals, and one builder per
//! supported resource type.

use super::resolve::{Ctx, Loc, ResourceInfo, key_string, scalar_string};
use super::*;
use obj::Obj;
use serde_json::Value as J;
use serde_yaml::{Mapping, Value as Y};

mod buses;
mod cognito;
mod functions;
mod http_api;
mod lake;
mod mappings;
mod obj;
mod queues;
mod rules;
mod tables;

const SECTIONS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Transform",
    "Description",
    "Metadata",
    "Parameters",
    "Mappings",
    "Conditions",
    "Globals",
    "Resources",
    "Outputs",
];

const RESOURCE_KEYS: &[&str] = &[
    "Type",
    "Properties",
    "Metadata",
    "DependsOn",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "Condition",
];

/// Types accepted with no local effect: IAM (roles, policies, the bus's resource policy)
/// is not enforced locally and nothing local reads alarms or logs.
const IGNORED_TYPES: &[&str] = &[
    "AWS::CloudWatch::Alarm",
    "AWS::SQS::QueuePolicy",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::Logs::LogGroup",
    "AWS::Events::EventBusPolicy",
    "AWS::Lambda::Permission",
    "AWS::S3::BucketPolicy",
    "AWS::Logs::LogStream",
    "AWS::Athena::WorkGroup",
];

const NOT_SUPPORTED: &str = "not supported by the local stack";

const FUNCTION_PROPS: &[&str] = &[
    "Runtime",
    "Handler",
    "CodeUri",
    "Architectures",
    "MemorySize",
    "Timeout",
    "Tracing",
    "LoggingConfig",
    "Environment",
    "Policies",
    "Role",
    "PermissionsBoundary",
    "Events",
    "EventInvokeConfig",
    "Description",
    "FunctionName",
    "ReservedConcurrentExecutions",
    "EphemeralStorage",
    "Tags",
    "PropagateTags",
];

pub(super) fn build(
    yaml: &str,
    naming: &dyn Naming,
    overrides: &BTreeMap<String, String>,
) -> Result<Stack, TemplateError> {
    let top = Loc::new("", "");
    let root: Y =
        serde_yaml::from_str(yaml).map_err(|e| top.err(format!("not valid YAML: {e}")))?;
    check_sections(&root, &top)?;
    check_transform(root.get("Transform"))?;

    let parameters = parameters(root.get("Parameters"), overrides)?;
    let conditions = conditions(root.get("Conditions"))?;
    let mappings = match root.get("Mappings") {
        None => None,
        Some(m) => Some(
            m.as_mapping()
                .ok_or_else(|| Loc::new("Mappings", "").err("must be a map"))?,
        ),
    };
    let mut ctx = Ctx::new(naming, parameters.clone(), conditions, mappings);
    let order = register_resources(&root, &mut ctx)?;

    let globals = Globals::parse(root.get("Globals"))?;
    let mut stack = Stack {
        description: root
            .get("Description")
            .and_then(Y::as_str)
            .map(|s| s.trim().to_owned()),
        parameters,
        functions: Vec::new(),
        http_apis: Vec::new(),
        routes: Vec::new(),
        rules: Vec::new(),
        stream_mappings: Vec::new(),
        tables: Vec::new(),
        queues: Vec::new(),
        buses: Vec::new(),
        archives: Vec::new(),
        user_pools: Vec::new(),
        user_pool_clients: Vec::new(),
        user_pool_groups: Vec::new(),
        buckets: Vec::new(),
        glue_tables: Vec::new(),
        delivery_streams: Vec::new(),
        named_queries: Vec::new(),
        ignored: Vec::new(),
        outputs: BTreeMap::new(),
    };
    build_resources(&ctx, &order, &globals, &mut stack)?;
    stack.outputs = outputs(&ctx, root.get("Outputs"))?;
    Ok(stack)
}

/// The template is a map of known sections.
fn check_sections(root: &Y, top: &Loc) -> Result<(), TemplateError> {
    let root_map = root
        .as_mapping()
        .ok_or_else(|| top.err("a template is a YAML map of sections"))?;
    for k in root_map.keys() {
        let k = key_string(k, top)?;
        if !SECTIONS.contains(&k.as_str()) {
            return Err(Loc::new(&k, "").err(format!("section {NOT_SUPPORTED}")));
        }
    }
    Ok(())
}

/// The `Conditions` section by name, unevaluated.
fn conditions(section: Option<&Y>) -> Result<BTreeMap<String, &Y>, TemplateError> {
    Ok(match section {
        None => BTreeMap::new(),
        Some(c) => {
            let loc = Loc::new("Conditions", "");
            let m = c.as_mapping().ok_or_else(|| loc.err("must be a map"))?;
            let mut out = BTreeMap::new();
            for (k, v) in m {
                out.insert(key_string(k, &loc)?, v);
            }
            out
        }
    })
}

/// Checks each resource's shape, evaluates its condition and registers it in `ctx` (so
/// references resolve); returns the active ones in template order.
fn register_resources<'y>(
    root: &'y Y,
    ctx: &mut Ctx<'y>,
) -> Result<Vec<(String, &'y Y)>, TemplateError> {
    let resources = root
        .get("Resources")
        .and_then(Y::as_mapping)
        .ok_or_else(|| Loc::new("Resources", "").err("missing: a template needs resources"))?;
    let mut order: Vec<(String, &Y)> = Vec::new();
    for (k, r) in resources {
        let id = key_string(k, &Loc::new("Resources", ""))?;
        let loc = Loc::new(&id, "");
        let m = r
            .as_mapping()
            .ok_or_else(|| loc.err("a resource must be a map"))?;
        check_keys(m, RESOURCE_KEYS, &loc)?;
        let rtype = r
            .get("Type")
            .and_then(Y::as_str)
            .ok_or_else(|| loc.key("Type").err("missing"))?
            .to_owned();
        let active = match r.get("Condition") {
            None => true,
            Some(c) => {
                let cloc = loc.key("Condition");
                let name = c
                    .as_str()
                    .ok_or_else(|| cloc.err("must be a condition name"))?;
                ctx.condition(name, &cloc)?
            }
        };
        let properties = r.get("Properties");
        if let Some(p) = properties
            && !p.is_mapping()
        {
            return Err(loc.key("Properties").err("must be a map"));
        }
        ctx.resources.insert(
            id.clone(),
            ResourceInfo {
                rtype,
                properties,
                active,
            },
        );
        if active {
            order.push((id, r));
        }
    }
    Ok(order)
}

/// Builds the active resources into `stack`.
fn build_resources(
    ctx: &Ctx<'_>,
    order: &[(String, &Y)],
    globals: &Globals<'_>,
    stack: &mut Stack,
) -> Result<(), TemplateError> {
    // Functions last: their events refer to tables, queues, buses and APIs by value.
    for (id, r) in order {
        let rtype = r.get("Type").and_then(Y::as_str).unwrap_or_default();
        let b = Builder { ctx, id };
        match rtype {
            "AWS::Serverless::Function" => {}
            "AWS::DynamoDB::Table" => stack.tables.push(b.table(r)?),
            "AWS::SQS::Queue" => stack.queues.push(b.queue(r)?),
            "AWS::Events::EventBus" => stack.buses.push(b.bus(r)?),
            "AWS::Serverless::HttpApi" => stack.http_apis.push(b.http_api(r, globals.http_api)?),
            "AWS::Events::Archive" => {}
            "AWS::Cognito::UserPool" => stack.user_pools.push(b.user_pool(r)?),
            "AWS::Cognito::UserPoolClient" | "AWS::Cognito::UserPoolGroup" => {}
            "AWS::S3::Bucket" => stack.buckets.push(b.bucket(r)?),
            "AWS::Glue::Database" => b.glue_database(r)?,
            "AWS::Glue::Table" => stack.glue_tables.push(b.glue_table(r)?),
            // After the buckets and tables they name.
            "AWS::KinesisFirehose::DeliveryStream" | "AWS::Events::Rule" => {}
            "AWS::Athena::NamedQuery" => stack.named_queries.push(b.named_query(r)?),
            t if IGNORED_TYPES.contains(&t) => {
                // Resolved only so that a dangling reference is still an error.
                if let Some(p) = r.get("Properties") {
                    ctx.resolve(p, &Loc::new(id, "Properties"))?;
                }
                stack.ignored.push(IgnoredResource {
                    logical_id: id.clone(),
                    resource_type: t.to_owned(),
                });
            }
            t => {
                return Err(
                    Loc::new(id, "Type").err(format!("resource type {t} is {NOT_SUPPORTED}"))
                );
            }
        }
    }
    for (id, r) in order {
        let b = Builder { ctx, id };
        match r.get("Type").and_then(Y::as_str) {
            Some("AWS::Events::Archive") => {
                let a = b.archive(r, stack)?;
                stack.archives.push(a);
            }
            Some("AWS::Serverless::Function") => b.function(r, globals.function, stack)?,
            Some("AWS::KinesisFirehose::DeliveryStream") => {
                let d = b.delivery_stream(r, stack)?;
                stack.delivery_streams.push(d);
            }
            // After the pools, which they name.
            Some("AWS::Cognito::UserPoolClient") => {
                let client = b.user_pool_client(r, stack)?;
                stack.user_pool_clients.push(client);
            }
            Some("AWS::Cognito::UserPoolGroup") => {
                let group = b.user_pool_group(r, stack)?;
                stack.user_pool_groups.push(group);
            }
            _ => {}
        }
    }
    // Rules last: their targets are functions and delivery streams.
    for (id, r) in order {
        if r.get("Type").and_then(Y::as_str) == Some("AWS::Events::Rule") {
            Builder { ctx, id }.events_rule(r, stack)?;
        }
    }
    Ok(())
}

fn check_transform(t: Option<&Y>) -> Result<(), TemplateError> {
    const SAM: &str = "AWS::Serverless-2016-10-31";
    let loc = Loc::new("Transform", "");
    match t {
        None => Ok(()),
        Some(Y::String(s)) if s == SAM => Ok(()),
        Some(Y::Sequence(seq)) if seq.iter().all(|t| t.as_str() == Some(SAM)) => Ok(()),
        Some(_) => Err(loc.err(format!("only {SAM} is supported by the local stack"))),
    }
}

fn check_keys(m: &Mapping, allowed: &[&str], loc: &Loc) -> Result<(), TemplateError> {
    for k in m.keys() {
        let k = key_string(k, loc)?;
        if !allowed.contains(&k.as_str()) {
            return Err(loc.key(&k).err(NOT_SUPPORTED));
        }
    }
    Ok(())
}

fn parameters(
    section: Option<&Y>,
    overrides: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, TemplateError> {
    let empty = Mapping::new();
    let section = match section {
        None => &empty,
        Some(s) => s
            .as_mapping()
            .ok_or_else(|| Loc::new("Parameters", "").err("must be a map"))?,
    };
    let mut out = BTreeMap::new();
    for (k, def) in section {
        let name = key_string(k, &Loc::new("Parameters", ""))?;
        let loc = Loc::new("Parameters", &name);
        let def = def.as_mapping().ok_or_else(|| loc.err("must be a map"))?;
        let value = Parameter { def, loc }.value(overrides.get(&name))?;
        out.insert(name, value);
    }
    for name in overrides.keys() {
        if !out.contains_key(name) {
            return Err(Loc::new("Parameters", name)
                .err("override for a parameter the template does not declare"));
        }
    }
    Ok(out)
}

/// One parameter's definition.
struct Parameter<'y> {
    def: &'y Mapping,
    loc: Loc,
}

impl Parameter<'_> {
    const KEYS: &'static [&'static str] = &[
        "Type",
        "Default",
        "AllowedPattern",
        "AllowedValues",
        "ConstraintDescription",
        "Description",
        "MinLength",
        "MaxLength",
        "MinValue",
        "MaxValue",
        "NoEcho",
    ];

    /// Its value (the override, else the default), checked against its constraints.
    fn value(&self, overridden: Option<&String>) -> Result<String, TemplateError> {
        let loc = &self.loc;
        check_keys(self.def, Self::KEYS, loc)?;
        let ptype = self
            .literal("Type")?
            .ok_or_else(|| loc.key("Type").err("missing"))?;
        if ptype != "String" && ptype != "Number" {
            return Err(loc
                .key("Type")
                .err(format!("parameter type {ptype} is {NOT_SUPPORTED}")));
        }
        let (value, source) = match overridden {
            Some(v) => (v.clone(), "override"),
            None => (
                self.literal("Default")?.ok_or_else(|| {
                    loc.err("has no Default: give it a value with a parameter override")
                })?,
                "default",
            ),
        };
        let checked = Checked {
            value: &value,
            source,
            constraint: self
                .literal("ConstraintDescription")?
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
        };
        self.check_pattern(&checked)?;
        self.check_allowed_values(&checked)?;
        self.check_length(&checked)?;
        if ptype == "Number" {
            self.check_number(&checked)?;
        }
        Ok(value)
    }

    /// A scalar key's text.
    fn literal(&self, key: &str) -> Result<Option<String>, TemplateError> {
        match self.def.get(key) {
            None => Ok(None),
            Some(Y::String(s)) => Ok(Some(s.clone())),
            Some(Y::Number(n)) => Ok(Some(n.to_string())),
            Some(Y::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(self.loc.key(key).err("must be a literal value")),
        }
    }

    /// A numeric bound (`MinLength`, `MaxValue`, ...).
    fn bound(&self, key: &str) -> Result<Option<f64>, TemplateError> {
        self.literal(key)?
            .map(|s| {
                s.parse::<f64>()
                    .map_err(|_| self.loc.key(key).err("must be a number"))
            })
            .transpose()
    }

    fn check_pattern(&self, c: &Checked<'_>) -> Result<(), TemplateError> {
        let Checked {
            value,
            source,
            constraint,
        } = c;
        if let Some(pattern) = self.literal("AllowedPattern")? {
            // CloudFormation matches the whole value (Java regex semantics, which the
            // regex crate shares for the patterns templates use).
            let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                self.loc
                    .key("AllowedPattern")
                    .err(format!("bad pattern: {e}"))
            })?;
            if !re.is_match(value) {
                return Err(self.loc.err(format!(
                    "{source} value {value:?} does not match AllowedPattern {pattern}{constraint}"
                )));
            }
        }
        Ok(())
    }

    fn check_allowed_values(&self, c: &Checked<'_>) -> Result<(), TemplateError> {
        let Checked {
            value,
            source,
            constraint,
        } = c;
        if let Some(allowed) = self.def.get("AllowedValues") {
            let list = allowed
                .as_sequence()
                .ok_or_else(|| self.loc.key("AllowedValues").err("must be a list"))?;
            let ok = list.iter().any(|a| match a {
                Y::String(s) => s == value,
                Y::Number(n) => n.to_string() == *value,
                Y::Bool(b) => b.to_string() == *value,
                _ => false,
            });
            if !ok {
                return Err(self.loc.err(format!(
                    "{source} value {value:?} is not one of AllowedValues{constraint}"
                )));
            }
        }
        Ok(())
    }

    fn check_length(&self, c: &Checked<'_>) -> Result<(), TemplateError> {
        let Checked {
            value,
            source,
            constraint,
        } = c;
        let len = value.chars().count() as f64;
        if self.bound("MinLength")?.is_some_and(|m| len < m)
            || self.bound("MaxLength")?.is_some_and(|m| len > m)
        {
            return Err(self.loc.err(format!(
                "{source} value {value:?} violates MinLength/MaxLength{constraint}"
            )));
        }
        Ok(())
    }

    fn check_number(&self, c: &Checked<'_>) -> Result<(), TemplateError> {
        let Checked {
            value,
            source,
            constraint,
        } = c;
        let n: f64 = value.parse().map_err(|_| {
            self.loc
                .err(format!("{source} value {value:?} is not a number"))
        })?;
        if self.bound("MinValue")?.is_some_and(|m| n < m)
            || self.bound("MaxValue")?.is_some_and(|m| n > m)
        {
            return Err(self.loc.err(format!(
                "{source} value {value:?} violates MinValue/MaxValue{constraint}"
            )));
        }
        Ok(())
    }
}

/// A parameter value being checked, and how its errors name it.
struct Checked<'v> {
    value: &'v str,
    /// "override" or "default".
    source: &'static str,
    /// " (ConstraintDescription)", or empty.
    constraint: String,
}

struct Globals<'a> {
    function: Option<&'a Mapping>,
    http_api: Option<&'a Mapping>,
}

impl<'a> Globals<'a> {
    fn parse(section: Option<&'a Y>) -> Result<Globals<'a>, TemplateError> {
        let loc = Loc::new("Globals", "");
        let mut g = Globals {
            function: None,
            http_api: None,
        };
        let Some(section) = section else {
            return Ok(g);
        };
        let m = section
            .as_mapping()
            .ok_or_else(|| loc.err("must be a map"))?;
        for (k, v) in m {
            let k = key_string(k, &loc)?;
            let v = Some(
                v.as_mapping()
                    .ok_or_else(|| loc.key(&k).err("must be a map"))?,
            );
            match k.as_str() {
                "Function" => g.function = v,
                "HttpApi" => g.http_api = v,
                _ => return Err(loc.key(&k).err(NOT_SUPPORTED)),
            }
        }
        Ok(g)
    }
}

/// SAM's Globals merge: maps merge key by key (recursively), lists are concatenated with
/// the Globals' items first, anything else (scalars, intrinsics, type mismatches) is
/// replaced by the resource's value.
pub(super) fn merge_globals(global: &Y, local: &Y) -> Y {
    let intrinsic = |v: &Y| super::resolve::as_intrinsic(v).is_some();
    match (global, local) {
        (Y::Mapping(g), Y::Mapping(l)) if !intrinsic(global) && !intrinsic(local) => {
            let mut out = g.clone();
            for (k, lv) in l {
                let merged = match out.get(k) {
                    Some(gv) => merge_globals(gv, lv),
                    None => lv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Y::Mapping(out)
        }
        (Y::Sequence(g), Y::Sequence(l)) => Y::Sequence(g.iter().chain(l).cloned().collect()),
        _ => local.clone(),
    }
}

fn outputs(ctx: &Ctx<'_>, section: Option<&Y>) -> Result<BTreeMap<String, String>, TemplateError> {
    let mut out = BTreeMap::new();
    let Some(section) = section else {
        return Ok(out);
    };
    let loc = Loc::new("Outputs", "");
    let m = section
        .as_mapping()
        .ok_or_else(|| loc.err("must be a map"))?;
    for (k, o) in m {
        let name = key_string(k, &loc)?;
        let oloc = Loc::new("Outputs", &name);
        let om = o.as_mapping().ok_or_else(|| oloc.err("must be a map"))?;
        check_keys(om, &["Description", "Value", "Export", "Condition"], &oloc)?;
        if let Some(c) = o.get("Condition") {
            let cloc = oloc.key("Condition");
            let c = c
                .as_str()
                .ok_or_else(|| cloc.err("must be a condition name"))?;
            if !ctx.condition(c, &cloc)? {
                continue;
            }
        }
        let v = o
            .get("Value")
            .ok_or_else(|| oloc.key("Value").err("missing"))?;
        out.insert(name, ctx.string(v, &oloc.key("Value"))?);
    }
    Ok(out)
}

/// The raw (unresolved) value at a path of map keys.
fn raw_at<'y>(v: &'y Y, path: &[&str]) -> Option<&'y Y> {
    path.iter().try_fold(v, |cur, k| cur.get(*k))
}

struct Builder<'c, 'a> {
    ctx: &'c Ctx<'a>,
    id: &'c str,
}

impl Builder<'_, '_> {
    fn loc(&self) -> Loc {
        Loc::new(self.id, "Properties")
    }

    /// Checks the raw property names, then resolves the properties.
    fn props(&self, r: &Y, allowed: &[&str]) -> Result<J, TemplateError> {
        let empty = Y::Mapping(Mapping::new());
        let p = r.get("Properties").unwrap_or(&empty);
        self.props_of(p, allowed)
    }

    fn props_of(&self, p: &Y, allowed: &[&str]) -> Result<J, TemplateError> {
        let loc = self.loc();
        let m = p.as_mapping().ok_or_else(|| loc.err("must be a map"))?;
        check_keys(m, allowed, &loc)?;
        Ok(self
            .ctx
            .resolve(p, &loc)?
            .unwrap_or_else(|| J::Object(Default::default())))
    }

    fn reference(&self) -> Result<String, TemplateError> {
        let loc = Loc::new(self.id, "");
        match self.ctx.reference(self.id, &loc)? {
            Some(v) => scalar_string(&v, &loc),
            None => Err(loc.err("has no Ref value")),
        }
    }

    fn attr(&self, attr: &str) -> Result<String, TemplateError> {
        self.ctx.get_att(self.id, attr, &Loc::new(self.id, ""))
    }
}

/// One entry of a function's `Events`.
struct Event<'j, 'y> {
    name: &'j str,
    props: Obj<'j>,
    /// The same properties unresolved, for structural references.
    raw: Option<&'y Y>,
}

/// An event pattern from a template: a map, or (as CloudFormation also accepts) JSON text.
fn compile_pattern(v: &J, loc: &Loc) -> Result<(J, Pattern), TemplateError> {
    let value = match v {
        J::String(s) => serde_json::from_str(s)
            .map_err(|e| loc.err(format!("Event pattern is not valid JSON: {e}")))?,
        other => other.clone(),
    };
    let compiled = Pattern::from_value(&value).map_err(|e| loc.err(e.to_string()))?;
    Ok((value, compiled))
}

/// The logical id of the template queue a destination names.
fn queue_of(
    stack: &Stack,
    raw: Option<&Y>,
    resolved: Option<&J>,
    loc: &Loc,
) -> Result<String, TemplateError> {
    let arns = stack
        .queues
        .iter()
        .map(|q| (q.logical_id.as_str(), q.arn.as_str()));
    arn_target(raw, resolved, loc, arns)?.map_err(|arn| {
        loc.err(format!(
            "'{arn}' is not an SQS queue of this template (write !GetAtt <Queue>.Arn)"
        ))
    })
}

/// Which of `candidates` (logical id, ARN) an ARN property names: structurally from
/// `!GetAtt <Id>.Arn`, else by comparing the resolved ARN. The inner `Err` is the ARN
/// that matched none, for the caller's message.
fn arn_target<'a>(
    raw: Option<&Y>,
    resolved: Option<&J>,
    loc: &Loc,
    candidates: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> Result<Result<String, String>, TemplateError> {
    if let Some((id, attr)) = raw.and_then(Ctx::get_att_target)
        && attr == "Arn"
        && candidates.clone().any(|(c, _)| c == id)
    {
        return Ok(Ok(id));
    }
    let arn = scalar_string(resolved.ok_or_else(|| loc.err("missing (required)"))?, loc)?;
    Ok(candidates
        .clone()
        .find(|(_, a)| *a == arn)
        .map(|(id, _)| id.to_owned())
        .ok_or(arn))
}
