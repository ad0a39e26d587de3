//! Least privilege, checked on what AWS would deploy: `template.yaml` translated by the
//! SAM transform (`scripts/translate-template.py`, offline), then every IAM role read.
//!
//! - Every statement names its actions (no `*`, no `service:*`, no wildcard at all) and
//!   its resources: this stack's own resources through `Fn::GetAtt` / `Ref` / `Fn::Sub`,
//!   never `*` or a foreign ARN, except the few actions AWS gives no resource-level
//!   permission (or that cannot be scoped), listed below with the reason.
//! - The AWS-managed policies SAM attaches are only the expected ones, and their
//!   statements (written out below, as AWS publishes them) obey the same rules.
//! - Each function reaches exactly the resources, with exactly the actions, that
//!   docs/services.md says it uses.
//!
//! `EVENTMART_TEMPLATE=<path>` checks another template (a proposed change) instead.

use eventmart_tests::{load_stack, repo_root};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

/// Actions allowed on `Resource: "*"`, each with the reason AWS leaves no choice.
const WILDCARD_RESOURCE_ACTIONS: &[(&str, &str)] = &[
    // X-Ray (Tracing: Active): these actions have no resource types in the Service
    // Authorization Reference; "*" is the only resource they accept.
    (
        "xray:PutTraceSegments",
        "X-Ray: no resource-level permissions",
    ),
    (
        "xray:PutTelemetryRecords",
        "X-Ray: no resource-level permissions",
    ),
    (
        "xray:GetSamplingRules",
        "X-Ray: no resource-level permissions",
    ),
    (
        "xray:GetSamplingTargets",
        "X-Ray: no resource-level permissions",
    ),
    (
        "xray:GetSamplingStatisticSummaries",
        "X-Ray: no resource-level permissions",
    ),
    // CloudWatch Logs through AWSLambdaBasicExecutionRole, which SAM attaches to every
    // generated role. The function's log group is /aws/lambda/<generated function name>
    // and the role cannot name it: the function depends on its role, so a reference back
    // is a dependency cycle. The actions only create and append to log streams.
    (
        "logs:CreateLogGroup",
        "Lambda logging: log group not nameable from the role",
    ),
    (
        "logs:CreateLogStream",
        "Lambda logging: log group not nameable from the role",
    ),
    (
        "logs:PutLogEvents",
        "Lambda logging: log group not nameable from the role",
    ),
];

