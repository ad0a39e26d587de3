//! AWS::Cognito::UserPool, UserPoolClient and UserPoolGroup: what the local stack creates
//! in moto's Cognito, and what the HTTP API's JWT authorizer trusts.

use super::*;

/// The pool properties the local stack passes to Cognito. Triggers (`LambdaConfig`),
/// SMS and custom email senders are not among them: nothing local would run them.
const POOL_PROPS: &[&str] = &[
    "UserPoolName",
    "UsernameAttributes",
    "UsernameConfiguration",
    "AliasAttributes",
    "AutoVerifiedAttributes",
    "Policies",
    "AccountRecoverySetting",
    "AdminCreateUserConfig",
    "DeletionProtection",
    "MfaConfiguration",
    "Schema",
    "UserAttributeUpdateSettings",
    "UserPoolTags",
];

const CLIENT_PROPS: &[&str] = &[
    "UserPoolId",
    "ClientName",
    "GenerateSecret",
    "ExplicitAuthFlows",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "AccessTokenValidity",
    "IdTokenValidity",
    "RefreshTokenValidity",
    "TokenValidityUnits",
    "ReadAttributes",
    "WriteAttributes",
    "SupportedIdentityProviders",
    "AuthSessionValidity",
];

impl Builder<'_, '_> {
    pub(super) fn user_pool(&self, r: &Y) -> Result<UserPool, TemplateError> {
        let j = self.props(r, POOL_PROPS)?;
        let J::Object(properties) = j else {
            return Err(self.loc().err("Properties must be a map"));
        };
        Ok(UserPool {
            logical_id: self.id.to_owned(),
            name: name_in(&properties, "UserPoolName", self.id),
            id: self.reference()?,
            issuer: self.attr("ProviderURL")?,
            properties,
        })
    }

    pub(super) fn user_pool_client(
        &self,
        r: &Y,
        stack: &Stack,
    ) -> Result<UserPoolClient, TemplateError> {
        let j = self.props(r, CLIENT_PROPS)?;
        let user_pool = self.pool_of(r, stack)?;
        let J::Object(mut properties) = j else {
            return Err(self.loc().err("Properties must be a map"));
        };
        properties.remove("UserPoolId");
        Ok(UserPoolClient {
            logical_id: self.id.to_owned(),
            user_pool,
            name: name_in(&properties, "ClientName", self.id),
            id: self.reference()?,
            properties,
        })
    }

    pub(super) fn user_pool_group(
        &self,
        r: &Y,
        stack: &Stack,
    ) -> Result<UserPoolGroup, TemplateError> {
        let j = self.props(
            r,
            &[
                "UserPoolId",
                "GroupName",
                "Description",
                "Precedence",
                "RoleArn",
            ],
        )?;
        let p = Obj::of(&j, self.loc())?;
        Ok(UserPoolGroup {
            logical_id: self.id.to_owned(),
            user_pool: self.pool_of(r, stack)?,
            name: p.req_str("GroupName")?,
            description: p.str("Description")?,
            precedence: p.uint("Precedence", 0, i32::MAX as u32)?,
        })
    }

    /// The logical id of the pool `UserPoolId` refers to: it must be `!Ref` of a pool of
    /// this template, created before its clients and groups.
    fn pool_of(&self, r: &Y, stack: &Stack) -> Result<String, TemplateError> {
        r.get("Properties")
            .and_then(|p| p.get("UserPoolId"))
            .and_then(Ctx::ref_target)
            .filter(|id| stack.user_pools.iter().any(|p| p.logical_id == *id))
            .ok_or_else(|| {
                self.loc()
                    .key("UserPoolId")
                    .err("must be !Ref of an AWS::Cognito::UserPool of this template")
            })
    }
}

/// The name a property gives, else (as CloudFormation would make one up) the logical id.
fn name_in(properties: &serde_json::Map<String, J>, key: &str, logical_id: &str) -> String {
    properties
        .get(key)
        .and_then(J::as_str)
        .unwrap_or(logical_id)
        .to_owned()
}
