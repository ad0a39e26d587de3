//! AWS::Serverless::HttpApi and the functions' `HttpApi` events (routes).

use super::*;

impl Builder<'_, '_> {
    pub(super) fn http_api(
        &self,
        r: &Y,
        globals: Option<&Mapping>,
    ) -> Result<HttpApi, TemplateError> {
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
                "Auth",
                // Applied by API Gateway on AWS; locally accepted and not applied (the
                // local gateway neither throttles nor writes access logs).
                "DefaultRouteSettings",
                "AccessLogSettings",
            ],
        )?;
        let p = Obj::of(&j, self.loc())?;
        let (authorizers, default_authorizer) = match p.obj("Auth")? {
            Some(auth) => api_auth(&auth)?,
            None => (BTreeMap::new(), None),
        };
        Ok(HttpApi {
            logical_id: self.id.to_owned(),
            description: p.str("Description")?,
            authorizers,
            default_authorizer,
        })
    }

    pub(super) fn route(&self, e: Event<'_, '_>, stack: &mut Stack) -> Result<(), TemplateError> {
        let p = &e.props;
        p.check(&[
            "ApiId",
            "Method",
            "Path",
            "TimeoutInMillis",
            "PayloadFormatVersion",
            "Auth",
        ])?;
        let api_id = match p.get("ApiId") {
            None => {
                // SAM's implicit API, created by the first route without ApiId.
                const IMPLICIT: &str = "ServerlessHttpApi";
                if !stack.http_apis.iter().any(|a| a.logical_id == IMPLICIT) {
                    stack.http_apis.push(HttpApi {
                        logical_id: IMPLICIT.into(),
                        description: None,
                        authorizers: BTreeMap::new(),
                        default_authorizer: None,
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
        let api = stack.http_apis.iter().find(|a| a.logical_id == api_id);
        let auth = route_auth(p, api)?;
        stack.routes.push(Route {
            method,
            path,
            function: self.id.to_owned(),
            event: e.name.to_owned(),
            api_id,
            timeout: p
                .uint("TimeoutInMillis", 50, 30000)?
                .map(|ms| Duration::from_millis(ms.into())),
            auth,
        });
        Ok(())
    }
}

/// `Auth` of an HttpApi: its JWT authorizers and the default one.
fn api_auth(
    auth: &Obj<'_>,
) -> Result<(BTreeMap<String, JwtAuthorizer>, Option<String>), TemplateError> {
    auth.check(&["Authorizers", "DefaultAuthorizer", "EnableIamAuthorizer"])?;
    if auth.bool("EnableIamAuthorizer")? == Some(true) {
        return Err(auth
            .loc
            .key("EnableIamAuthorizer")
            .err(format!("IAM authorization is {NOT_SUPPORTED}")));
    }
    let mut authorizers = BTreeMap::new();
    if let Some(all) = auth.obj("Authorizers")? {
        for (name, v) in all.map {
            let a = Obj::of(v, all.loc.key(name))?;
            a.check(&["JwtConfiguration", "IdentitySource"])?;
            let Some(jwt) = a.obj("JwtConfiguration")? else {
                return Err(a.loc.err(format!(
                    "only JWT authorizers (JwtConfiguration) are {}",
                    "supported by the local stack"
                )));
            };
            jwt.check(&["issuer", "audience"])?;
            let audiences = jwt
                .list("audience")?
                .into_iter()
                .flatten()
                .map(|v| scalar_string(v, &jwt.loc.key("audience")))
                .collect::<Result<Vec<_>, _>>()?;
            let source = a
                .str("IdentitySource")?
                .unwrap_or_else(|| "$request.header.Authorization".into());
            let header = source
                .strip_prefix("$request.header.")
                .ok_or_else(|| {
                    a.loc.key("IdentitySource").err(format!(
                        "{source}: only $request.header.<name> is supported"
                    ))
                })?
                .to_ascii_lowercase();
            authorizers.insert(
                name.clone(),
                JwtAuthorizer {
                    issuer: jwt.req_str("issuer")?,
                    audiences,
                    header,
                },
            );
        }
    }
    let default_authorizer = auth.str("DefaultAuthorizer")?;
    if let Some(d) = &default_authorizer
        && !authorizers.contains_key(d)
    {
        return Err(auth
            .loc
            .key("DefaultAuthorizer")
            .err(format!("{d} is not one of Auth.Authorizers")));
    }
    Ok((authorizers, default_authorizer))
}

/// A route's `Auth` (`Authorizer`, `AuthorizationScopes`), else its API's default.
fn route_auth(p: &Obj<'_>, api: Option<&HttpApi>) -> Result<RouteAuth, TemplateError> {
    let own = p.obj("Auth")?;
    if let Some(a) = &own {
        a.check(&["Authorizer", "AuthorizationScopes"])?;
    }
    let named = match &own {
        Some(a) => a.str("Authorizer")?,
        None => None,
    };
    let Some(name) = named.or_else(|| api.and_then(|a| a.default_authorizer.clone())) else {
        return Ok(RouteAuth::Public);
    };
    if name == "NONE" {
        return Ok(RouteAuth::Public);
    }
    if !api.is_some_and(|a| a.authorizers.contains_key(&name)) {
        return Err(p
            .loc
            .key("Auth.Authorizer")
            .err(format!("{name} is not an authorizer of the route's API")));
    }
    let scopes = match &own {
        Some(a) => a
            .list("AuthorizationScopes")?
            .into_iter()
            .flatten()
            .map(|v| scalar_string(v, &a.loc.key("AuthorizationScopes")))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(RouteAuth::Jwt {
        authorizer: name,
        scopes,
    })
}