/// The AWS-managed policies a function role may carry, with why, and their statements
/// as AWS publishes them (the same documents moto bundles).
fn managed_policies() -> BTreeMap<&'static str, (&'static str, Value)> {
    BTreeMap::from([
        (
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            (
                "every function: writes its own logs (SAM attaches it to every generated role)",
                json!([{ "Effect": "Allow",
                         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                         "Resource": "*" }]),
            ),
        ),
        (
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
            (
                "every function: Tracing: Active sends trace segments to X-Ray",
                json!([{ "Effect": "Allow",
                         "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                    "xray:GetSamplingRules", "xray:GetSamplingTargets",
                                    "xray:GetSamplingStatisticSummaries"],
                         "Resource": ["*"] }]),
            ),
        ),
        (
            "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
            (
                "a function with DynamoDB stream event sources: Lambda reads the streams with the \
                 function's role (SAM attaches it for each `Type: DynamoDB` event)",
                json!([{ "Effect": "Allow",
                         "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords",
                                    "dynamodb:GetShardIterator", "dynamodb:ListStreams",
                                    "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                         "Resource": "*" }]),
            ),
        ),
    ])
}

/// Every function of the template (as the local stack reads it): logical id → its
/// binary, which is its name in docs/services.md.
fn functions() -> BTreeMap<String, String> {
    load_stack(&template_path())
        .functions
        .into_iter()
        .map(|f| (f.logical_id, f.binary))
        .collect()
}

/// The SES statement's resource: every identity of this account and region, which SES
/// requires (it authorises a send against each identity involved: the sender and, in the
/// sandbox, the recipient). Only with a condition pinning the sender.
const SES_IDENTITIES: &str =
    "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*";
const SES_KEY: &str = "SES identities where ses:FromAddress = SenderEmail";

type Reach = BTreeMap<String, BTreeSet<String>>;

/// What docs/services.md says each function uses: resource (logical id, `.StreamArn`
/// for a table's stream) → actions. Account-wide logging and tracing (above) are not
/// listed here.
fn expected() -> BTreeMap<&'static str, Reach> {
    const ITEM_RW: &[&str] = &[
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    ];
    const ITEM_RW_DELETE: &[&str] = &[
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
    ];
    const STREAM_READ: &[&str] = &[
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    ];
    const SEND: &[&str] = &["sqs:SendMessage"];
    fn reach(entries: &[(&str, &[&str])]) -> Reach {
        entries
            .iter()
            .map(|(r, a)| (r.to_string(), a.iter().map(|a| a.to_string()).collect()))
            .collect()
    }
    BTreeMap::from([
        (
            "orders",
            reach(&[
                ("OrdersTable", ITEM_RW),
                (
                    "MemberViewTable",
                    &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"],
                ),
                ("IdempotencyTable", ITEM_RW_DELETE),
                ("OrdersDLQ", SEND),
            ]),
        ),
        (
            "memberships",
            reach(&[
                ("MembershipsTable", ITEM_RW_DELETE),
                ("IdempotencyTable", ITEM_RW_DELETE),
            ]),
        ),
        (
            "outbox-relay",
            reach(&[
                ("EventBus", &["events:PutEvents"]),
                ("OutboxRelayDLQ", SEND),
                ("OrdersTable.StreamArn", STREAM_READ),
                ("MembershipsTable.StreamArn", STREAM_READ),
                ("FulfillmentTable.StreamArn", STREAM_READ),
            ]),
        ),
        (
            "fulfillment",
            reach(&[
                ("FulfillmentTable", ITEM_RW),
                ("IdempotencyTable", ITEM_RW_DELETE),
                ("FulfillmentDLQ", SEND),
            ]),
        ),
        (
            "notifications",
            reach(&[
                (
                    "NotificationsTable",
                    &[
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                    ],
                ),
                (
                    "IdempotencyTable",
                    &[
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                    ],
                ),
                ("NotificationsDLQ", SEND),
                (SES_KEY, &["ses:SendEmail"]),
            ]),
        ),
        (
            "ingestion",
            reach(&[
                (
                    "AnalyticsEventsTable",
                    &["dynamodb:PutItem", "dynamodb:UpdateItem"],
                ),
                (
                    "AnalyticsDailyTable",
                    &["dynamodb:PutItem", "dynamodb:UpdateItem"],
                ),
                (
                    "IdempotencyTable",
                    &[
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                    ],
                ),
                ("IngestionDLQ", SEND),
            ]),
        ),
        (
            "analytics",
            reach(&[("AnalyticsDailyTable", &["dynamodb:Query"])]),
        ),
    ])
}

/// The template checked: `EVENTMART_TEMPLATE`, else template.yaml.
fn template_path() -> PathBuf {
    std::env::var_os("EVENTMART_TEMPLATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("template.yaml"))
}

/// The translated template (CloudFormation JSON).
fn translated() -> Value {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup` (it installs the SAM CLI, whose samtranslator translates the template)",
        python.display()
    );
    let template = template_path();
    let out = Command::new(&python)
        .arg(root.join("scripts/translate-template.py"))
        .arg(&template)
        .output()
        .expect("run scripts/translate-template.py");
    assert!(
        out.status.success(),
        "scripts/translate-template.py {} failed ({}):\n{}",
        template.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the translation is JSON")
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        _ => vec![format!("<not a string: {v}>")],
    }
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// One role, read: what it reaches and what is wrong with it.
#[derive(Default)]
struct RoleReport {
    reach: Reach,
    /// Actions granted on `*` (justified ones; the others are problems).
    wildcard: BTreeSet<String>,
    managed: Vec<String>,
    problems: Vec<String>,
}

struct Stack<'a> {
    resources: &'a serde_json::Map<String, Value>,
    parameters: BTreeSet<String>,
}

impl Stack<'_> {
    /// A resource of the statement, as a key of [`Reach`] (`*` for the wildcard).
    fn resource(&self, r: &Value, statement: &Value) -> Result<String, String> {
        let own = |id: &str| -> Result<(), String> {
            if self.resources.contains_key(id) {
                Ok(())
            } else {
                Err(format!("{id} is not a resource of this stack"))
            }
        };
        match r {
            Value::String(s) if s == "*" => Ok("*".into()),
            Value::String(s) => Err(format!(
                "literal resource {s:?}: name the stack's own resource"
            )),
            Value::Object(o) if o.len() == 1 => {
                let (f, arg) = o.iter().next().expect("one key");
                match f.as_str() {
                    "Fn::GetAtt" => {
                        let parts = strings(arg);
                        let (id, attr) = match parts.as_slice() {
                            [id, attr] => (id.clone(), attr.clone()),
                            [one] if one.contains('.') => {
                                let (id, attr) = one.split_once('.').expect("a dot");
                                (id.to_owned(), attr.to_owned())
                            }
                            _ => return Err(format!("unreadable Fn::GetAtt {arg}")),
                        };
                        own(&id)?;
                        Ok(if attr == "Arn" {
                            id
                        } else {
                            format!("{id}.{attr}")
                        })
                    }
                    "Ref" => {
                        let id = arg.as_str().unwrap_or_default();
                        own(id)?;
                        Ok(id.to_owned())
                    }
                    "Fn::Sub" => {
                        let text = match arg {
                            Value::String(s) => s.clone(),
                            Value::Array(a)
                                if a.len() == 2
                                    && a[1].as_object().is_some_and(|m| m.is_empty()) =>
                            {
                                a[0].as_str().unwrap_or_default().to_owned()
                            }
                            _ => {
                                return Err(format!(
                                    "Fn::Sub with variables {arg}: resolve it in the test"
                                ));
                            }
                        };
                        self.sub(&text, statement)
                    }
                    _ => Err(format!(
                        "resource {r} is neither Fn::GetAtt, Ref nor Fn::Sub"
                    )),
                }
            }
            _ => Err(format!("unreadable resource {r}")),
        }
    }

    /// An `Fn::Sub` ARN: pseudo parameters and this stack's resources only, in this
    /// account; the one wildcard allowed is SES's identity set with the sender pinned.
    fn sub(&self, text: &str, statement: &Value) -> Result<String, String> {
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let var = &rest[start + 2..start + end];
            let id = var.split('.').next().unwrap_or_default();
            let pseudo = matches!(
                var,
                "AWS::Partition" | "AWS::Region" | "AWS::AccountId" | "AWS::URLSuffix"
            );
            if !pseudo && !self.resources.contains_key(id) {
                return Err(format!(
                    "{text:?}: ${{{var}}} is neither a pseudo parameter nor a resource of this stack"
                ));
            }
            rest = &rest[start + end + 1..];
        }
        // The objects of one of this stack's buckets (S3 ARNs carry no account).
        if let Some(bucket) = text
            .strip_prefix("${")
            .and_then(|t| t.strip_suffix(".Arn}/*"))
            .filter(|b| {
                self.resources
                    .get(*b)
                    .is_some_and(|r| r["Type"] == "AWS::S3::Bucket")
            })
        {
            return Ok(format!("{bucket}/*"));
        }
        if !text.contains("${AWS::AccountId}") {
            return Err(format!("{text:?} is not in this stack's account"));
        }
        if !text.contains('*') {
            return Ok(text.to_owned());
        }
        if text == SES_IDENTITIES {
            let actions = strings(&statement["Action"]);
            let pinned = json!({ "StringEquals": { "ses:FromAddress": { "Ref": "SenderEmail" } } });
            if actions != ["ses:SendEmail"] {
                return Err(format!(
                    "SES identities are granted for {actions:?}; only ses:SendEmail is justified"
                ));
            }
            if statement["Condition"] != pinned || !self.parameters.contains("SenderEmail") {
                return Err(format!(
                    "ses:SendEmail on every identity needs the condition {pinned}, found {}",
                    statement["Condition"]
                ));
            }
            return Ok(SES_KEY.to_owned());
        }
        Err(format!(
            "{text:?} is a wildcard resource with no justification"
        ))
    }

    fn statement(&self, where_: &str, s: &Value, report: &mut RoleReport) {
        for key in ["NotAction", "NotResource", "NotPrincipal"] {
            if s.get(key).is_some() {
                report
                    .problems
                    .push(format!("{where_}: {key} grants by exclusion"));
            }
        }
        if s["Effect"] != "Allow" {
            // A Deny only takes away; nothing to check.
            return;
        }
        let actions = strings(&s["Action"]);
        if actions.is_empty() {
            report.problems.push(format!("{where_}: no Action"));
        }
        for a in &actions {
            if a.contains('*') || a.contains('?') || !a.contains(':') {
                report.problems.push(format!(
                    "{where_}: action {a:?} is a wildcard; name each action"
                ));
            }
        }
        let resources = list(&s["Resource"]);
        if resources.is_empty() {
            report.problems.push(format!("{where_}: no Resource"));
        }
        for r in &resources {
            match self.resource(r, s) {
                Ok(key) if key == "*" => {
                    for a in &actions {
                        if WILDCARD_RESOURCE_ACTIONS.iter().any(|(w, _)| w == a) {
                            report.wildcard.insert(a.clone());
                        } else {
                            report.problems.push(format!(
                                "{where_}: {a} on Resource \"*\": AWS does not require it; name the resources"
                            ));
                            report
                                .reach
                                .entry(key.clone())
                                .or_default()
                                .insert(a.clone());
                        }
                    }
                }
                Ok(key) => {
                    report
                        .reach
                        .entry(key)
                        .or_default()
                        .extend(actions.iter().cloned());
                }
                Err(why) => report.problems.push(format!("{where_}: {why}")),
            }
        }
    }

    /// A function's role: assumable by Lambda only.
    fn role(&self, id: &str, role: &Value) -> RoleReport {
        let mut report = RoleReport::default();
        let props = &role["Properties"];
        let trust = list(&props["AssumeRolePolicyDocument"]["Statement"]);
        let lambda_only = json!([{ "Action": ["sts:AssumeRole"], "Effect": "Allow",
                                   "Principal": { "Service": ["lambda.amazonaws.com"] } }]);
        if Value::Array(trust) != lambda_only {
            report.problems.push(format!(
                "{id}: the role must be assumable by Lambda only, found {}",
                props["AssumeRolePolicyDocument"]
            ));
        }
        self.policies(id, role, report)
    }

    /// A role an AWS service assumes for this stack: by that service only, and only on
    /// behalf of this account (the confused-deputy condition).
    fn service_role(&self, id: &str, role: &Value, service: &str) -> RoleReport {
        let mut report = RoleReport::default();
        let trust = list(&role["Properties"]["AssumeRolePolicyDocument"]["Statement"]);
        let ok = match trust.as_slice() {
            [t] => {
                t["Effect"] == "Allow"
                    && strings(&t["Action"]) == ["sts:AssumeRole"]
                    && strings(&t["Principal"]["Service"]) == [service]
                    && t["Condition"]
                        == json!({"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}})
            }
            _ => false,
        };
        if !ok {
            report.problems.push(format!(
                "{id}: the role must be assumable by {service} only, for this account (aws:SourceAccount), found {}",
                role["Properties"]["AssumeRolePolicyDocument"]
            ));
        }
        self.policies(id, role, report)
    }

    fn policies(&self, id: &str, role: &Value, mut report: RoleReport) -> RoleReport {
        let props = &role["Properties"];
        for key in ["PermissionsBoundary", "Path"] {
            if props.get(key).is_some() {
                report
                    .problems
                    .push(format!("{id}: {key} is not modelled by this test"));
            }
        }

        let known = managed_policies();
        for arn in list(&props["ManagedPolicyArns"]) {
            // SAM writes the ARN; a hand-written role may `!Sub` the partition.
            let arn = match (arn.as_str(), arn["Fn::Sub"].as_str()) {
                (Some(arn), _) => arn.to_owned(),
                (None, Some(sub)) => sub.replace("${AWS::Partition}", "aws"),
                _ => arn.to_string(),
            };
            match known.get(arn.as_str()) {
                Some((_, statements)) => {
                    for (i, s) in list(statements).iter().enumerate() {
                        self.statement(&format!("{id} managed {arn} [{i}]"), s, &mut report);
                    }
                }
                None => report.problems.push(format!(
                    "{id}: managed policy {arn} is not one of the expected AWS-managed policies"
                )),
            }
            report.managed.push(arn);
        }

        for policy in list(&props["Policies"]) {
            let name = policy["PolicyName"].as_str().unwrap_or("<unnamed>");
            for (i, s) in list(&policy["PolicyDocument"]["Statement"])
                .iter()
                .enumerate()
            {
                self.statement(&format!("{id} {name} [{i}]"), s, &mut report);
            }
        }
        report
    }
}

/// Function name (docs/services.md) → the report of its role, plus problems found
/// outside any one role.
fn audit(template: &Value) -> (BTreeMap<String, RoleReport>, Vec<String>) {
    let resources = template["Resources"].as_object().expect("Resources");
    let stack = Stack {
        resources,
        parameters: template["Parameters"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default(),
    };
    let functions = functions();
    let mut problems = vec![];
    let mut reports = BTreeMap::new();
    let mut roles_used = BTreeSet::new();

    for (id, r) in resources {
        let ty = r["Type"].as_str().unwrap_or_default();
        if ty.starts_with("AWS::IAM::") && ty != "AWS::IAM::Role" {
            problems.push(format!(
                "{id}: {ty} is not modelled by this test; attach policies to the function's role"
            ));
        }
        if ty != "AWS::Lambda::Function" {
            continue;
        }
        let Some(name) = functions.get(id) else {
            problems.push(format!(
                "function {id} is not a function of the template as the local stack reads it"
            ));
            continue;
        };
        let role_ref = &r["Properties"]["Role"];
        let role_id = match strings(&role_ref["Fn::GetAtt"]).as_slice() {
            [role_id, attr] if attr == "Arn" => role_id.clone(),
            _ => {
                problems.push(format!("{id}: Role {role_ref} is not a role of this stack"));
                continue;
            }
        };
        if !roles_used.insert(role_id.clone()) {
            problems.push(format!(
                "{id}: role {role_id} is shared with another function"
            ));
        }
        match resources.get(&role_id) {
            Some(role) if role["Type"] == "AWS::IAM::Role" => {
                reports.insert(name.to_string(), stack.role(&role_id, role));
            }
            _ => problems.push(format!("{id}: {role_id} is not an AWS::IAM::Role")),
        }
    }
    let services = service_roles();
    for (id, r) in resources {
        if r["Type"] == "AWS::IAM::Role"
            && !roles_used.contains(id)
            && !services.contains_key(id.as_str())
        {
            problems.push(format!(
                "role {id} belongs to no function and no expected service"
            ));
        }
    }
    (reports, problems)
}

/// The roles AWS services assume for the warehouse: the service, and what the role
/// reaches (README, "The warehouse").
fn service_roles() -> BTreeMap<&'static str, (&'static str, Reach)> {
    let reach = |entries: &[(&str, &[&str])]| -> Reach {
        entries
            .iter()
            .map(|(r, a)| (r.to_string(), a.iter().map(|a| a.to_string()).collect()))
            .collect()
    };
    let glue = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}";
    let read_table: &[&str] = &[
        "glue:GetTable",
        "glue:GetTableVersion",
        "glue:GetTableVersions",
    ];
    BTreeMap::from([
        (
            "LakeRuleRole",
            (
                "events.amazonaws.com",
                reach(&[(
                    "LakeDeliveryStream",
                    &["firehose:PutRecord", "firehose:PutRecordBatch"],
                )]),
            ),
        ),
        (
            "LakeDeliveryRole",
            (
                "firehose.amazonaws.com",
                reach(&[
                    (
                        "LakeBucket",
                        &[
                            "s3:AbortMultipartUpload",
                            "s3:GetBucketLocation",
                            "s3:ListBucket",
                            "s3:ListBucketMultipartUploads",
                        ],
                    ),
                    ("LakeBucket/*", &["s3:GetObject", "s3:PutObject"]),
                    (&format!("{glue}:catalog"), read_table),
                    (&format!("{glue}:database/${{LakeDatabase}}"), read_table),
                    (
                        &format!("{glue}:table/${{LakeDatabase}}/${{LakeEventsTable}}"),
                        read_table,
                    ),
                    ("LakeDeliveryLogs", &["logs:PutLogEvents"]),
                ]),
            ),
        ),
    ])
}

#[test]
fn the_warehouse_roles_are_assumed_by_their_service_and_reach_only_the_lake() {
    let template = translated();
    let resources = template["Resources"].as_object().expect("Resources");
    let stack = Stack {
        resources,
        parameters: BTreeSet::new(),
    };
    let mut problems = vec![];
    for (id, (service, want)) in service_roles() {
        let Some(role) = resources.get(id) else {
            problems.push(format!("{id}: missing"));
            continue;
        };
        let report = stack.service_role(id, role, service);
        problems.extend(report.problems);
        if !report.wildcard.is_empty() {
            problems.push(format!("{id}: account-wide grants {:?}", report.wildcard));
        }
        if report.reach != want {
            problems.push(format!(
                "{id}: reaches {:?}, expected {want:?}",
                report.reach
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "warehouse roles:\n  {}",
        problems.join("\n  ")
    );
}

/// The template change for the one problem this test knows how to explain.
const STREAM_FIX: &str = "\
SAM attaches AWSLambdaDynamoDBExecutionRole to a generated role for every `Type: DynamoDB` event, \
and it grants dynamodb:DescribeStream/GetRecords/GetShardIterator/ListStreams on \"*\" (every stream \
in the account). Give OutboxRelayFunction its own role instead: replace its `Policies:` with \
`Role: !GetAtt OutboxRelayRole.Arn` and add an AWS::IAM::Role OutboxRelayRole (trust lambda.amazonaws.com; \
ManagedPolicyArns AWSLambdaBasicExecutionRole and AWSXrayWriteOnlyAccess via !Sub arn:${AWS::Partition}:...; \
one inline policy: dynamodb:DescribeStream, GetRecords, GetShardIterator, ListStreams on \
!GetAtt OrdersTable.StreamArn, MembershipsTable.StreamArn, FulfillmentTable.StreamArn; events:PutEvents on \
!GetAtt EventBus.Arn; sqs:SendMessage on !GetAtt OutboxRelayDLQ.Arn).";

fn hint(problems: &[String]) -> &'static str {
    if problems
        .iter()
        .any(|p| p.contains("AWSLambdaDynamoDBExecutionRole") && p.contains("dynamodb:"))
    {
        STREAM_FIX
    } else {
        ""
    }
}

#[test]
fn every_statement_names_its_actions_and_this_stacks_resources() {
    let (reports, mut problems) = audit(&translated());
    assert_eq!(
        reports.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        functions()
            .values()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        "every function of the template, and only those, has a role"
    );
    for r in reports.values() {
        problems.extend(r.problems.iter().cloned());
    }
    assert!(
        problems.is_empty(),
        "least-privilege problems in the translated template:\n  {}\n{}",
        problems.join("\n  "),
        hint(&problems)
    );
}

#[test]
fn managed_policies_are_only_the_expected_aws_ones() {
    let (reports, _) = audit(&translated());
    let basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
    let xray = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess";
    let streams = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole";
    let known = managed_policies();
    for (name, r) in &reports {
        for arn in &r.managed {
            let why = known.get(arn.as_str()).map(|(why, _)| *why);
            assert!(
                why.is_some(),
                "{name}: managed policy {arn} is not an expected AWS-managed policy"
            );
        }
        let set: BTreeSet<&str> = r.managed.iter().map(String::as_str).collect();
        assert!(
            set.contains(basic) && set.contains(xray),
            "{name}: expected the basic execution and X-Ray policies, found {set:?}"
        );
        // The stream-execution policy only where Lambda reads DynamoDB streams.
        if set.contains(streams) {
            assert_eq!(
                name, "outbox-relay",
                "{name}: only the outbox relay reads DynamoDB streams"
            );
        }
        assert_eq!(
            set.len(),
            r.managed.len(),
            "{name}: a managed policy attached twice"
        );
    }
}

#[test]
fn each_function_reaches_only_what_docs_services_md_says() {
    let (reports, _) = audit(&translated());
    let actual: BTreeMap<&str, &Reach> = reports
        .iter()
        .map(|(name, r)| (name.as_str(), &r.reach))
        .collect();
    let expected = expected();
    let mut diffs = vec![];
    for (name, want) in &expected {
        let got = actual.get(name).copied().cloned().unwrap_or_default();
        let keys: BTreeSet<&String> = want.keys().chain(got.keys()).collect();
        for key in keys {
            let (w, g) = (want.get(key), got.get(key));
            if w != g {
                diffs.push(format!(
                    "{name} -> {key}: expected {:?}, granted {:?}",
                    w.cloned().unwrap_or_default(),
                    g.cloned().unwrap_or_default()
                ));
            }
        }
    }
    for name in actual.keys() {
        if !expected.contains_key(name) {
            diffs.push(format!("{name}: no expectation"));
        }
    }
    // Logging and tracing are the only account-wide grants, for every function alike.
    for (name, r) in &reports {
        let allowed: BTreeSet<String> = WILDCARD_RESOURCE_ACTIONS
            .iter()
            .map(|(a, _)| a.to_string())
            .collect();
        if r.wildcard != allowed {
            diffs.push(format!(
                "{name}: account-wide grants {:?}, expected exactly logging and X-Ray",
                r.wildcard
            ));
        }
    }
    let fix = if diffs.iter().any(|d| d.contains("-> *:")) {
        STREAM_FIX
    } else {
        ""
    };
    assert!(
        diffs.is_empty(),
        "what each function's role reaches differs from docs/services.md:\n  {}\n{fix}",
        diffs.join("\n  ")
    );
}

/// The bus's resource policy, in the translated template: only the outbox relay's role
/// and the operators the `OperatorPrincipalArns` parameter names may put events with an
/// `eventmart.*` source; everyone else in the account is explicitly denied, whatever their
/// own IAM policies allow.
#[test]
fn only_the_relay_and_named_operators_may_publish_eventmart_events() {
    let template = translated();
    let resources = template["Resources"].as_object().expect("Resources");
    let policies: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Events::EventBusPolicy")
        .collect();
    assert_eq!(policies.len(), 1, "one policy on the bus");
    let (_, policy) = policies[0];
    let p = &policy["Properties"];
    assert_eq!(p["EventBusName"], json!({"Ref": "EventBus"}));
    let s = &p["Statement"];
    assert_eq!(s["Effect"], "Deny");
    assert_eq!(s["Principal"], "*", "the deny applies to every principal");
    assert_eq!(s["Action"], "events:PutEvents");
    assert_eq!(s["Resource"], json!({"Fn::GetAtt": ["EventBus", "Arn"]}));
    let condition = s["Condition"].as_object().expect("Condition");
    assert_eq!(
        condition.keys().collect::<Vec<_>>(),
        ["ArnNotLike", "StringLike"],
        "only the source and the exempt principals: {condition:?}"
    );
    assert_eq!(
        condition["StringLike"],
        json!({"events:source": "eventmart.*"})
    );
    // Exempt: the relay's role always; the operators only when the parameter names some.
    let relay = json!({"Fn::GetAtt": ["OutboxRelayRole", "Arn"]});
    let exempt = &condition["ArnNotLike"]["aws:PrincipalArn"];
    assert_eq!(exempt["Fn::If"][0], "HasOperators", "{exempt}");
    assert_eq!(exempt["Fn::If"][2], json!([relay]), "{exempt}");
    assert_eq!(
        exempt["Fn::If"][1],
        json!({"Fn::Split": [",", {"Fn::Sub": "${OutboxRelayRole.Arn},${OperatorPrincipalArns}"}]}),
        "{exempt}"
    );
    assert_eq!(
        template["Conditions"]["HasOperators"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "OperatorPrincipalArns"}, ""]}]})
    );
    let parameter = &template["Parameters"]["OperatorPrincipalArns"];
    assert_eq!(
        parameter["Default"], "",
        "no operator unless the deployer names one"
    );
    // The relay is the one function whose role may put events at all (its own policy).
    let (reports, _) = audit(&template);
    let publishers: Vec<&String> = reports
        .iter()
        .filter(|(_, r)| {
            r.reach
                .values()
                .any(|actions| actions.contains("events:PutEvents"))
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(publishers, ["outbox-relay"]);
}
