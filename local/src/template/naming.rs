//! Physical values of resources: what `!Ref` and `!GetAtt` give.

use std::collections::BTreeMap;

/// Where physical names, ARNs and URLs come from. The loader asks it for every `!Ref`,
/// `!GetAtt` and `${..}` it resolves, so one template gives AWS-shaped values that point at
/// the local servers.
///
/// `name` is the resource's explicit name property when the template sets one
/// (`TableName`, `QueueName`, `Name` of an event bus, `FunctionName`, `ArchiveName`,
/// `AlarmName`), already resolved.
pub trait Naming {
    /// The value of `!Ref <logical_id>`; `None` when this type has no Ref value.
    fn reference(
        &self,
        logical_id: &str,
        resource_type: &str,
        name: Option<&str>,
    ) -> Option<String>;
    /// The value of `!GetAtt <logical_id>.<attr>`; `None` for an unknown attribute.
    fn attribute(
        &self,
        logical_id: &str,
        resource_type: &str,
        name: Option<&str>,
        attr: &str,
    ) -> Option<String>;
    /// `AWS::Region`.
    fn region(&self) -> String;
    /// `AWS::AccountId`.
    fn account_id(&self) -> String;
    /// `AWS::StackName`.
    fn stack_name(&self) -> String;
    /// `AWS::Partition`.
    fn partition(&self) -> String {
        "aws".into()
    }
    /// `AWS::URLSuffix`.
    fn url_suffix(&self) -> String {
        "amazonaws.com".into()
    }
}

/// The local stack's names: resources are named by their logical id unless the template
/// names them, queues live on the moto server, ARNs have AWS's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNaming {
    /// The moto server's base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub moto_endpoint: String,
    pub region: String,
    pub account_id: String,
    pub stack_name: String,
    /// Ids the servers assigned when the resources were created (Cognito's pool and
    /// client ids), by logical id. Until a resource is created its id is a placeholder.
    pub assigned: BTreeMap<String, String>,
}

impl LocalNaming {
    /// moto's default account and `us-east-1`, stack `local` (see [`LocalNaming::stack`]).
    pub fn new(moto_endpoint: impl Into<String>) -> LocalNaming {
        LocalNaming {
            moto_endpoint: moto_endpoint.into().trim_end_matches('/').to_owned(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            stack_name: "local".into(),
            assigned: BTreeMap::new(),
        }
    }

    /// The same names in a stack called `name` (what `AWS::StackName` resolves to).
    pub fn stack(mut self, name: impl Into<String>) -> LocalNaming {
        self.stack_name = name.into();
        self
    }

    /// The same names with the ids the servers assigned.
    pub fn with_assigned(mut self, assigned: BTreeMap<String, String>) -> LocalNaming {
        self.assigned = assigned;
        self
    }

    /// A server-assigned id, or until then a placeholder of the same shape.
    fn assigned_id(&self, logical_id: &str, placeholder: impl FnOnce() -> String) -> String {
        self.assigned
            .get(logical_id)
            .cloned()
            .unwrap_or_else(placeholder)
    }

    /// Cognito's host for this region: the issuer of its tokens.
    fn cognito_provider(&self, pool_id: &str) -> String {
        format!("cognito-idp.{}.amazonaws.com/{pool_id}", self.region)
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account_id
        )
    }
}

/// The stream label of every local table's stream ARN. AWS uses the stream's creation
/// time; the real ARN of a moto stream comes from `DescribeTable` at run time, and this
/// one only identifies the table.
pub const LOCAL_STREAM_LABEL: &str = "1970-01-01T00:00:00.000";

impl Naming for LocalNaming {
    fn reference(
        &self,
        logical_id: &str,
        resource_type: &str,
        name: Option<&str>,
    ) -> Option<String> {
        let name = name.unwrap_or(logical_id);
        Some(match resource_type {
            "AWS::SQS::Queue" => format!("{}/{}/{name}", self.moto_endpoint, self.account_id),
            "AWS::Serverless::HttpApi" => "local".into(),
            "AWS::Cognito::UserPool" => {
                self.assigned_id(logical_id, || format!("{}_{logical_id}", self.region))
            }
            "AWS::Cognito::UserPoolClient" => {
                self.assigned_id(logical_id, || logical_id.to_ascii_lowercase())
            }
            _ => name.to_owned(),
        })
    }

    fn attribute(
        &self,
        logical_id: &str,
        resource_type: &str,
        name: Option<&str>,
        attr: &str,
    ) -> Option<String> {
        let name = name.unwrap_or(logical_id);
        Some(match (resource_type, attr) {
            ("AWS::DynamoDB::Table", "Arn") => self.arn("dynamodb", &format!("table/{name}")),
            ("AWS::DynamoDB::Table", "StreamArn") => self.arn(
                "dynamodb",
                &format!("table/{name}/stream/{LOCAL_STREAM_LABEL}"),
            ),
            ("AWS::SQS::Queue", "Arn") => self.arn("sqs", name),
            ("AWS::SQS::Queue", "QueueName") => name.to_owned(),
            ("AWS::SQS::Queue", "QueueUrl") => {
                format!("{}/{}/{name}", self.moto_endpoint, self.account_id)
            }
            ("AWS::Events::EventBus", "Arn") => self.arn("events", &format!("event-bus/{name}")),
            ("AWS::Events::EventBus", "Name") => name.to_owned(),
            ("AWS::Events::Archive", "Arn") => self.arn("events", &format!("archive/{name}")),
            ("AWS::Serverless::Function", "Arn") => self.arn("lambda", &format!("function:{name}")),
            ("AWS::Logs::LogGroup", "Arn") => self.arn("logs", &format!("log-group:{name}:*")),
            ("AWS::CloudWatch::Alarm", "Arn") => self.arn("cloudwatch", &format!("alarm:{name}")),
            ("AWS::Serverless::HttpApi", "ApiId") => "local".into(),
            ("AWS::Cognito::UserPool", attr) => {
                let id = self.reference(logical_id, resource_type, None)?;
                match attr {
                    "Arn" => self.arn("cognito-idp", &format!("userpool/{id}")),
                    "ProviderName" => self.cognito_provider(&id),
                    "ProviderURL" => format!("https://{}", self.cognito_provider(&id)),
                    "UserPoolId" => id,
                    _ => return None,
                }
            }
            ("AWS::Cognito::UserPoolClient", "ClientId") => {
                self.reference(logical_id, resource_type, None)?
            }
            // S3 bucket ARNs carry neither region nor account.
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{name}"),
            ("AWS::KinesisFirehose::DeliveryStream", "Arn") => {
                self.arn("firehose", &format!("deliverystream/{name}"))
            }
            // IAM is global: its ARNs carry no region.
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{}:role/{name}", self.account_id),
            _ => return None,
        })
    }

    fn region(&self) -> String {
        self.region.clone()
    }

    fn account_id(&self) -> String {
        self.account_id.clone()
    }

    fn stack_name(&self) -> String {
        self.stack_name.clone()
    }
}
