//! Intrinsic functions: `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Select`,
//! `Fn::Split`, `Fn::If`, `Fn::FindInMap`, and the condition functions, in their long and
//! short (`!Ref`, YAML tag) forms.

use super::{Naming, TemplateError};
use serde_json::Value as J;
use serde_yaml::Value as Y;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Where in the template a value is, for errors.
#[derive(Debug, Clone)]
pub(super) struct Loc {
    pub resource: String,
    pub property: String,
}

impl Loc {
    pub fn new(resource: &str, property: &str) -> Loc {
        Loc {
            resource: resource.to_owned(),
            property: property.to_owned(),
        }
    }

    pub fn key(&self, k: &str) -> Loc {
        let property = if self.property.is_empty() {
            k.to_owned()
        } else {
            format!("{}.{k}", self.property)
        };
        Loc {
            resource: self.resource.clone(),
            property,
        }
    }

    pub fn idx(&self, i: usize) -> Loc {
        Loc {
            resource: self.resource.clone(),
            property: format!("{}[{i}]", self.property),
        }
    }

    pub fn err(&self, message: impl Into<String>) -> TemplateError {
        TemplateError {
            file: "template.yaml".into(),
            resource: self.resource.clone(),
            property: self.property.clone(),
            message: message.into(),
        }
    }
}

/// A resource as the resolver needs it.
#[derive(Debug, Clone)]
pub(super) struct ResourceInfo<'a> {
    pub rtype: String,
    pub properties: Option<&'a Y>,
    /// False when its `Condition` does not hold: references to it are errors.
    pub active: bool,
}

pub(super) struct Ctx<'a> {
    pub naming: &'a dyn Naming,
    pub params: BTreeMap<String, String>,
    pub resources: BTreeMap<String, ResourceInfo<'a>>,
    pub conditions: BTreeMap<String, &'a Y>,
    pub mappings: Option<&'a serde_yaml::Mapping>,
    /// Evaluated conditions; `None` while one is being evaluated (cycle detection).
    condition_values: RefCell<BTreeMap<String, Option<bool>>>,
    /// Resolved name properties; outer `None` while being resolved.
    names: RefCell<BTreeMap<String, Option<Option<String>>>>,
}

/// The property holding a resource type's physical name (a dotted path when nested).
pub(super) fn name_property(rtype: &str) -> Option<&'static str> {
    Some(match rtype {
        "AWS::DynamoDB::Table" => "TableName",
        "AWS::SQS::Queue" => "QueueName",
        "AWS::Events::EventBus" => "Name",
        "AWS::Serverless::Function" => "FunctionName",
        "AWS::Events::Archive" => "ArchiveName",
        "AWS::CloudWatch::Alarm" => "AlarmName",
        "AWS::Cognito::UserPool" => "UserPoolName",
        "AWS::Logs::LogGroup" => "LogGroupName",
        "AWS::Cognito::UserPoolClient" => "ClientName",
        "AWS::Cognito::UserPoolGroup" => "GroupName",
        "AWS::S3::Bucket" => "BucketName",
        "AWS::KinesisFirehose::DeliveryStream" => "DeliveryStreamName",
        "AWS::Glue::Database" => "DatabaseInput.Name",
        "AWS::Glue::Table" => "TableInput.Name",
        "AWS::Athena::WorkGroup" => "Name",
        "AWS::Athena::NamedQuery" => "Name",
        _ => return None,
    })
}

/// The intrinsic function a YAML value is, if any: its long name and argument.
pub(super) fn as_intrinsic(v: &Y) -> Option<(String, &Y)> {
    match v {
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = match name {
                "Ref" | "Condition" => name.to_owned(),
                _ => format!("Fn::{name}"),
            };
            Some((long, &t.value))
        }
        Y::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next()?;
            let k = k.as_str()?;
            (k == "Ref" || k.starts_with("Fn::")).then(|| (k.to_owned(), v))
        }
        _ => None,
    }
}

