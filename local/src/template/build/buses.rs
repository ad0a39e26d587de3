//! AWS::Events::EventBus and AWS::Events::Archive.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn bus(&self, r: &Y) -> Result<Bus, TemplateError> {
        let j = self.props(r, &["Name", "Description", "Tags"])?;
        let p = Obj::of(&j, self.loc())?;
        p.req_str("Name")?;
        Ok(Bus {
            logical_id: self.id.to_owned(),
            name: self.reference()?,
            arn: self.attr("Arn")?,
        })
    }

    pub(super) fn archive(&self, r: &Y, stack: &Stack) -> Result<Archive, TemplateError> {
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
}
