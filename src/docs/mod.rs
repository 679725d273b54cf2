//! The contract and its two browsable renderings: `/openapi.json` and `/openapi.yaml`,
//! Swagger UI at `/docs/` and ReDoc at `/redoc`.
//!
//! Every URL the pages use is relative (`../openapi.json` from `/docs/`, `openapi.json`
//! from `/redoc`), so they keep working under a path prefix such as an API Gateway
//! stage (`/prod/docs/`). The served document's `servers` names the base URL the client
//! used, so Swagger UI's "Try it out" calls the same deployment.

use crate::config::{DocsConfig, REDOC_CDN_INTEGRITY, REDOC_CDN_URL};
use crate::context::{AppState, BasePath};
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use std::sync::Arc;

pub mod drift;
mod swagger;
mod yaml;

pub use yaml::to_yaml;

/// Swagger UI's page and files: scripts and styles from the service itself (Swagger UI
/// styles elements inline and draws icons as data: images), calls to the service only,
/// and no framing (clickjacking of the Authorize dialog).
const SWAGGER_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";
/// Where a self-hosted ReDoc bundle is served, relative to `/redoc`.
const REDOC_BUNDLE_ROUTE: &str = "/redoc/redoc.standalone.js";

/// Why the documentation could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("cannot read the ReDoc bundle at {path}")]
    RedocBundle {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "REDOC_SCRIPT_URL was changed, so REDOC_SCRIPT_INTEGRITY must be set too (its sha384 hash, or `none`)"
    )]
    RedocIntegrityMissing,
    #[error("REDOC_SCRIPT_URL {0:?} cannot be used in a Content-Security-Policy header")]
    RedocScriptUrl(String),
    #[error("the OpenAPI document does not serialize")]
    Serialize(#[source] serde_json::Error),
}

/// Everything the documentation routes serve, prepared once at start-up.
#[derive(Debug, Clone)]
pub struct DocsState {
    inner: Arc<DocsInner>,
}

struct DocsInner {
    /// The generated document without `servers`; each response adds the caller's.
    document: serde_json::Value,
    /// Swagger UI's `swagger-initializer.js`.
    swagger_initializer: axum::body::Bytes,
    redoc_page: String,
    /// Content-Security-Policy of the ReDoc page.
    redoc_csp: HeaderValue,
    redoc_bundle: Option<axum::body::Bytes>,
    /// PUBLIC_BASE_URL: when set, the one server the served document names.
    public_base_url: Option<String>,
}

impl std::fmt::Debug for DocsInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocsInner")
            .field("redoc_page", &self.redoc_page)
            .field(
                "redoc_bundle_bytes",
                &self.redoc_bundle.as_ref().map(|b| b.len()),
            )
            .finish_non_exhaustive()
    }
}

impl DocsState {
    /// Prepares the pages for `config` and the generated `document` (as JSON).
    pub fn new(config: &DocsConfig, document: serde_json::Value) -> Result<Self, DocsError> {
        let swagger_initializer = swagger::initializer(config.swagger_persist_authorization);
        let redoc_bundle = match &config.redoc_bundle_path {
            Some(path) => Some(std::fs::read(path).map(axum::body::Bytes::from).map_err(
                |source| DocsError::RedocBundle {
                    path: path.clone(),
                    source,
                },
            )?),
            None => None,
        };
        let script = match &redoc_bundle {
            Some(_) => ScriptTag {
                src: REDOC_BUNDLE_ROUTE.trim_start_matches('/').to_owned(),
                integrity: None,
            },
            None => ScriptTag::external(config)?,
        };
        let redoc_csp = redoc_content_security_policy(&script)?;
        Ok(Self {
            inner: Arc::new(DocsInner {
                document,
                swagger_initializer: swagger_initializer.into(),
                redoc_page: redoc_page(&script),
                redoc_csp,
                redoc_bundle,
                public_base_url: config
                    .public_base_url
                    .as_deref()
                    .map(|url| url.trim_end_matches('/').to_owned())
                    .filter(|url| !url.is_empty()),
            }),
        })
    }
}

struct ScriptTag {
    src: String,
    integrity: Option<String>,
}