/// A scalar as CloudFormation's string.
pub(super) fn scalar_string(v: &J, loc: &Loc) -> Result<String, TemplateError> {
    match v {
        J::String(s) => Ok(s.clone()),
        J::Number(n) => Ok(n.to_string()),
        J::Bool(b) => Ok(b.to_string()),
        _ => Err(loc.err(format!("expected a string, found {}", kind(v)))),
    }
}

fn kind(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "a list",
        J::Object(_) => "a map",
    }
}

/// A YAML mapping key as a string.
pub(super) fn key_string(k: &Y, loc: &Loc) -> Result<String, TemplateError> {
    match k {
        Y::String(s) => Ok(s.clone()),
        Y::Number(n) => Ok(n.to_string()),
        Y::Bool(b) => Ok(b.to_string()),
        _ => Err(loc.err("map keys must be strings")),
    }
}

impl<'a> Ctx<'a> {
    pub fn new(
        naming: &'a dyn Naming,
        params: BTreeMap<String, String>,
        conditions: BTreeMap<String, &'a Y>,
        mappings: Option<&'a serde_yaml::Mapping>,
    ) -> Ctx<'a> {
        Ctx {
            naming,
            params,
            resources: BTreeMap::new(),
            conditions,
            mappings,
            condition_values: RefCell::new(BTreeMap::new()),
            names: RefCell::new(BTreeMap::new()),
        }
    }

    /// Resolves every intrinsic in `v`. `None` is `AWS::NoValue`: the caller drops the
    /// property or list item.
    pub fn resolve(&self, v: &Y, loc: &Loc) -> Result<Option<J>, TemplateError> {
        if let Some((name, arg)) = as_intrinsic(v) {
            return self.intrinsic(&name, arg, loc);
        }
        Ok(Some(match v {
            Y::Null => J::Null,
            Y::Bool(b) => J::Bool(*b),
            Y::Number(n) => {
                if let Some(i) = n.as_i64() {
                    J::from(i)
                } else if let Some(u) = n.as_u64() {
                    J::from(u)
                } else {
                    n.as_f64()
                        .and_then(serde_json::Number::from_f64)
                        .map(J::Number)
                        .ok_or_else(|| loc.err(format!("{n} is not a JSON number")))?
                }
            }
            Y::String(s) => J::String(s.clone()),
            Y::Sequence(seq) => {
                let mut out = Vec::with_capacity(seq.len());
                for (i, item) in seq.iter().enumerate() {
                    if let Some(r) = self.resolve(item, &loc.idx(i))? {
                        out.push(r);
                    }
                }
                J::Array(out)
            }
            Y::Mapping(m) => {
                let mut out = serde_json::Map::new();
                for (k, item) in m {
                    let k = key_string(k, loc)?;
                    if let Some(r) = self.resolve(item, &loc.key(&k))? {
                        out.insert(k, r);
                    }
                }
                J::Object(out)
            }
            // Handled by as_intrinsic; kept for exhaustiveness.
            Y::Tagged(_) => return Err(loc.err("unsupported YAML tag")),
        }))
    }

    /// Resolves `v` to a string (numbers and booleans as text).
    pub fn string(&self, v: &Y, loc: &Loc) -> Result<String, TemplateError> {
        match self.resolve(v, loc)? {
            Some(j) => scalar_string(&j, loc),
            None => Err(loc.err("AWS::NoValue is not allowed here")),
        }
    }

    fn intrinsic(&self, name: &str, arg: &Y, loc: &Loc) -> Result<Option<J>, TemplateError> {
        let loc = &loc.clone();
        match name {
            "Ref" => {
                let target = arg
                    .as_str()
                    .ok_or_else(|| loc.err("Ref takes a logical id or parameter name"))?;
                self.reference(target, loc)
            }
            "Fn::GetAtt" => {
                let (id, attr) = self.get_att_args(arg, loc)?;
                self.get_att(&id, &attr, loc).map(|s| Some(J::String(s)))
            }
            "Fn::Sub" => self.sub(arg, loc).map(|s| Some(J::String(s))),
            "Fn::Join" => {
                let args = fixed_args(arg, 2, "Fn::Join", loc)?;
                let delim = self.string(&args[0], loc)?;
                let list = self.list(&args[1], loc)?;
                let parts: Result<Vec<String>, _> =
                    list.iter().map(|v| scalar_string(v, loc)).collect();
                Ok(Some(J::String(parts?.join(&delim))))
            }
            "Fn::Select" => {
                let args = fixed_args(arg, 2, "Fn::Select", loc)?;
                let index = self.string(&args[0], loc)?;
                let index: usize = index
                    .parse()
                    .map_err(|_| loc.err(format!("Fn::Select index '{index}' is not a number")))?;
                let list = self.list(&args[1], loc)?;
                let len = list.len();
                list.into_iter().nth(index).map(Some).ok_or_else(|| {
                    loc.err(format!(
                        "Fn::Select index {index} is out of range (list of {len})"
                    ))
                })
            }
            "Fn::Split" => {
                let args = fixed_args(arg, 2, "Fn::Split", loc)?;
                let delim = self.string(&args[0], loc)?;
                let source = self.string(&args[1], loc)?;
                if delim.is_empty() {
                    return Err(loc.err("Fn::Split needs a non-empty delimiter"));
                }
                Ok(Some(J::Array(
                    source.split(&delim).map(|s| J::String(s.into())).collect(),
                )))
            }
            "Fn::If" => {
                let args = fixed_args(arg, 3, "Fn::If", loc)?;
                let cond = args[0]
                    .as_str()
                    .ok_or_else(|| loc.err("Fn::If takes a condition name first"))?;
                let branch = if self.condition(cond, loc)? {
                    &args[1]
                } else {
                    &args[2]
                };
                self.resolve(branch, loc)
            }
            "Fn::FindInMap" => {
                let args = fixed_args(arg, 3, "Fn::FindInMap", loc)?;
                let keys = [
                    self.string(&args[0], loc)?,
                    self.string(&args[1], loc)?,
                    self.string(&args[2], loc)?,
                ];
                let mut cur: Option<&Y> = self.mappings.and_then(|m| m.get(keys[0].as_str()));
                for k in &keys[1..] {
                    cur = cur.and_then(|c| c.get(k.as_str()));
                }
                let found = cur.ok_or_else(|| {
                    loc.err(format!(
                        "Fn::FindInMap: no Mappings entry {}",
                        keys.join(".")
                    ))
                })?;
                self.resolve(found, loc)
            }
            "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" | "Condition" => Err(loc.err(format!(
                "{name} belongs in Conditions; use Fn::If with a named condition here"
            ))),
            other => Err(loc.err(format!("{other} is not supported by the local stack"))),
        }
    }

    fn list(&self, v: &Y, loc: &Loc) -> Result<Vec<J>, TemplateError> {
        match self.resolve(v, loc)? {
            Some(J::Array(a)) => Ok(a),
            Some(other) => Err(loc.err(format!("expected a list, found {}", kind(&other)))),
            None => Err(loc.err("AWS::NoValue is not allowed here")),
        }
    }

    fn get_att_args(&self, arg: &Y, loc: &Loc) -> Result<(String, String), TemplateError> {
        match arg {
            Y::String(s) => s
                .split_once('.')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| {
                    loc.err(format!(
                        "Fn::GetAtt '{s}' needs the form Resource.Attribute"
                    ))
                }),
            Y::Sequence(seq) if seq.len() == 2 => {
                let id = seq[0]
                    .as_str()
                    .ok_or_else(|| loc.err("Fn::GetAtt takes a logical id first"))?;
                Ok((id.to_owned(), self.string(&seq[1], loc)?))
            }
            _ => Err(loc.err("Fn::GetAtt takes 'Resource.Attribute' or [Resource, Attribute]")),
        }
    }

    /// The logical id and attribute of a literal `!GetAtt`, without resolving anything.
    pub fn get_att_target(v: &Y) -> Option<(String, String)> {
        let (name, arg) = as_intrinsic(v)?;
        if name != "Fn::GetAtt" {
            return None;
        }
        match arg {
            Y::String(s) => s.split_once('.').map(|(a, b)| (a.to_owned(), b.to_owned())),
            Y::Sequence(seq) if seq.len() == 2 => {
                Some((seq[0].as_str()?.to_owned(), seq[1].as_str()?.to_owned()))
            }
            _ => None,
        }
    }

    /// The logical id of a literal `!Ref`.
    pub fn ref_target(v: &Y) -> Option<String> {
        match as_intrinsic(v)? {
            (name, Y::String(s)) if name == "Ref" => Some(s.clone()),
            _ => None,
        }
    }

    fn resource(
        &self,
        id: &str,
        what: &str,
        loc: &Loc,
    ) -> Result<&ResourceInfo<'a>, TemplateError> {
        match self.resources.get(id) {
            Some(r) if r.active => Ok(r),
            Some(_) => Err(loc.err(format!(
                "{what} {id}: that resource's Condition is false, so it does not exist"
            ))),
            None => Err(loc.err(format!("{what} to unknown resource '{id}'"))),
        }
    }

    /// The value of `Ref`.
    pub fn reference(&self, target: &str, loc: &Loc) -> Result<Option<J>, TemplateError> {
        if let Some(v) = self.params.get(target) {
            return Ok(Some(J::String(v.clone())));
        }
        if let Some(pseudo) = target.strip_prefix("AWS::") {
            let n = self.naming;
            let v = match pseudo {
                "Region" => n.region(),
                "AccountId" => n.account_id(),
                "Partition" => n.partition(),
                "URLSuffix" => n.url_suffix(),
                "StackName" => n.stack_name(),
                "StackId" => format!(
                    "arn:{}:cloudformation:{}:{}:stack/{}/00000000-0000-0000-0000-000000000000",
                    n.partition(),
                    n.region(),
                    n.account_id(),
                    n.stack_name()
                ),
                "NoValue" => return Ok(None),
                _ => {
                    return Err(loc.err(format!(
                        "pseudo parameter {target} is not supported by the local stack"
                    )));
                }
            };
            return Ok(Some(J::String(v)));
        }
        if !self.resources.contains_key(target) {
            return Err(loc.err(format!("!Ref to unknown resource or parameter '{target}'")));
        }
        let r = self.resource(target, "!Ref", loc)?;
        let name = self.physical_name(target)?;
        self.naming
            .reference(target, &r.rtype, name.as_deref())
            .map(|s| Some(J::String(s)))
            .ok_or_else(|| {
                loc.err(format!(
                    "!Ref {target}: a {} has no Ref value locally",
                    r.rtype
                ))
            })
    }

    /// The value of `Fn::GetAtt`.
    pub fn get_att(&self, id: &str, attr: &str, loc: &Loc) -> Result<String, TemplateError> {
        let r = self.resource(id, "!GetAtt", loc)?;
        let name = self.physical_name(id)?;
        self.naming
            .attribute(id, &r.rtype, name.as_deref(), attr)
            .ok_or_else(|| {
                loc.err(format!(
                    "!GetAtt {id}.{attr}: attribute {attr} of {} is not supported by the local stack",
                    r.rtype
                ))
            })
    }

    /// The resolved name property of a resource, if it has one.
    pub fn physical_name(&self, id: &str) -> Result<Option<String>, TemplateError> {
        if let Some(state) = self.names.borrow().get(id) {
            return match state {
                Some(v) => Ok(v.clone()),
                None => Err(Loc::new(id, "").err("its name refers to itself")),
            };
        }
        let Some(r) = self.resources.get(id) else {
            return Ok(None);
        };
        // A dotted property path names a nested key (`DatabaseInput.Name`).
        let raw = name_property(&r.rtype).and_then(|k| {
            let mut v = r.properties?;
            for part in k.split('.') {
                v = v.get(part)?;
            }
            Some((k, v))
        });
        self.names.borrow_mut().insert(id.to_owned(), None);
        let value = match raw {
            Some((k, raw)) => Some(self.string(raw, &Loc::new(id, &format!("Properties.{k}")))?),
            None => None,
        };
        self.names
            .borrow_mut()
            .insert(id.to_owned(), Some(value.clone()));
        Ok(value)
    }

    fn sub(&self, arg: &Y, loc: &Loc) -> Result<String, TemplateError> {
        let (text, vars_raw) =
            match arg {
                Y::String(s) => (s.as_str(), None),
                Y::Sequence(seq) if seq.len() == 2 => (
                    seq[0]
                        .as_str()
                        .ok_or_else(|| loc.err("Fn::Sub takes a literal string first"))?,
                    Some(seq[1].as_mapping().ok_or_else(|| {
                        loc.err("Fn::Sub's second item must be a map of variables")
                    })?),
                ),
                _ => return Err(loc.err("Fn::Sub takes a string or [string, {variables}]")),
            };
        let mut vars = BTreeMap::new();
        for (k, v) in vars_raw.into_iter().flatten() {
            let k = key_string(k, loc)?;
            let v = self.string(v, loc)?;
            vars.insert(k, v);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| loc.err(format!("Fn::Sub: unterminated '${{' in '{text}'")))?;
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                // `${!Literal}` is the escape for a literal `${Literal}`.
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if let Some((id, attr)) =
                name.split_once('.').filter(|_| !name.starts_with("AWS::"))
            {
                out.push_str(&self.get_att(id, attr, loc)?);
            } else {
                match self.reference(name, loc)? {
                    Some(v) => out.push_str(&scalar_string(&v, loc)?),
                    None => return Err(loc.err("Fn::Sub: ${AWS::NoValue} has no text")),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Evaluates a named condition of the `Conditions` section.
    pub fn condition(&self, name: &str, loc: &Loc) -> Result<bool, TemplateError> {
        if let Some(state) = self.condition_values.borrow().get(name) {
            return state
                .ok_or_else(|| Loc::new("Conditions", name).err("condition refers to itself"));
        }
        let raw = *self
            .conditions
            .get(name)
            .ok_or_else(|| loc.err(format!("unknown condition '{name}'")))?;
        self.condition_values
            .borrow_mut()
            .insert(name.to_owned(), None);
        let v = self.eval_condition(raw, &Loc::new("Conditions", name))?;
        self.condition_values
            .borrow_mut()
            .insert(name.to_owned(), Some(v));
        Ok(v)
    }

    fn eval_condition(&self, v: &Y, loc: &Loc) -> Result<bool, TemplateError> {
        let (name, arg) = match v {
            Y::Mapping(m) if m.len() == 1 && m.contains_key("Condition") => {
                ("Condition".to_owned(), &m["Condition"])
            }
            _ => as_intrinsic(v)
                .ok_or_else(|| loc.err("expected a condition function (Fn::Equals, ...)"))?,
        };
        let loc = &loc.key(&name);
        match name.as_str() {
            "Fn::Equals" => {
                let args = fixed_args(arg, 2, "Fn::Equals", loc)?;
                let a = self.resolve(&args[0], loc)?;
                let b = self.resolve(&args[1], loc)?;
                // CloudFormation compares as strings: `5` equals `"5"`.
                let norm = |v: Option<J>| match v {
                    Some(J::Number(n)) => Some(J::String(n.to_string())),
                    Some(J::Bool(b)) => Some(J::String(b.to_string())),
                    other => other,
                };
                Ok(norm(a) == norm(b))
            }
            "Fn::Not" => {
                let args = fixed_args(arg, 1, "Fn::Not", loc)?;
                Ok(!self.eval_condition(&args[0], loc)?)
            }
            "Fn::And" | "Fn::Or" => {
                let args = arg
                    .as_sequence()
                    .filter(|s| (2..=10).contains(&s.len()))
                    .ok_or_else(|| loc.err(format!("{name} takes 2 to 10 conditions")))?;
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.eval_condition(a, loc)?);
                }
                Ok(if name == "Fn::And" {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                })
            }
            "Condition" => {
                let target = arg
                    .as_str()
                    .ok_or_else(|| loc.err("Condition takes a condition name"))?;
                self.condition(target, loc)
            }
            other => Err(loc.err(format!("{other} is not a condition function"))),
        }
    }
}

fn fixed_args<'y>(arg: &'y Y, n: usize, name: &str, loc: &Loc) -> Result<&'y [Y], TemplateError> {
    match arg {
        Y::Sequence(seq) if seq.len() == n => Ok(seq),
        _ => Err(loc.err(format!("{name} takes a list of {n} items"))),
    }
}
