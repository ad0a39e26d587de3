//! AWS::SQS::Queue: name, URL and attributes (redrive policies included).

use super::*;

impl Builder<'_, '_> {
    pub(super) fn queue(&self, r: &Y) -> Result<Queue, TemplateError> {
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
}
