use super::build::merge_globals;
use super::*;
use serde_json::json;

const MOTO: &str = "http://127.0.0.1:4566";

fn naming() -> LocalNaming {
    LocalNaming::new(MOTO)
}

fn parse(yaml: &str) -> Result<Stack, TemplateError> {
    Stack::parse(yaml, &naming(), &BTreeMap::new())
}

fn parse_ok(yaml: &str) -> Stack {
    match parse(yaml) {
        Ok(s) => s,
        Err(e) => panic!("expected the template to load: {e}"),
    }
}

fn parse_err(yaml: &str) -> TemplateError {
    match parse(yaml) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// A template with one queue and one function whose environment is `env` (YAML map body,
/// indented 10 spaces by the caller's text).
fn with_env(extra_resources: &str, env: &str) -> String {
    format!(
        r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {{ Type: String, Default: dev }}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: {{ "Fn::Not": [{{ Condition: IsProd }}] }}
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties: {{ QueueName: !Sub "q-${{Stage}}" }}
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Join ["-", [table, !Ref Stage]]
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{ AttributeName: pk, AttributeType: S }}]
      KeySchema: [{{ AttributeName: pk, KeyType: HASH }}]
      StreamSpecification: {{ StreamViewType: NEW_AND_OLD_IMAGES }}
{extra_resources}
  F:
    Type: AWS::Serverless::Function
    Metadata: {{ BuildMethod: rust-cargolambda, BuildProperties: {{ Binary: f }} }}
    Properties:
      Runtime: provided.al2023
      Environment:
        Variables:
{env}
"#
    )
}

fn env_of(stack: &Stack) -> &BTreeMap<String, String> {
    match stack.function("F") {
        Some(f) => &f.environment,
        None => panic!("no function F"),
    }
}

#[test]
fn sub_string_form_resolves_refs_attributes_and_pseudo_parameters() {
    let s = parse_ok(&with_env(
        "",
        r#"          A: !Sub "${Stage}/${Q}/${Q.Arn}/${T.StreamArn}"
          B: !Sub "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}.${AWS::URLSuffix}"
          C: !Sub "literal ${!NotAVar} stays""#,
    ));
    let env = env_of(&s);
    assert_eq!(
        env["A"],
        format!(
            "dev/{MOTO}/123456789012/q-dev/arn:aws:sqs:us-east-1:123456789012:q-dev/\
             arn:aws:dynamodb:us-east-1:123456789012:table/table-dev/stream/{LOCAL_STREAM_LABEL}"
        )
    );
    assert_eq!(
        env["B"],
        "arn:aws:x:us-east-1:123456789012:local.amazonaws.com"
    );
    assert_eq!(env["C"], "literal ${NotAVar} stays");
}

#[test]
fn sub_list_form_uses_its_variables_first() {
    let s = parse_ok(&with_env(
        "",
        r#"          A: !Sub ["${Name}-${Stage}-${Other}", { Name: !GetAtt Q.QueueName, Other: !Ref T }]
          B: { "Fn::Sub": ["${Stage}", { Stage: shadowed }] }"#,
    ));
    let env = env_of(&s);
    assert_eq!(env["A"], "q-dev-dev-table-dev");
    assert_eq!(env["B"], "shadowed");
}

#[test]
fn long_forms_select_split_join_if_and_conditions() {
    let s = parse_ok(&with_env(
        "",
        r#"          A: { "Fn::Join": [":", [{ "Ref": "Stage" }, { "Fn::GetAtt": [Q, Arn] }]] }
          B: !Select [1, !Split [",", "a,b,c"]]
          C: !If [IsProd, production, not-production]
          D: !If [IsDev, !Ref "AWS::NoValue", kept]
          E: { "Fn::Select": ["0", [x, y]] }"#,
    ));
    let env = env_of(&s);
    assert_eq!(env["A"], "dev:arn:aws:sqs:us-east-1:123456789012:q-dev");
    assert_eq!(env["B"], "b");
    assert_eq!(env["C"], "not-production");
    assert!(!env.contains_key("D"), "AWS::NoValue drops the variable");
    assert_eq!(env["E"], "x");
}

