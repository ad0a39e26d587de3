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
            ],
        )?;
        let p = Obj::of(&j, self.loc())?;
        Ok(HttpApi {
            logical_id: self.id.to_owned(),
            description: p.str("Description")?,
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
}
