//! From template text to a [`Stack`]: sections, parameters, Globals, and one builder per
//! supported resource type.

use super::resolve::{Ctx, Loc, ResourceInfo, key_string, scalar_string};
use super::*;
use serde_json::Value as J;
use serde_yaml::{Mapping, Value as Y};

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

/// Types accepted with no local effect: IAM is not enforced locally and nothing local
/// reads alarms or logs.
const IGNORED_TYPES: &[&str] = &[
    "AWS::CloudWatch::Alarm",
    "AWS::SQS::QueuePolicy",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::Logs::LogGroup",
    "AWS::Lambda::Permission",
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
    let root_map = root
        .as_mapping()
        .ok_or_else(|| top.err("a template is a YAML map of sections"))?;
    for k in root_map.keys() {
        let k = key_string(k, &top)?;
        if !SECTIONS.contains(&k.as_str()) {
            return Err(Loc::new(&k, "").err(format!("section {NOT_SUPPORTED}")));
        }
    }
    check_transform(root.get("Transform"))?;

    let parameters = parameters(root.get("Parameters"), overrides)?;
    let conditions = match root.get("Conditions") {
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
    };
    let mappings = match root.get("Mappings") {
        None => None,
        Some(m) => Some(
            m.as_mapping()
                .ok_or_else(|| Loc::new("Mappings", "").err("must be a map"))?,
        ),
    };
    let mut ctx = Ctx::new(naming, parameters.clone(), conditions, mappings);

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
        ignored: Vec::new(),
        outputs: BTreeMap::new(),
    };

    // Functions last: their events refer to tables, queues, buses and APIs by value.
    for (id, r) in &order {
        let rtype = r.get("Type").and_then(Y::as_str).unwrap_or_default();
        let b = Builder { ctx: &ctx, id };
        match rtype {
            "AWS::Serverless::Function" => {}
            "AWS::DynamoDB::Table" => stack.tables.push(b.table(r)?),
            "AWS::SQS::Queue" => stack.queues.push(b.queue(r)?),
            "AWS::Events::EventBus" => stack.buses.push(b.bus(r)?),
            "AWS::Serverless::HttpApi" => stack.http_apis.push(b.http_api(r, globals.http_api)?),
            "AWS::Events::Archive" => {}
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
    for (id, r) in &order {
        let b = Builder { ctx: &ctx, id };
        match r.get("Type").and_then(Y::as_str) {
            Some("AWS::Events::Archive") => {
                let a = b.archive(r, &stack)?;
                stack.archives.push(a);
            }
            Some("AWS::Serverless::Function") => b.function(r, globals.function, &mut stack)?,
            _ => {}
        }
    }
    stack.outputs = outputs(&ctx, root.get("Outputs"))?;
    Ok(stack)
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
    const KEYS: &[&str] = &[
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
        check_keys(def, KEYS, &loc)?;
        let literal = |key: &str| -> Result<Option<String>, TemplateError> {
            match def.get(key) {
                None => Ok(None),
                Some(Y::String(s)) => Ok(Some(s.clone())),
                Some(Y::Number(n)) => Ok(Some(n.to_string())),
                Some(Y::Bool(b)) => Ok(Some(b.to_string())),
                Some(_) => Err(loc.key(key).err("must be a literal value")),
            }
        };
        let ptype = literal("Type")?.ok_or_else(|| loc.key("Type").err("missing"))?;
        if ptype != "String" && ptype != "Number" {
            return Err(loc
                .key("Type")
                .err(format!("parameter type {ptype} is {NOT_SUPPORTED}")));
        }
        let (value, source) = match overrides.get(&name) {
            Some(v) => (v.clone(), "override"),
            None => (
                literal("Default")?.ok_or_else(|| {
                    loc.err("has no Default: give it a value with a parameter override")
                })?,
                "default",
            ),
        };
        let constraint = literal("ConstraintDescription")?
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        if let Some(pattern) = literal("AllowedPattern")? {
            // CloudFormation matches the whole value (Java regex semantics, which the
            // regex crate shares for the patterns templates use).
            let re = regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| loc.key("AllowedPattern").err(format!("bad pattern: {e}")))?;
            if !re.is_match(&value) {
                return Err(loc.err(format!(
                    "{source} value {value:?} does not match AllowedPattern {pattern}{constraint}"
                )));
            }
        }
        if let Some(allowed) = def.get("AllowedValues") {
            let list = allowed
                .as_sequence()
                .ok_or_else(|| loc.key("AllowedValues").err("must be a list"))?;
            let ok = list.iter().any(|a| match a {
                Y::String(s) => *s == value,
                Y::Number(n) => n.to_string() == value,
                Y::Bool(b) => b.to_string() == value,
                _ => false,
            });
            if !ok {
                return Err(loc.err(format!(
                    "{source} value {value:?} is not one of AllowedValues{constraint}"
                )));
            }
        }
        let bound = |key: &str| -> Result<Option<f64>, TemplateError> {
            literal(key)?
                .map(|s| {
                    s.parse::<f64>()
                        .map_err(|_| loc.key(key).err("must be a number"))
                })
                .transpose()
        };
        let len = value.chars().count() as f64;
        if bound("MinLength")?.is_some_and(|m| len < m)
            || bound("MaxLength")?.is_some_and(|m| len > m)
        {
            return Err(loc.err(format!(
                "{source} value {value:?} violates MinLength/MaxLength{constraint}"
            )));
        }
        if ptype == "Number" {
            let n: f64 = value
                .parse()
                .map_err(|_| loc.err(format!("{source} value {value:?} is not a number")))?;
            if bound("MinValue")?.is_some_and(|m| n < m)
                || bound("MaxValue")?.is_some_and(|m| n > m)
            {
                return Err(loc.err(format!(
                    "{source} value {value:?} violates MinValue/MaxValue{constraint}"
                )));
            }
        }
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

/// A resolved JSON map with its location, for typed and strict access.
struct Obj<'j> {
    map: &'j serde_json::Map<String, J>,
    loc: Loc,
}

impl<'j> Obj<'j> {
    fn of(v: &'j J, loc: Loc) -> Result<Obj<'j>, TemplateError> {
        match v {
            J::Object(map) => Ok(Obj { map, loc }),
            _ => Err(loc.err("must be a map")),
        }
    }

    fn check(&self, allowed: &[&str]) -> Result<(), TemplateError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(self.loc.key(k).err(NOT_SUPPORTED)),
            None => Ok(()),
        }
    }

    fn get(&self, k: &str) -> Option<&'j J> {
        self.map.get(k)
    }

    fn str(&self, k: &str) -> Result<Option<String>, TemplateError> {
        self.get(k)
            .map(|v| scalar_string(v, &self.loc.key(k)))
            .transpose()
    }

    fn req_str(&self, k: &str) -> Result<String, TemplateError> {
        self.str(k)?
            .ok_or_else(|| self.loc.key(k).err("missing (required)"))
    }

    fn int(&self, k: &str, lo: i64, hi: i64) -> Result<Option<i64>, TemplateError> {
        let loc = self.loc.key(k);
        let Some(v) = self.get(k) else {
            return Ok(None);
        };
        let n = match v {
            J::Number(n) => n.as_i64(),
            J::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| loc.err("must be an integer"))?;
        if n < lo || n > hi {
            return Err(loc.err(format!("{n} is out of range {lo}..={hi}")));
        }
        Ok(Some(n))
    }

    fn uint(&self, k: &str, lo: u32, hi: u32) -> Result<Option<u32>, TemplateError> {
        // In range, so the conversion cannot fail.
        Ok(self
            .int(k, lo.into(), hi.into())?
            .map(|n| u32::try_from(n).unwrap_or(hi)))
    }

    fn bool(&self, k: &str) -> Result<Option<bool>, TemplateError> {
        match self.get(k) {
            None => Ok(None),
            Some(J::Bool(b)) => Ok(Some(*b)),
            Some(J::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(J::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(self.loc.key(k).err("must be true or false")),
        }
    }

    fn obj(&self, k: &str) -> Result<Option<Obj<'j>>, TemplateError> {
        self.get(k).map(|v| Obj::of(v, self.loc.key(k))).transpose()
    }

    fn list(&self, k: &str) -> Result<Option<&'j Vec<J>>, TemplateError> {
        match self.get(k) {
            None => Ok(None),
            Some(J::Array(a)) => Ok(Some(a)),
            Some(_) => Err(self.loc.key(k).err("must be a list")),
        }
    }
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

    fn table(&self, r: &Y) -> Result<Table, TemplateError> {
        let j = self.props(
            r,
            &[
                "TableName",
                "BillingMode",
                "AttributeDefinitions",
                "KeySchema",
                "StreamSpecification",
                "TimeToLiveSpecification",
                "PointInTimeRecoverySpecification",
                "ProvisionedThroughput",
                "SSESpecification",
                "DeletionProtectionEnabled",
                "TableClass",
                "Tags",
            ],
        )?;
        let p = Obj::of(&j, self.loc())?;
        let mut attribute_definitions = Vec::new();
        let defs = p
            .list("AttributeDefinitions")?
            .ok_or_else(|| p.loc.key("AttributeDefinitions").err("missing (required)"))?;
        for (i, d) in defs.iter().enumerate() {
            let d = Obj::of(d, p.loc.key("AttributeDefinitions").idx(i))?;
            d.check(&["AttributeName", "AttributeType"])?;
            let attribute_type = d.req_str("AttributeType")?;
            if !["S", "N", "B"].contains(&attribute_type.as_str()) {
                return Err(d.loc.key("AttributeType").err("must be S, N or B"));
            }
            attribute_definitions.push(AttributeDefinition {
                attribute_name: d.req_str("AttributeName")?,
                attribute_type,
            });
        }
        let mut key_schema = Vec::new();
        let keys = p
            .list("KeySchema")?
            .ok_or_else(|| p.loc.key("KeySchema").err("missing (required)"))?;
        for (i, k) in keys.iter().enumerate() {
            let k = Obj::of(k, p.loc.key("KeySchema").idx(i))?;
            k.check(&["AttributeName", "KeyType"])?;
            let attribute_name = k.req_str("AttributeName")?;
            let key_type = match k.req_str("KeyType")?.as_str() {
                "HASH" => KeyType::Hash,
                "RANGE" => KeyType::Range,
                _ => return Err(k.loc.key("KeyType").err("must be HASH or RANGE")),
            };
            if !attribute_definitions
                .iter()
                .any(|d| d.attribute_name == attribute_name)
            {
                return Err(k
                    .loc
                    .key("AttributeName")
                    .err(format!("{attribute_name} is not in AttributeDefinitions")));
            }
            key_schema.push(KeyElement {
                attribute_name,
                key_type,
            });
        }
        if key_schema.first().map(|k| k.key_type) != Some(KeyType::Hash)
            || key_schema.len() > 2
            || key_schema
                .get(1)
                .is_some_and(|k| k.key_type != KeyType::Range)
        {
            return Err(p
                .loc
                .key("KeySchema")
                .err("must be a HASH key, optionally followed by a RANGE key"));
        }
        let billing_mode = match p.str("BillingMode")?.as_deref() {
            Some("PAY_PER_REQUEST") => BillingMode::PayPerRequest,
            Some("PROVISIONED") | None => {
                let t = p.obj("ProvisionedThroughput")?.ok_or_else(|| {
                    p.loc
                        .key("ProvisionedThroughput")
                        .err("required unless BillingMode is PAY_PER_REQUEST")
                })?;
                t.check(&["ReadCapacityUnits", "WriteCapacityUnits"])?;
                let units = |k: &str| -> Result<u64, TemplateError> {
                    Ok(t.int(k, 1, i64::MAX)?
                        .ok_or_else(|| t.loc.key(k).err("missing (required)"))?
                        .unsigned_abs())
                };
                BillingMode::Provisioned {
                    read_capacity_units: units("ReadCapacityUnits")?,
                    write_capacity_units: units("WriteCapacityUnits")?,
                }
            }
            Some(other) => {
                return Err(p
                    .loc
                    .key("BillingMode")
                    .err(format!("{other} is not PAY_PER_REQUEST or PROVISIONED")));
            }
        };
        let stream_view_type = match p.obj("StreamSpecification")? {
            None => None,
            Some(s) => {
                s.check(&["StreamViewType"])?;
                Some(match s.req_str("StreamViewType")?.as_str() {
                    "KEYS_ONLY" => StreamViewType::KeysOnly,
                    "NEW_IMAGE" => StreamViewType::NewImage,
                    "OLD_IMAGE" => StreamViewType::OldImage,
                    "NEW_AND_OLD_IMAGES" => StreamViewType::NewAndOldImages,
                    other => {
                        return Err(s
                            .loc
                            .key("StreamViewType")
                            .err(format!("unknown stream view type {other}")));
                    }
                })
            }
        };
        let ttl_attribute = match p.obj("TimeToLiveSpecification")? {
            None => None,
            Some(t) => {
                t.check(&["AttributeName", "Enabled"])?;
                let enabled = t.bool("Enabled")?.unwrap_or(false);
                let name = t.str("AttributeName")?;
                if enabled && name.is_none() {
                    return Err(t.loc.key("AttributeName").err("required when Enabled"));
                }
                name.filter(|_| enabled)
            }
        };
        let name = self.reference()?;
        Ok(Table {
            logical_id: self.id.to_owned(),
            name,
            arn: self.attr("Arn")?,
            stream_arn: match stream_view_type {
                Some(_) => Some(self.attr("StreamArn")?),
                None => None,
            },
            key_schema,
            attribute_definitions,
            billing_mode,
            stream_view_type,
            ttl_attribute,
        })
    }

    fn queue(&self, r: &Y) -> Result<Queue, TemplateError> {
        const ATTRS: &[&str] = &[
            "MessageRetentionPeriod",
            "VisibilityTimeout",
            "DelaySeconds",
            "ReceiveMessageWaitTimeSeconds",
            "MaximumMessageSize",
            "SqsManagedSseEnabled",
            "FifoQueue",
            "ContentBasedDeduplication",
            "RedrivePolicy",
        ];
        let allowed: Vec<&str> = ATTRS.iter().copied().chain(["QueueName", "Tags"]).collect();
        let j = self.props(r, &allowed)?;
        let p = Obj::of(&j, self.loc())?;
        let mut attributes = BTreeMap::new();
        for a in ATTRS {
            let v = match p.get(a) {
                None => continue,
                // SQS takes the redrive policy as JSON text.
                Some(v @ J::Object(_)) => v.to_string(),
                Some(v) => scalar_string(v, &p.loc.key(a))?,
            };
            attributes.insert((*a).to_owned(), v);
        }
        Ok(Queue {
            logical_id: self.id.to_owned(),
            name: self.attr("QueueName")?,
            url: self.reference()?,
            arn: self.attr("Arn")?,
            attributes,
        })
    }

    fn bus(&self, r: &Y) -> Result<Bus, TemplateError> {
        let j = self.props(r, &["Name", "Description", "Tags"])?;
        let p = Obj::of(&j, self.loc())?;
        p.req_str("Name")?;
        Ok(Bus {
            logical_id: self.id.to_owned(),
            name: self.reference()?,
            arn: self.attr("Arn")?,
        })
    }

    fn http_api(&self, r: &Y, globals: Option<&Mapping>) -> Result<HttpApi, TemplateError> {
        let own = r
            .get("Properties")
            .cloned()
            .unwrap_or_else(|| Y::Mapping(Mapping::new()));
        let merged = match globals {
            Some(g) => merge_globals(&Y::Mapping(g.clone()), &own),
            None => own,
        };
        let j = self.props_of(
            &merged,
            &[
                "Description",
                "Name",
                "StageName",
                "FailOnWarnings",
                "DisableExecuteApiEndpoint",
                "Tags",
            ],
        )?;
        let p = Obj::of(&j, self.loc())?;
        Ok(HttpApi {
            logical_id: self.id.to_owned(),
            description: p.str("Description")?,
        })
    }

    fn archive(&self, r: &Y, stack: &Stack) -> Result<Archive, TemplateError> {
        let j = self.props(
            r,
            &[
                "ArchiveName",
                "Description",
                "SourceArn",
                "EventPattern",
                "RetentionDays",
            ],
        )?;
        let p = Obj::of(&j, self.loc())?;
        let arn = p.req_str("SourceArn")?;
        let structural = raw_at(r, &["Properties", "SourceArn"])
            .and_then(Ctx::get_att_target)
            .and_then(|(id, _)| stack.buses.iter().find(|b| b.logical_id == id));
        let bus = match structural.or_else(|| stack.buses.iter().find(|b| b.arn == arn)) {
            Some(b) => b.name.clone(),
            None if arn.ends_with(":event-bus/default") => "default".into(),
            None => {
                return Err(p.loc.key("SourceArn").err(format!(
                    "'{arn}' is not an event bus of this template (write !GetAtt <Bus>.Arn)"
                )));
            }
        };
        let (pattern, compiled) = match p.get("EventPattern") {
            None => (None, None),
            Some(v) => {
                let (v, c) = compile_pattern(v, &p.loc.key("EventPattern"))?;
                (Some(v), Some(c))
            }
        };
        Ok(Archive {
            logical_id: self.id.to_owned(),
            name: self.reference()?,
            bus,
            description: p.str("Description")?,
            pattern,
            compiled,
            retention_days: p.uint("RetentionDays", 0, u32::MAX)?.filter(|d| *d > 0),
        })
    }

    fn function(
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

        let runtime = p.req_str("Runtime")?;
        if !runtime.starts_with("provided") {
            return Err(p.loc.key("Runtime").err(format!(
                "runtime {runtime} is {NOT_SUPPORTED}: it runs cargo-lambda binaries (provided.*)"
            )));
        }
        let architecture = match p.list("Architectures")? {
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
        };
        let mut environment = BTreeMap::new();
        if let Some(env) = p.obj("Environment")? {
            env.check(&["Variables"])?;
            if let Some(vars) = env.obj("Variables")? {
                for (k, v) in vars.map {
                    environment.insert(k.clone(), scalar_string(v, &vars.loc.key(k))?);
                }
            }
        }
        let logging = match p.obj("LoggingConfig")? {
            None => None,
            Some(l) => {
                l.check(&[
                    "LogFormat",
                    "ApplicationLogLevel",
                    "SystemLogLevel",
                    "LogGroup",
                ])?;
                Some(Logging {
                    log_format: l.str("LogFormat")?,
                    application_log_level: l.str("ApplicationLogLevel")?,
                    system_log_level: l.str("SystemLogLevel")?,
                })
            }
        };
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
                        &merged,
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
            // Template order, which the resolved (sorted) map has lost.
            let names: Vec<String> = match raw_at(&merged, &["Events"]).and_then(Y::as_mapping) {
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
                let raw = raw_at(&merged, &["Events", name, "Properties"]);
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

    fn route(&self, e: Event<'_, '_>, stack: &mut Stack) -> Result<(), TemplateError> {
        let p = &e.props;
        p.check(&[
            "ApiId",
            "Method",
            "Path",
            "TimeoutInMillis",
            "PayloadFormatVersion",
        ])?;
        let api_id = match p.get("ApiId") {
            None => {
                // SAM's implicit API, created by the first route without ApiId.
                const IMPLICIT: &str = "ServerlessHttpApi";
                if !stack.http_apis.iter().any(|a| a.logical_id == IMPLICIT) {
                    stack.http_apis.push(HttpApi {
                        logical_id: IMPLICIT.into(),
                        description: None,
                    });
                }
                IMPLICIT.to_owned()
            }
            Some(_) => e
                .raw
                .and_then(|r| r.get("ApiId"))
                .and_then(Ctx::ref_target)
                .filter(|id| stack.http_apis.iter().any(|a| a.logical_id == *id))
                .ok_or_else(|| {
                    p.loc
                        .key("ApiId")
                        .err("must be !Ref of an AWS::Serverless::HttpApi of this template")
                })?,
        };
        if let Some(v) = p.str("PayloadFormatVersion")?
            && v != "2.0"
        {
            return Err(p
                .loc
                .key("PayloadFormatVersion")
                .err(format!("payload format {v} is {NOT_SUPPORTED} (only 2.0)")));
        }
        let (method, path) = match (p.str("Method")?, p.str("Path")?) {
            (None, None) => ("ANY".to_owned(), "$default".to_owned()),
            (Some(m), Some(path)) => {
                let m = m.to_ascii_uppercase();
                const METHODS: &[&str] = &[
                    "ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
                ];
                if !METHODS.contains(&m.as_str()) {
                    return Err(p.loc.key("Method").err(format!("unknown method {m}")));
                }
                if !path.starts_with('/') && path != "$default" {
                    return Err(p.loc.key("Path").err("must start with '/'"));
                }
                (m, path)
            }
            _ => return Err(p.loc.err("Method and Path go together")),
        };
        if let Some(dup) = stack
            .routes
            .iter()
            .find(|r| r.api_id == api_id && r.method == method && r.path == path)
        {
            return Err(p.loc.err(format!(
                "route {method} {path} is already {}'s event {}",
                dup.function, dup.event
            )));
        }
        stack.routes.push(Route {
            method,
            path,
            function: self.id.to_owned(),
            event: e.name.to_owned(),
            api_id,
            timeout: p
                .uint("TimeoutInMillis", 50, 30000)?
                .map(|ms| Duration::from_millis(ms.into())),
        });
        Ok(())
    }

    fn rule(&self, e: Event<'_, '_>, stack: &mut Stack) -> Result<(), TemplateError> {
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

    fn stream_mapping(&self, e: Event<'_, '_>, stack: &mut Stack) -> Result<(), TemplateError> {
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
        let sloc = p.loc.key("Stream");
        let structural = e
            .raw
            .and_then(|r| r.get("Stream"))
            .and_then(Ctx::get_att_target)
            .filter(|(_, attr)| attr == "StreamArn")
            .and_then(|(id, _)| stack.table(&id));
        let table = structural
            .or_else(|| {
                stack
                    .tables
                    .iter()
                    .find(|t| t.stream_arn.as_deref() == Some(stream_arn.as_str()))
            })
            .ok_or_else(|| {
                sloc.err("must be !GetAtt <Table>.StreamArn of a table of this template")
            })?;
        if table.stream_arn.is_none() {
            return Err(sloc.err(format!(
                "table {} has no StreamSpecification",
                table.logical_id
            )));
        }
        let table = table.logical_id.clone();
        let starting_position = match p.req_str("StartingPosition")?.as_str() {
            "TRIM_HORIZON" => StartingPosition::TrimHorizon,
            "LATEST" => StartingPosition::Latest,
            other => {
                return Err(p
                    .loc
                    .key("StartingPosition")
                    .err(format!("{other} is not TRIM_HORIZON or LATEST")));
            }
        };
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
        let on_failure_queue = match p.obj("DestinationConfig")? {
            None => None,
            Some(d) => {
                d.check(&["OnFailure"])?;
                match d.obj("OnFailure")? {
                    None => None,
                    Some(f) => {
                        f.check(&["Type", "Destination"])?;
                        if let Some(t) = f.str("Type")?
                            && t != "SQS"
                        {
                            return Err(f.loc.key("Type").err(format!(
                                "destination type {t} is {NOT_SUPPORTED} (only SQS)"
                            )));
                        }
                        let raw = e.raw.and_then(|r| {
                            raw_at(r, &["DestinationConfig", "OnFailure", "Destination"])
                        });
                        Some(queue_of(
                            stack,
                            raw,
                            f.get("Destination"),
                            &f.loc.key("Destination"),
                        )?)
                    }
                }
            }
        };
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

/// The logical id of the template queue a destination names: structurally from
/// `!GetAtt <Queue>.Arn`, else by comparing the resolved ARN with the queues' ARNs.
fn queue_of(
    stack: &Stack,
    raw: Option<&Y>,
    resolved: Option<&J>,
    loc: &Loc,
) -> Result<String, TemplateError> {
    if let Some((id, attr)) = raw.and_then(Ctx::get_att_target)
        && attr == "Arn"
        && stack.queue(&id).is_some()
    {
        return Ok(id);
    }
    let arn = scalar_string(resolved.ok_or_else(|| loc.err("missing (required)"))?, loc)?;
    stack
        .queues
        .iter()
        .find(|q| q.arn == arn)
        .map(|q| q.logical_id.clone())
        .ok_or_else(|| {
            loc.err(format!(
                "'{arn}' is not an SQS queue of this template (write !GetAtt <Queue>.Arn)"
            ))
        })
}
