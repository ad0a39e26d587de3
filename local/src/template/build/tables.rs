//! AWS::DynamoDB::Table and AWS::Serverless::SimpleTable: keys, streams, TTL.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn table(&self, r: &Y) -> Result<Table, TemplateError> {
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
        let attribute_definitions = attribute_definitions(&p)?;
        let key_schema = key_schema(&p, &attribute_definitions)?;
        let billing_mode = billing_mode(&p)?;
        let stream_view_type = stream_view_type(&p)?;
        let ttl_attribute = ttl_attribute(&p)?;
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
}

fn attribute_definitions(p: &Obj<'_>) -> Result<Vec<AttributeDefinition>, TemplateError> {
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
    Ok(attribute_definitions)
}

/// `KeySchema`: a HASH key of defined attributes, optionally followed by a RANGE key.
fn key_schema(
    p: &Obj<'_>,
    attribute_definitions: &[AttributeDefinition],
) -> Result<Vec<KeyElement>, TemplateError> {
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
    Ok(key_schema)
}

/// `BillingMode`, with `ProvisionedThroughput` unless it is PAY_PER_REQUEST.
fn billing_mode(p: &Obj<'_>) -> Result<BillingMode, TemplateError> {
    Ok(match p.str("BillingMode")?.as_deref() {
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
    })
}

fn stream_view_type(p: &Obj<'_>) -> Result<Option<StreamViewType>, TemplateError> {
    let Some(s) = p.obj("StreamSpecification")? else {
        return Ok(None);
    };
    s.check(&["StreamViewType"])?;
    Ok(Some(match s.req_str("StreamViewType")?.as_str() {
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
    }))
}

/// The TTL attribute, when `TimeToLiveSpecification` enables one.
fn ttl_attribute(p: &Obj<'_>) -> Result<Option<String>, TemplateError> {
    let Some(t) = p.obj("TimeToLiveSpecification")? else {
        return Ok(None);
    };
    t.check(&["AttributeName", "Enabled"])?;
    let enabled = t.bool("Enabled")?.unwrap_or(false);
    let name = t.str("AttributeName")?;
    if enabled && name.is_none() {
        return Err(t.loc.key("AttributeName").err("required when Enabled"));
    }
    Ok(name.filter(|_| enabled))
}