#[test]
fn overrides_change_parameters_and_conditions() {
    let mut overrides = BTreeMap::new();
    overrides.insert("Stage".to_owned(), "prod".to_owned());
    let yaml = with_env(
        "",
        "          C: !If [IsProd, production, other]\n          S: !Ref Stage",
    );
    let s = match Stack::parse(&yaml, &naming(), &overrides) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(env_of(&s)["C"], "production");
    assert_eq!(env_of(&s)["S"], "prod");
    assert_eq!(s.parameters["Stage"], "prod");
    assert_eq!(s.queues[0].name, "q-prod");
    assert_eq!(s.tables[0].name, "table-prod");
}

#[test]
fn unknown_override_is_an_error() {
    let mut overrides = BTreeMap::new();
    overrides.insert("Nope".to_owned(), "x".to_owned());
    let e = match Stack::parse(&with_env("", "          A: a"), &naming(), &overrides) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    };
    assert_eq!(
        (e.resource.as_str(), e.property.as_str()),
        ("Parameters", "Nope")
    );
}

#[test]
fn unknown_ref_and_getatt_targets_are_errors() {
    let e = parse_err(&with_env("", "          A: !Ref Missing"));
    assert_eq!(e.resource, "F");
    assert_eq!(e.property, "Properties.Environment.Variables.A");
    assert!(
        e.message
            .contains("unknown resource or parameter 'Missing'"),
        "{e}"
    );

    let e = parse_err(&with_env("", "          A: !GetAtt Missing.Arn"));
    assert!(e.message.contains("unknown resource 'Missing'"), "{e}");

    let e = parse_err(&with_env("", "          A: !GetAtt Q.NoSuchAttribute"));
    assert!(e.message.contains("attribute NoSuchAttribute"), "{e}");

    let e = parse_err(&with_env("", "          A: !Sub \"${Missing}\""));
    assert!(e.message.contains("'Missing'"), "{e}");

    let e = parse_err(&with_env("", "          A: !ImportValue other-stack"));
    assert!(
        e.message.contains("Fn::ImportValue is not supported"),
        "{e}"
    );
}

#[test]
fn sub_with_unterminated_variable_is_an_error() {
    let e = parse_err(&with_env("", "          A: !Sub \"x-${Stage\""));
    assert!(e.message.contains("unterminated"), "{e}");
}

#[test]
fn resource_with_false_condition_is_left_out() {
    let s = parse_ok(&with_env(
        "  ProdOnly:\n    Type: AWS::SQS::Queue\n    Condition: IsProd\n",
        "          A: a",
    ));
    assert!(s.queue("ProdOnly").is_none());
    let e = parse_err(&with_env(
        "  ProdOnly:\n    Type: AWS::SQS::Queue\n    Condition: IsProd\n",
        "          A: !Ref ProdOnly",
    ));
    assert!(e.message.contains("Condition is false"), "{e}");
}

#[test]
fn globals_merge_maps_concatenates_lists_and_replaces_scalars() {
    let g: serde_yaml::Value = serde_yaml::from_str(
        "{ Timeout: 10, Env: { Variables: { A: g, B: g } }, L: [1], R: !Ref X, M: { k: 1 } }",
    )
    .unwrap_or_default();
    let l: serde_yaml::Value = serde_yaml::from_str(
        "{ Timeout: 30, Env: { Variables: { B: l, C: l } }, L: [2], R: { k: 2 }, M: !Ref Y }",
    )
    .unwrap_or_default();
    let merged = merge_globals(&g, &l);
    let expected: serde_yaml::Value = serde_yaml::from_str(
        "{ Timeout: 30, Env: { Variables: { A: g, B: l, C: l } }, L: [1, 2], R: { k: 2 }, M: !Ref Y }",
    )
    .unwrap_or_default();
    assert_eq!(merged, expected);
}

