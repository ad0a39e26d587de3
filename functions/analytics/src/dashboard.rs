//! `GET /dashboard`: the page, rendered once with its config.
//!
//! The route is public, on purpose: the page is the static shell (markup, CSS, JS) and
//! what any browser needs to sign in, Cognito's endpoint, the user pool id and the app
//! client id. None of these is a secret (the client has no secret; the browser sends the
//! id to Cognito on every sign-in). The page holds no data: its numbers come from
//! `/analytics/*`, which answer an analyst's token only.
//!
//! The config reaches the page as JSON in a `<script type="application/json" id="config">`
//! block, with `<`, `>` and `&` written as `\u003c`, `\u003e` and `\u0026`: no configured
//! value can end the block or be read as markup, and `JSON.parse` reads them back as
//! they were. Nothing is concatenated into the page's code.

use crate::domain::{DEFAULT_MINOR_DIGITS, MINOR_DIGITS};
use eventmart_shared::aws::ConfigError;
use eventmart_shared::http;
use lambda_http::http::header::HeaderName;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The base URL of Cognito's API the dashboard signs in with, e.g.
/// `https://cognito-idp.us-east-1.amazonaws.com/`.
pub const COGNITO_ENDPOINT: &str = "COGNITO_ENDPOINT";

/// The page as written: inline CSS, JS and SVG, and [`CONFIG_PLACEHOLDER`] where its
/// config goes. Nothing is fetched but Cognito's API and the analytics API.
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// Where the rendered config goes in [`DASHBOARD_HTML`], once.
pub const CONFIG_PLACEHOLDER: &str = "{{config}}";

/// How the dashboard signs a user in: Cognito's API and the user pool's web client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    cognito_endpoint: String,
    user_pool_id: String,
    user_pool_client_id: String,
}

impl SignIn {
    /// `cognito_endpoint` is the base URL of Cognito's API
    /// (`https://cognito-idp.<region>.amazonaws.com/`, or a local emulator's `http://`
    /// one); a missing final `/` is added.
    pub fn new(
        cognito_endpoint: &str,
        user_pool_id: &str,
        user_pool_client_id: &str,
    ) -> Result<Self, ConfigError> {
        let has_host = ["https://", "http://"].iter().any(|scheme| {
            cognito_endpoint
                .strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        });
        // Visible ASCII only: the endpoint's origin also goes into a response header.
        if !has_host || !cognito_endpoint.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError(format!(
                "environment variable {COGNITO_ENDPOINT} must be an http(s) URL such as \
                 https://cognito-idp.us-east-1.amazonaws.com/"
            )));
        }
        let mut cognito_endpoint = cognito_endpoint.to_owned();
        if !cognito_endpoint.ends_with('/') {
            cognito_endpoint.push('/');
        }
        Ok(Self {
            cognito_endpoint,
            user_pool_id: user_pool_id.to_owned(),
            user_pool_client_id: user_pool_client_id.to_owned(),
        })
    }

    /// The URL the page posts `InitiateAuth` to, ending in `/`.
    pub fn cognito_endpoint(&self) -> &str {
        &self.cognito_endpoint
    }

    pub fn user_pool_id(&self) -> &str {
        &self.user_pool_id
    }

    pub fn user_pool_client_id(&self) -> &str {
        &self.user_pool_client_id
    }

    /// `scheme://host[:port]` of the endpoint, for the page's `connect-src`.
    fn origin(&self) -> &str {
        let after_scheme = self.cognito_endpoint.find("://").map_or(0, |i| i + 3);
        let end = self.cognito_endpoint[after_scheme..]
            .find(['/', '?', '#'])
            .map_or(self.cognito_endpoint.len(), |i| after_scheme + i);
        &self.cognito_endpoint[..end]
    }
}

/// What the page reads from its config block.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageConfig<'a> {
    cognito_endpoint: &'a str,
    user_pool_id: &'a str,
    user_pool_client_id: &'a str,
    /// [`MINOR_DIGITS`]: the currencies whose exponent is not the default.
    minor_digits: BTreeMap<&'static str, u8>,
    default_minor_digits: u8,
}

/// The page with its config, and the response headers that go with it.
#[derive(Debug, Clone)]
pub struct Dashboard {
    html: Arc<str>,
    csp: HeaderValue,
}

impl Dashboard {
    pub fn new(sign_in: &SignIn) -> Self {
        let config = PageConfig {
            cognito_endpoint: sign_in.cognito_endpoint(),
            user_pool_id: sign_in.user_pool_id(),
            user_pool_client_id: sign_in.user_pool_client_id(),
            minor_digits: MINOR_DIGITS.iter().copied().collect(),
            default_minor_digits: DEFAULT_MINOR_DIGITS,
        };
        let html = DASHBOARD_HTML.replacen(CONFIG_PLACEHOLDER, &config_json(&config), 1);
        // The page may talk to its own API and to Cognito, and load nothing: a script
        // injected by some bug could not send a token or a password anywhere else. No
        // other site may frame the sign-in form.
        let csp = format!(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             img-src data:; connect-src 'self' {}; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
            sign_in.origin()
        );
        Self {
            html: html.into(),
            // SignIn::new admits visible ASCII only, which a header value holds.
            csp: HeaderValue::from_str(&csp).unwrap_or_else(|_| {
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")
            }),
        }
    }

    /// The rendered page.
    pub fn html(&self) -> &str {
        &self.html
    }

    pub fn response(&self) -> Response<Body> {
        let mut resp = http::with_body(
            StatusCode::OK,
            "text/html; charset=utf-8",
            self.html.to_string(),
        );
        resp.headers_mut().insert(
            HeaderName::from_static("content-security-policy"),
            self.csp.clone(),
        );
        resp
    }
}

/// JSON that can sit in an HTML `<script>` block: `<`, `>` and `&` only occur inside
/// JSON strings, where their `\u` escapes read back as the same characters.
fn config_json(config: &PageConfig<'_>) -> String {
    let json = serde_json::to_string(config).unwrap_or_else(|_| "{}".to_owned());
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}