impl ScriptTag {
    fn external(config: &DocsConfig) -> Result<Self, DocsError> {
        let integrity = match config.redoc_script_integrity.as_deref() {
            Some("none") => None,
            Some(hash) => Some(hash.to_owned()),
            None if config.redoc_script_url == REDOC_CDN_URL => {
                Some(REDOC_CDN_INTEGRITY.to_owned())
            }
            None => return Err(DocsError::RedocIntegrityMissing),
        };
        Ok(Self {
            src: config.redoc_script_url.clone(),
            integrity,
        })
    }
}

fn redoc_page(script: &ScriptTag) -> String {
    let integrity = script
        .integrity
        .as_deref()
        .map(|hash| {
            format!(
                r#" integrity="{}" crossorigin="anonymous""#,
                html_attribute(hash)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Items API reference</title>
<style>
body {{ margin: 0; padding: 0; }}
/* Shown only if ReDoc has not replaced it within a few seconds: its script did not load. */
#redoc-unavailable {{ visibility: hidden; animation: reveal 0s 4s forwards; }}
@keyframes reveal {{ to {{ visibility: visible; }} }}
</style>
</head>
<body>
<redoc spec-url="openapi.json" expand-responses="200,201" path-in-middle-panel="true">
<div id="redoc-unavailable" style="font-family: sans-serif; max-width: 40em; margin: 4em auto; line-height: 1.5">
<h1>The API reference could not load</h1>
<p>This page needs ReDoc's script from <code>{src}</code>, and it did not load: the
network may block it (a private network, an offline laptop).</p>
<p>To serve ReDoc from this service instead, start it with <code>REDOC_BUNDLE_PATH</code>
pointing at <code>redoc.standalone.js</code> from the npm package <code>redoc</code>
(<code>make redoc-bundle</code> fetches it into <code>target/redoc/</code>; see the README,
"ReDoc without a CDN"). Meanwhile <a href="docs/">Swagger UI</a> and the raw
<a href="openapi.json">OpenAPI document</a> work without it.</p>
</div>
</redoc>
<script src="{src}"{integrity}></script>
</body>
</html>
"#,
        src = html_attribute(&script.src),
    )
}

/// The ReDoc page may load its script (from the service, or the configured origin),
/// the document and nothing else. ReDoc's footer links an image on Redocly's CDN;
/// `img-src` keeps browsers from requesting it, so a self-hosted page makes no
/// request outside the service. ReDoc styles itself inline and searches in a blob:
/// worker.
fn redoc_content_security_policy(script: &ScriptTag) -> Result<HeaderValue, DocsError> {
    let script_src = match script.src.parse::<axum::http::Uri>() {
        Ok(uri) if uri.scheme().is_some() && uri.authority().is_some() => format!(
            "'self' {}://{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority().map(|a| a.as_str()).unwrap_or_default()
        ),
        _ => "'self'".to_owned(),
    };
    let policy = format!(
        "default-src 'self'; script-src {script_src}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::try_from(policy).map_err(|_| DocsError::RedocScriptUrl(script.src.clone()))
}

fn html_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The documentation routes. They are not operations of the contract.
pub fn router(docs: DocsState) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/openapi.yaml", get(openapi_yaml))
        .route("/docs", get(redirect_to_docs_folder))
        .route("/docs/", get(swagger_index))
        .route("/docs/{*file}", get(swagger_file))
        .route("/redoc", get(redoc))
        .route("/redoc/", get(redirect_to_redoc))
        .route(REDOC_BUNDLE_ROUTE, get(redoc_bundle))
        .layer(Extension(docs))
}

/// The served document: the contract plus PUBLIC_BASE_URL when set, else the base URL
/// this client used. Without a
/// usable Host header the URL is relative (the base path, or `/`), which OpenAPI
/// resolves against wherever the document was fetched from.
fn served_document(docs: &DocsState, headers: &HeaderMap, base: &BasePath) -> serde_json::Value {
    let mut document = docs.inner.document.clone();
    let url = match &docs.inner.public_base_url {
        Some(url) => url.clone(),
        None => client_base_url(headers, base).unwrap_or_else(|| match base.as_str() {
            "" => "/".to_owned(),
            prefix => prefix.to_owned(),
        }),
    };
    if let Some(object) = document.as_object_mut() {
        object.insert("servers".to_owned(), serde_json::json!([{ "url": url }]));
    }
    document
}

/// `scheme://host/base`, from `Host` and (behind a proxy) `X-Forwarded-Proto`.
fn client_base_url(headers: &HeaderMap, base: &BasePath) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !host_ok {
        return None;
    }
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    Some(format!("{scheme}://{host}{}", base.as_str()))
}

async fn openapi_json(
    Extension(docs): Extension<DocsState>,
    headers: HeaderMap,
    base: BasePath,
) -> Response {
    let document = served_document(&docs, &headers, &base);
    let body = serde_json::to_vec(&document).expect("a JSON value always serializes");
    document_response("application/json", body)
}

async fn openapi_yaml(
    Extension(docs): Extension<DocsState>,
    headers: HeaderMap,
    base: BasePath,
) -> Response {
    let document = served_document(&docs, &headers, &base);
    document_response("application/yaml", yaml::to_yaml(&document).into_bytes())
}

fn document_response(content_type: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // The `servers` entry depends on the Host the client used.
            (
                header::VARY,
                HeaderValue::from_static("host, x-forwarded-proto"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `/docs` → `docs/`: relative, so a stage prefix survives (`/prod/docs` → `/prod/docs/`).
async fn redirect_to_docs_folder() -> Response {
    relative_redirect("docs/")
}

/// `/redoc/` → `../redoc`, so the page's relative URLs resolve beside it.
async fn redirect_to_redoc() -> Response {
    relative_redirect("../redoc")
}

fn relative_redirect(location: &'static str) -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, HeaderValue::from_static(location))],
    )
        .into_response()
}

async fn swagger_index(Extension(docs): Extension<DocsState>) -> Response {
    swagger(&docs, "")
}

async fn swagger_file(Extension(docs): Extension<DocsState>, Path(file): Path<String>) -> Response {
    swagger(&docs, &file)
}

fn swagger(docs: &DocsState, file: &str) -> Response {
    let (content_type, bytes) = match file {
        "swagger-initializer.js" => ("text/javascript", docs.inner.swagger_initializer.clone()),
        file => match swagger::asset(file) {
            Some(asset) => (
                asset.content_type,
                axum::body::Bytes::from_static(asset.bytes),
            ),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let cache = if content_type.starts_with("text/html") || bytes.len() < 4096 {
        "no-cache"
    } else {
        "public, max-age=86400"
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(SWAGGER_CONTENT_SECURITY_POLICY),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        Body::from(bytes),
    )
        .into_response()
}

async fn redoc(Extension(docs): Extension<DocsState>) -> Response {
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                docs.inner.redoc_csp.clone(),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        Html(docs.inner.redoc_page.clone()),
    )
        .into_response()
}

async fn redoc_bundle(Extension(docs): Extension<DocsState>) -> Response {
    match &docs.inner.redoc_bundle {
        Some(bundle) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            bundle.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_follows_host_proto_and_prefix() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_static("abc.execute-api.eu-west-1.amazonaws.com"),
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(
            client_base_url(&headers, &BasePath::new("/prod")).as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/prod")
        );
        headers.insert(header::HOST, HeaderValue::from_static("evil\"/x"));
        assert_eq!(client_base_url(&headers, &BasePath::default()), None);
    }

    #[test]
    fn changed_redoc_url_needs_an_integrity_hash() {
        let config = DocsConfig {
            redoc_script_url: "https://example.com/redoc.js".to_owned(),
            ..DocsConfig::default()
        };
        assert!(matches!(
            ScriptTag::external(&config),
            Err(DocsError::RedocIntegrityMissing)
        ));
        let page =
            redoc_page(&ScriptTag::external(&DocsConfig::default()).expect("default is pinned"));
        assert!(page.contains(REDOC_CDN_INTEGRITY));
        assert!(page.contains(r#"spec-url="openapi.json""#));
    }

    #[test]
    fn redoc_policy_allows_only_the_script_origin() {
        let cdn = ScriptTag::external(&DocsConfig::default()).expect("default is pinned");
        let policy = redoc_content_security_policy(&cdn).expect("valid header");
        let policy = policy.to_str().expect("ASCII");
        assert!(
            policy.contains("script-src 'self' https://cdn.jsdelivr.net;"),
            "{policy}"
        );
        assert!(policy.contains("img-src 'self' data:;"), "{policy}");
        let own = ScriptTag {
            src: "redoc/redoc.standalone.js".to_owned(),
            integrity: None,
        };
        let policy = redoc_content_security_policy(&own).expect("valid header");
        assert!(
            policy
                .to_str()
                .expect("ASCII")
                .contains("script-src 'self';")
        );
    }
}