#[test]
fn function_defaults_without_globals() {
    let s = parse_ok(&with_env("", "          A: a"));
    let Some(f) = s.function("F") else {
        panic!("no F")
    };
    assert_eq!(f.timeout, Duration::from_secs(3));
    assert_eq!(f.memory_size, 128);
    assert_eq!(f.architecture, Architecture::X86_64);
    assert_eq!(f.async_config, AsyncConfig::default());
    assert_eq!(f.async_config.maximum_retry_attempts, 2);
    assert_eq!(f.async_config.maximum_event_age, Duration::from_secs(21600));
    assert_eq!(f.name, "F");
    assert_eq!(f.arn, "arn:aws:lambda:us-east-1:123456789012:function:F");
}

#[test]
fn table_model() {
    let s = parse_ok(&with_env("", "          A: a"));
    let t = &s.tables[0];
    assert_eq!(t.name, "table-dev");
    assert_eq!(
        t.arn,
        "arn:aws:dynamodb:us-east-1:123456789012:table/table-dev"
    );
    assert_eq!(t.stream_view_type, Some(StreamViewType::NewAndOldImages));
    assert_eq!(t.billing_mode, BillingMode::PayPerRequest);
    assert_eq!(t.ttl_attribute, None);
}

#[test]
fn event_bridge_rule_defaults_and_dynamodb_mapping_defaults() {
    let yaml = r#"
Resources:
  Q: { Type: AWS::SQS::Queue }
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PROVISIONED
      ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: "5" }
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }, { AttributeName: sk, AttributeType: N }]
      KeySchema: [{ AttributeName: pk, KeyType: HASH }, { AttributeName: sk, KeyType: RANGE }]
      StreamSpecification: { StreamViewType: KEYS_ONLY }
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildMethod: rust-cargolambda, BuildProperties: { Binary: f } }
    Properties:
      Runtime: provided.al2023
      Events:
        OnDefault:
          Type: EventBridgeRule
          Properties:
            Pattern: '{"source": ["x"]}'
        Stream:
          Type: DynamoDB
          Properties: { Stream: !GetAtt T.StreamArn, StartingPosition: LATEST }
"#;
    let s = parse_ok(yaml);
    let r = &s.rules[0];
    assert_eq!(r.name, "FOnDefault");
    assert_eq!(r.bus, "default");
    assert_eq!(r.pattern, json!({"source": ["x"]}));
    assert!(r.compiled.matches(&json!({"source": "x"})));
    assert_eq!(r.retry_policy.maximum_retry_attempts, 185);
    assert_eq!(r.retry_policy.maximum_event_age, Duration::from_secs(86400));
    assert_eq!(r.dead_letter_queue, None);
    assert!(r.enabled);
    assert_eq!(s.bus_names(), vec!["default".to_owned()]);

    let m = &s.stream_mappings[0];
    assert_eq!(m.table, "T");
    assert_eq!(m.batch_size, 100);
    assert_eq!(m.maximum_retry_attempts, None);
    assert_eq!(m.maximum_record_age, None);
    assert_eq!(m.starting_position, StartingPosition::Latest);
    assert!(!m.bisect_batch_on_function_error);
    assert!(!m.report_batch_item_failures);
    assert!(m.filters.is_empty());
    assert_eq!(
        s.tables[0].billing_mode,
        BillingMode::Provisioned {
            read_capacity_units: 5,
            write_capacity_units: 5
        }
    );
}

#[test]
fn stream_of_a_table_without_stream_is_an_error() {
    let yaml = r#"
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }]
      KeySchema: [{ AttributeName: pk, KeyType: HASH }]
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildMethod: rust-cargolambda, BuildProperties: { Binary: f } }
    Properties:
      Runtime: provided.al2023
      Events:
        S:
          Type: DynamoDB
          Properties: { Stream: !GetAtt T.StreamArn, StartingPosition: LATEST }
"#;
    let e = parse_err(yaml);
    assert_eq!(e.resource, "F");
    assert_eq!(e.property, "Properties.Events.S.Properties.Stream");
    // LocalNaming would give a StreamArn anyway; the loader checks the table has a stream.
    assert_eq!(e.message, "table T has no StreamSpecification");
}

#[test]
fn error_display_names_file_resource_and_property() {
    let e = TemplateError {
        file: "template.yaml".into(),
        resource: "OrdersTable".into(),
        property: "Properties.GlobalSecondaryIndexes".into(),
        message: "not supported by the local stack".into(),
    };
    assert_eq!(
        e.to_string(),
        "template.yaml: OrdersTable.Properties.GlobalSecondaryIndexes: not supported by the local stack"
    );
    let e = parse_err("{ not: yaml: at all");
    assert!(
        e.to_string().starts_with("template.yaml: not valid YAML"),
        "{e}"
    );
}

#[test]
fn allowed_patterns_match_the_whole_value() {
    let cases: &[(&str, &str, bool)] = &[
        ("^[a-z][a-z0-9-]{0,15}$", "dev", true),
        ("^[a-z][a-z0-9-]{0,15}$", "Dev", false),
        ("^[a-z][a-z0-9-]{0,15}$", "a234567890123456", true),
        ("^[a-z][a-z0-9-]{0,15}$", "a2345678901234567", false),
        (
            "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            "no-reply@example.com",
            true,
        ),
        (
            "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            "no reply@example.com",
            false,
        ),
        ("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", "nobody@localhost", false),
        // Whole-value match, as CloudFormation (no anchors needed).
        ("[a-z]+", "abc", true),
        ("[a-z]+", "abc1", false),
        ("(dev|prod)(-\\d+)?", "prod-12", true),
        ("(?:dev|prod)(-\\d+)?", "test", false),
        ("a.*?b", "axxb", true),
        ("\\w+", "a_1", true),
        ("x{2,}", "xxx", true),
        ("x{2,}", "x", false),
        ("[-a]+", "-a-", true),
    ];
    for (pattern, text, expected) in cases {
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))
            .unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert_eq!(re.is_match(text), *expected, "{pattern} on {text}");
    }
}

/// An API with a Cognito JWT authorizer as its default, and routes of each kind.
fn with_auth(routes: &str, auth: &str) -> String {
    format!(
        r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
    Properties: {{ UserPoolName: users, UsernameAttributes: [email] }}
  Client:
    Type: AWS::Cognito::UserPoolClient
    Properties: {{ UserPoolId: !Ref Pool, GenerateSecret: false }}
  Staff:
    Type: AWS::Cognito::UserPoolGroup
    Properties: {{ UserPoolId: !Ref Pool, GroupName: staff, Precedence: 1 }}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
{auth}
  F:
    Type: AWS::Serverless::Function
    Metadata: {{ BuildMethod: rust-cargolambda, BuildProperties: {{ Binary: f }} }}
    Properties:
      Runtime: provided.al2023
      Events:
{routes}
"#
    )
}

const JWT_DEFAULT: &str = r#"      Auth:
        DefaultAuthorizer: Cognito
        Authorizers:
          Cognito:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: !GetAtt Pool.ProviderURL
              audience: [!Ref Client]
      DefaultRouteSettings: { ThrottlingBurstLimit: 10, ThrottlingRateLimit: 5 }"#;

#[test]
fn routes_take_the_default_authorizer_unless_they_say_none_and_carry_their_scopes() {
    let routes = r#"        Private: { Type: HttpApi, Properties: { ApiId: !Ref Api, Method: GET, Path: /p } }
        Public:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Method: GET, Path: /page, Auth: { Authorizer: NONE } }
        Scoped:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: POST
            Path: /s
            Auth: { Authorizer: Cognito, AuthorizationScopes: [orders/write] }"#;
    let assigned = BTreeMap::from([
        ("Pool".to_owned(), "us-east-1_abc".to_owned()),
        ("Client".to_owned(), "client123".to_owned()),
    ]);
    let stack = Stack::parse(
        &with_auth(routes, JWT_DEFAULT),
        &naming().with_assigned(assigned),
        &BTreeMap::new(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let api = &stack.http_apis[0];
    assert_eq!(api.default_authorizer.as_deref(), Some("Cognito"));
    assert_eq!(
        api.authorizers["Cognito"],
        JwtAuthorizer {
            issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc".into(),
            audiences: vec!["client123".into()],
            header: "authorization".into(),
        }
    );
    let auth = |path: &str| {
        stack
            .routes
            .iter()
            .find(|r| r.path == path)
            .map(|r| r.auth.clone())
            .unwrap()
    };
    assert_eq!(
        auth("/p"),
        RouteAuth::Jwt {
            authorizer: "Cognito".into(),
            scopes: vec![]
        }
    );
    assert_eq!(auth("/page"), RouteAuth::Public);
    assert_eq!(
        auth("/s"),
        RouteAuth::Jwt {
            authorizer: "Cognito".into(),
            scopes: vec!["orders/write".into()]
        }
    );
    assert_eq!(stack.user_pools[0].name, "users");
    assert_eq!(stack.user_pool_clients[0].user_pool, "Pool");
    assert_eq!(stack.user_pool_clients[0].name, "Client");
    assert_eq!(
        stack.user_pool_groups[0],
        UserPoolGroup {
            logical_id: "Staff".into(),
            user_pool: "Pool".into(),
            name: "staff".into(),
            description: None,
            precedence: Some(1),
        }
    );
}

#[test]
fn an_api_without_authorizers_leaves_its_routes_public() {
    let routes =
        "        R: { Type: HttpApi, Properties: { ApiId: !Ref Api, Method: GET, Path: /r } }";
    let stack = parse_ok(&with_auth(routes, "      Description: open"));
    assert_eq!(stack.routes[0].auth, RouteAuth::Public);
}

#[test]
fn authorizer_mistakes_name_the_property() {
    let route =
        "        R: { Type: HttpApi, Properties: { ApiId: !Ref Api, Method: GET, Path: /r } }";
    let unknown_default =
        JWT_DEFAULT.replace("DefaultAuthorizer: Cognito", "DefaultAuthorizer: Nope");
    let e = parse_err(&with_auth(route, &unknown_default));
    assert_eq!(e.resource, "Api");
    assert!(
        e.message.contains("Nope is not one of Auth.Authorizers"),
        "{e}"
    );

    let unknown_on_route = r#"        R:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Method: GET, Path: /r, Auth: { Authorizer: Other } }"#;
    let e = parse_err(&with_auth(unknown_on_route, JWT_DEFAULT));
    assert_eq!(e.resource, "F");
    assert!(e.message.contains("Other is not an authorizer"), "{e}");

    let query_source =
        JWT_DEFAULT.replace("$request.header.Authorization", "$request.querystring.t");
    let e = parse_err(&with_auth(route, &query_source));
    assert!(e.property.ends_with("IdentitySource"), "{e}");

    let lambda_authorizer = r#"      Auth:
        Authorizers:
          Custom: { FunctionArn: arn:aws:lambda:us-east-1:123456789012:function:auth }"#;
    let e = parse_err(&with_auth(route, lambda_authorizer));
    assert!(e.property.contains("Custom"), "{e}");

    let stray_pool = r#"        R: { Type: HttpApi, Properties: { ApiId: !Ref Api, Method: GET, Path: /r } }
  Orphan:
    Type: AWS::Cognito::UserPoolGroup
    Properties: { UserPoolId: us-east-1_elsewhere, GroupName: g }"#;
    let e = parse_err(&with_auth(stray_pool, "      Description: open"));
    assert_eq!(e.resource, "Orphan");
    assert!(
        e.message
            .contains("must be !Ref of an AWS::Cognito::UserPool"),
        "{e}"
    );
}
