//! Everything specific to AWS Lambda: running the router under `lambda_http`, the
//! stage or base path in front of every path, what `/api/aws-info` reports about an
//! invocation, and replaying one event offline (`items-api invoke`).
//!
//! The router is the very same one the local server uses; this module only adapts
//! requests on the way in.

use crate::app::App;
use crate::auth::GatewayClaims;
use crate::config::Config;
use crate::context::{BasePath, Invocation, RequestDefect, Runtime, TargetTooLong};
use axum::body::Body;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use base64::Engine as _;
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::lambda_runtime;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Adapter, Context, LambdaEvent, RequestExt, Service};
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use tower::ServiceExt;
use validator::ValidateUrl as _;

/// Serves Lambda invocations until the runtime stops. State was built once, before
/// this call: each cold start pays for it once, never each request.
///
/// `lambda_runtime` directly rather than `lambda_http::run`, so each event is checked
/// before `lambda_http` converts it (its conversion panics on some malformed events).
/// `run_concurrent` honours `AWS_LAMBDA_MAX_CONCURRENCY` (Lambda Managed Instances:
/// several invocations at once in one environment; the service is safe to share) and
/// runs one at a time when it is unset or 1, as on classic Lambda.
pub async fn run(app: App) -> Result<(), lambda_http::Error> {
    lambda_runtime::run_concurrent(lambda_http::service_fn(
        move |event: LambdaEvent<LambdaRequest>| {
            let app = app.clone();
            async move { handle(app, event).await.map_err(lambda_http::Error::from) }
        },
    ))
    .await
}

/// Runs one event (any payload `lambda_http` knows: REST v1, HTTP API v2, function
/// URL, ALB) through the service, as Lambda would, and returns the Lambda response JSON.
/// `function` describes the function as the runtime would (see [`function_config`]).
pub async fn invoke(
    app: App,
    event: &str,
    function: lambda_runtime::Config,
) -> Result<serde_json::Value, InvokeError> {
    let payload: LambdaRequest = serde_json::from_str(event).map_err(InvokeError::Event)?;
    let mut context = Context::default();
    context.request_id = format!("invoke-{}", uuid::Uuid::now_v7());
    context.env_config = Arc::new(function);
    let response = handle(app, LambdaEvent::new(payload, context))
        .await
        .map_err(InvokeError::Conversion)?;
    serde_json::to_value(response).map_err(InvokeError::Response)
}

/// The function's description, from the variables the Lambda runtime reads
/// (`AWS_LAMBDA_FUNCTION_NAME`, `..._VERSION`, `..._MEMORY_SIZE`, `AWS_LAMBDA_LOG_*`);
/// unlike the runtime's own reader, a missing one is left empty rather than a panic.
pub fn function_config(config: &Config) -> lambda_runtime::Config {
    lambda_runtime::Config {
        function_name: config
            .lambda
            .lambda_function_name
            .clone()
            .unwrap_or_default(),
        version: config
            .lambda
            .lambda_function_version
            .clone()
            .unwrap_or_default(),
        memory: config.lambda.lambda_function_memory_mb.unwrap_or_default(),
        log_group: config.lambda.lambda_log_group.clone().unwrap_or_default(),
        log_stream: config.lambda.lambda_log_stream.clone().unwrap_or_default(),
    }
}

/// One invocation: the event checked and made convertible, converted by `lambda_http`,
/// served. A defect of the event becomes a 400 problem, a target too long for a URI a
/// 414 problem, in the response the event's kind expects; a conversion that panics all
/// the same becomes an invocation error, never a crash.
async fn handle(
    app: App,
    event: LambdaEvent<LambdaRequest>,
) -> Result<LambdaResponse, ConversionError> {
    let LambdaEvent {
        mut payload,
        context,
    } = event;
    let defects = repair(&mut payload);
    let mut adapter = Adapter::from(LambdaService { app, defects });
    let response = std::panic::catch_unwind(AssertUnwindSafe(|| {
        adapter.call(LambdaEvent::new(payload, context))
    }))
    .map_err(|_| ConversionError)?;
    Ok(response
        .await
        .unwrap_or_else(|never: Infallible| match never {}))
}

/// What `lambda_http` answers the runtime with (its type is not exported by name).
type LambdaResponse = <Adapter<'static, BufferedResponse, LambdaService> as Service<
    LambdaEvent<LambdaRequest>,
>>::Response;

/// `lambda_http` could not convert an event it had accepted (its conversion panicked).
#[derive(Debug, thiserror::Error)]
#[error("lambda_http could not convert the event into a request")]
pub struct ConversionError;

/// Why an event could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("the event could not be served")]
    Conversion(#[source] ConversionError),
    #[error(
        "the event is not an API Gateway (REST v1 or HTTP API v2), function URL or ALB \
         request; capture a real event or use the fixtures under tests/events/"
    )]
    Event(#[source] serde_json::Error),
    #[error("the Lambda response does not serialize")]
    Response(#[source] serde_json::Error),
}

/// The router as a service of Lambda requests; `defects` says what [`repair`] found
/// wrong with this invocation's event.
#[derive(Debug, Clone)]
struct LambdaService {
    app: App,
    defects: Defects,
}

/// A response whose body is already read: what `lambda_http` serializes, and `Sync`,
/// as its concurrent runtime requires (axum's streaming body is not).
type BufferedResponse = axum::http::Response<http_body_util::Full<axum::body::Bytes>>;

impl Service<lambda_http::Request> for LambdaService {
    type Response = BufferedResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: lambda_http::Request) -> Self::Future {
        let app = self.app.clone();
        let mut request = adapt(request);
        if let Some(reason) = self.defects.reason.take() {
            request.extensions_mut().insert(RequestDefect(reason));
        }
        if self.defects.target_too_long {
            request
                .extensions_mut()
                .insert(TargetTooLong(MAX_HTTP_URI_BYTES));
        }
        Box::pin(async move {
            let response = app
                .oneshot(request)
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            let (parts, body) = response.into_parts();
            // The router's bodies are in memory already; a failure to read one is a bug
            // of ours, answered as a 500 problem without the body.
            let bytes = match http_body_util::BodyExt::collect(body).await {
                Ok(collected) => collected.to_bytes(),
                Err(error) => {
                    tracing::error!(%error, "cannot read the response body");
                    let mut failed = BufferedResponse::new(http_body_util::Full::default());
                    *failed.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    return Ok(failed);
                }
            };
            Ok(BufferedResponse::from_parts(
                parts,
                http_body_util::Full::new(bytes),
            ))
        })
    }
}

/// What [`repair`] found wrong with an event, for the service to answer.
#[derive(Debug, Clone, Default)]
struct Defects {
    /// Why the event cannot be served as sent: answered 400 with this reason.
    reason: Option<String>,
    /// The path and query would make a URI longer than `lambda_http` can build: `/`
    /// took their place, and the service answers 414.
    target_too_long: bool,
}

/// The longest URI an `http::Uri` holds (http's `MAX_LEN`); `lambda_http` panics
/// building a request with a longer one (`Uri(TooLong)`).
const MAX_HTTP_URI_BYTES: usize = u16::MAX as usize - 1;

/// The longest Host accepted: a DNS name written out (RFC 1035: 253 bytes) and a port.
const MAX_HOST_BYTES: usize = 253 + ":65535".len();

/// The most a URI that `lambda_http` builds holds besides the path and query: the
/// scheme, a host of [`MAX_HOST_BYTES`] (`url` writes a decimal IPv4 host dotted, a few
/// bytes longer) and the separators.
const MAX_AUTHORITY_BYTES: usize = "https://".len() + MAX_HOST_BYTES + 32;

/// Makes an event that `lambda_http` would panic on convertible, and says what was
/// wrong with it. `lambda_http` decodes a body marked base64 and unwraps; it parses
/// `scheme://host/stage/path` with the `url` crate and unwraps; it appends the query
/// and expects `http::Request`'s builder to accept the URI (its `build_request_uri`
/// and `into_*_request`). So, each answered 400 with the reason:
///
/// - a body marked base64 that is not is dropped;
/// - a Host header or domain name that is not a host ([`is_host`]) and an
///   X-Forwarded-Proto that is not a scheme are dropped;
/// - a path that does not start with `/` (it would run into the host) becomes `/`;
/// - an HTTP API raw query string that `http::Uri` rejects is dropped;
///
/// and a path and query that would make a URI longer than an `http::Uri` holds become
/// `/` without a query, answered 414.
fn repair(payload: &mut LambdaRequest) -> Defects {
    let mut defects = Vec::new();
    let (headers, multi_value_headers, body, base64, domain_name) = match payload {
        LambdaRequest::ApiGatewayV1(event) => (
            &mut event.headers,
            Some(&mut event.multi_value_headers),
            &mut event.body,
            &mut event.is_base64_encoded,
            &mut event.request_context.domain_name,
        ),
        LambdaRequest::ApiGatewayV2(event) => (
            &mut event.headers,
            None,
            &mut event.body,
            &mut event.is_base64_encoded,
            &mut event.request_context.domain_name,
        ),
        LambdaRequest::Alb(event) => (
            &mut event.headers,
            Some(&mut event.multi_value_headers),
            &mut event.body,
            &mut event.is_base64_encoded,
            &mut None,
        ),
        _ => return Defects::default(),
    };
    if *base64
        && body.as_deref().is_some_and(|text| {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .is_err()
        })
    {
        *body = None;
        *base64 = false;
        defects.push("the event's body is marked base64-encoded but is not valid base64");
    }
    let mut all_headers = vec![headers];
    all_headers.extend(multi_value_headers);
    let bad_host = |value: &HeaderValue| value.to_str().map_or(true, |host| !is_host(host));
    let bad_proto = |value: &HeaderValue| {
        !value.as_bytes().eq_ignore_ascii_case(b"https")
            && !value.as_bytes().eq_ignore_ascii_case(b"http")
    };
    for headers in all_headers {
        if remove_if(headers, header::HOST, bad_host) {
            defects.push("the Host header is not a host name");
        }
        if remove_if(headers, "x-forwarded-proto", bad_proto) {
            defects.push("the X-Forwarded-Proto header is not http or https");
        }
    }
    if domain_name.as_deref().is_some_and(|name| !is_host(name)) {
        *domain_name = None;
        defects.push("the request context's domain name is not a host name");
    }
    let target_too_long = repair_target(payload, &mut defects);
    defects.dedup();
    let reason = (!defects.is_empty()).then(|| {
        let mut reason = defects.join("; ");
        reason.push('.');
        let mut chars = reason.chars();
        chars
            .next()
            .map(|first| first.to_uppercase().collect::<String>() + chars.as_str())
            .unwrap_or_default()
    });
    Defects {
        reason,
        target_too_long,
    }
}

/// Makes the event's path and query ones `lambda_http` can build a URI of (see
/// [`repair`]), adding what was wrong to `defects`; says whether they would have made a
/// URI too long, and were replaced by `/`.
fn repair_target(payload: &mut LambdaRequest, defects: &mut Vec<&'static str>) -> bool {
    match payload {
        LambdaRequest::ApiGatewayV1(event) => {
            repair_path(&mut event.path, defects);
            repair_query_maps(
                [
                    &mut event.query_string_parameters,
                    &mut event.multi_value_query_string_parameters,
                ],
                defects,
            );
            let query = appended_query(
                &event.multi_value_query_string_parameters,
                &event.query_string_parameters,
            );
            let stage = &mut event.request_context.stage;
            let too_long = over_uri_limit(stage.as_deref(), event.path.as_deref(), query.len());
            if too_long {
                event.path = Some("/".to_owned());
                event.query_string_parameters = QueryMap::default();
                event.multi_value_query_string_parameters = QueryMap::default();
                // They repeat the path; without them the base path is the stage's.
                event.path_parameters.clear();
                event.request_context.path = None;
                drop_stage_too_long(stage);
            }
            too_long
        }
        LambdaRequest::ApiGatewayV2(event) => {
            repair_path(&mut event.raw_path, defects);
            repair_query_maps([&mut event.query_string_parameters], defects);
            // Appended as sent.
            let query = event.raw_query_string.as_deref().map_or(0, str::len);
            let stage = &mut event.request_context.stage;
            let too_long = over_uri_limit(stage.as_deref(), event.raw_path.as_deref(), query);
            if too_long {
                event.raw_path = Some("/".to_owned());
                event.raw_query_string = None;
                event.query_string_parameters = QueryMap::default();
                drop_stage_too_long(stage);
            } else if event
                .raw_query_string
                .as_deref()
                .is_some_and(|q| !is_query(q))
            {
                event.raw_query_string = None;
                event.query_string_parameters = QueryMap::default();
                defects.push("the event's raw query string is not a URI query");
            }
            too_long
        }
        LambdaRequest::Alb(event) => {
            repair_path(&mut event.path, defects);
            repair_query_maps(
                [
                    &mut event.query_string_parameters,
                    &mut event.multi_value_query_string_parameters,
                ],
                defects,
            );
            let query = appended_query(
                &alb_decoded(&event.multi_value_query_string_parameters),
                &alb_decoded(&event.query_string_parameters),
            );
            let too_long = over_uri_limit(None, event.path.as_deref(), query.len());
            if too_long {
                event.path = Some("/".to_owned());
                event.query_string_parameters = QueryMap::default();
                event.multi_value_query_string_parameters = QueryMap::default();
            }
            too_long
        }
        _ => false,
    }
}

/// A path that does not start with `/` becomes `/`: `lambda_http` writes it right after
/// the host, where `:x` makes a bad port and `@` an empty host.
fn repair_path(path: &mut Option<String>, defects: &mut Vec<&'static str>) {
    if path
        .as_deref()
        .is_some_and(|path| !path.is_empty() && !path.starts_with('/'))
    {
        *path = Some("/".to_owned());
        defects.push("the event's path does not start with /");
    }
}

/// Drops the names that have no value from the event's query maps (`"name": []`):
/// `query_map`'s iterator, and so the `to_query_string` that `lambda_http` calls, takes
/// the first value of each name and panics on an empty list.
fn repair_query_maps<const N: usize>(maps: [&mut QueryMap; N], defects: &mut Vec<&'static str>) {
    for map in maps {
        if let Some(repaired) = without_names_without_values(map) {
            *map = repaired;
            defects.push("the event has a query parameter without a value");
        }
    }
}

/// `map` without its names that have no value; None when every name has one.
/// `QueryMap` shows its names only through that iterator, but serializes as a map of
/// value lists.
fn without_names_without_values(map: &QueryMap) -> Option<QueryMap> {
    if map.is_empty() {
        return None;
    }
    let serde_json::Value::Object(names) = serde_json::to_value(map).ok()? else {
        return None;
    };
    let empty = |values: &serde_json::Value| values.as_array().is_none_or(Vec::is_empty);
    if !names.values().any(empty) {
        return None;
    }
    let kept: std::collections::HashMap<String, Vec<String>> = names
        .into_iter()
        .filter(|(_, values)| !empty(values))
        .filter_map(|(name, values)| Some((name, serde_json::from_value(values).ok()?)))
        .collect();
    Some(QueryMap::from(kept))
}

/// The stage goes too when it alone would make the URI too long (`lambda_http` puts
/// it in front of the path).
fn drop_stage_too_long(stage: &mut Option<String>) {
    if over_uri_limit(stage.as_deref(), Some("/"), 0) {
        *stage = None;
    }
}

/// Whether the URI `lambda_http` builds from this stage, path and a query of
/// `query_bytes` could be longer than an `http::Uri` holds. An upper bound: each byte
/// that `url` may percent-encode counts three.
fn over_uri_limit(stage: Option<&str>, path: Option<&str>, query_bytes: usize) -> bool {
    let target = [stage, path]
        .into_iter()
        .flatten()
        .map(|part| 1 + encoded_len(part))
        .sum::<usize>()
        + 1
        + query_bytes;
    MAX_AUTHORITY_BYTES + target > MAX_HTTP_URI_BYTES
}

/// The bytes `url` may write for `text` in a URL: three for each byte it may
/// percent-encode (controls, space, ``"#'<>?`{}``, DEL, non-ASCII), one for the others.
fn encoded_len(text: &str) -> usize {
    text.bytes()
        .map(|b| {
            if b.is_ascii_graphic() && !b"\"#'<>?`{}".contains(&b) {
                1
            } else {
                3
            }
        })
        .sum()
}

/// The query `lambda_http` appends from REST v1 and ALB maps: the multi-value map when
/// it has any entry, else the single-value one.
fn appended_query(multi: &QueryMap, single: &QueryMap) -> String {
    if multi.is_empty() {
        single.to_query_string()
    } else {
        multi.to_query_string()
    }
}

/// An ALB query map as `lambda_http` decodes it before appending it (its
/// `decode_query_map`).
fn alb_decoded(map: &QueryMap) -> QueryMap {
    let query = map.to_query_string();
    percent_encoding::percent_decode_str(&query)
        .decode_utf8_lossy()
        .parse()
        .unwrap_or_else(|never: Infallible| match never {})
}

/// Whether an `http::Uri` accepts `query` (HTTP API raw query strings are appended to
/// the URI as sent).
fn is_query(query: &str) -> bool {
    query.is_empty() || format!("/?{query}").parse::<PathAndQuery>().is_ok()
}

/// Removes every value of `name` when any of them is `bad`; says whether it did.
fn remove_if(
    headers: &mut HeaderMap,
    name: impl axum::http::header::AsHeaderName + Clone,
    bad: impl Fn(&HeaderValue) -> bool,
) -> bool {
    if headers.get_all(name.clone()).iter().any(bad) {
        headers.remove(name);
        return true;
    }
    false
}

/// A host name or address with an optional port, as a URL's authority can hold it and
/// as the `url` crate parses it: `lambda_http` unwraps that parse, so a name IDNA
/// rejects (`xn--zz.com`, not punycode) or whose last label is a number
/// (`example.123`, which the URL standard reads as IPv4) panicked there. validator's
/// URL check is `url`'s parser itself.
fn is_host(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_HOST_BYTES
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
        && text.parse::<axum::http::uri::Authority>().is_ok()
        && format!("https://{text}/").parse::<Uri>().is_ok()
        && format!("https://{text}/").validate_url()
}

/// Moves the base path (stage, custom-domain mapping) out of the URI into a
/// [`BasePath`], records the invocation's facts, and hands axum its own body type.
fn adapt(request: lambda_http::Request) -> axum::extract::Request {
    let (base, app_path) = split_base_path(&request);
    let invocation = invocation(&request);
    let claims = gateway_claims(&request);
    let (mut parts, body) = request.into_parts();
    if app_path != parts.uri.path() {
        let rebuilt = match parts.uri.query() {
            Some(query) => format!("{app_path}?{query}"),
            None => app_path,
        };
        if let Ok(path_and_query) = rebuilt.parse::<Uri>() {
            let mut uri = parts.uri.clone().into_parts();
            uri.path_and_query = path_and_query.into_parts().path_and_query;
            if let Ok(uri) = Uri::from_parts(uri) {
                parts.uri = uri;
            }
        }
    }
    // lambda_http builds the URI's authority from the Host header or, without one, from
    // the request context's domain name: a request always names the host it reached.
    if !parts.headers.contains_key(header::HOST)
        && let Some(host) = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        parts.headers.insert(header::HOST, host);
        if !parts.headers.contains_key("x-forwarded-proto")
            && let Some(scheme) = parts
                .uri
                .scheme_str()
                .and_then(|s| HeaderValue::from_str(s).ok())
        {
            parts.headers.insert("x-forwarded-proto", scheme);
        }
    }
    parts.extensions.insert(BasePath::new(&base));
    parts.extensions.insert(invocation);
    if let Some(claims) = claims {
        parts.extensions.insert(claims);
    }
    let body = match body {
        lambda_http::Body::Text(text) => Body::from(text),
        lambda_http::Body::Binary(bytes) => Body::from(bytes),
        _ => Body::empty(),
    };
    axum::extract::Request::from_parts(parts, body)
}

/// `(base path the client used, path within the API)`.
///
/// - REST API (v1): with the `{proxy+}` resource the API path is the end of the path
///   that decodes to `/` + `proxy`, its encoding kept; the
///   client's full path (`requestContext.path`) minus it is the base: `/prod` on the
///   execute-api host, the mapping (`/v1`) or nothing on a custom domain. Any other
///   resource (the root `/`, a route per path): the path without the stage, which
///   `lambda_http` puts before `path`.
/// - HTTP API (v2): `rawPath` is the client's path, with what came before the API in
///   it: a named stage (aws-lambda-rust-runtime#919) or a custom domain's API mapping
///   key (`/v1/api/items` for the route `ANY /api/items`). The route that matched
///   (`routeKey`, its path parameters filled in) is the API path, as sent; the rest of
///   `rawPath` before it is the base. Without a route of its own (`$default`, function
///   URLs): a named stage is the first segment of `rawPath`; `$default` has none.
/// - ALB: no base path.
fn split_base_path(request: &lambda_http::Request) -> (String, String) {
    let path = request.uri().path().to_owned();
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => {
            let stage = context.stage.as_deref().filter(|s| *s != "$default");
            let proxy = request
                .path_parameters_ref()
                .and_then(|params| params.first("proxy"));
            let app_path = match (context.resource_path.as_deref(), proxy) {
                (Some("/{proxy+}"), Some(proxy)) => encoded_suffix(&path, proxy)
                    .unwrap_or_else(|| format!("/{}", proxy.trim_start_matches('/'))),
                _ => strip_stage(&path, stage),
            };
            let client_path = context.path.as_deref().unwrap_or(&path);
            let base = match client_path.strip_suffix(app_path.as_str()) {
                Some(base) => base.to_owned(),
                None if app_path == "/" => client_path.to_owned(),
                None => stage.map(|s| format!("/{s}")).unwrap_or_default(),
            };
            (base, app_path)
        }
        Some(RequestContext::ApiGatewayV2(context)) => {
            let route = context.route_key.as_deref().and_then(route_path);
            let matched = route.and_then(|route| {
                let app_path = route_suffix(&path, route, request.path_parameters_ref())?;
                let base = if app_path == "/" {
                    path.trim_end_matches('/')
                } else {
                    path.strip_suffix(app_path.as_str())?
                };
                Some((base.to_owned(), app_path))
            });
            if let Some(found) = matched {
                return found;
            }
            let stage = context.stage.as_deref().filter(|s| *s != "$default");
            let app_path = strip_stage(&path, stage);
            let base = if app_path == path {
                String::new()
            } else {
                stage.map(|s| format!("/{s}")).unwrap_or_default()
            };
            (base, app_path)
        }
        _ => (String::new(), path),
    }
}

/// The end of `path` (as sent: REST APIs keep its percent-encoding) that decodes to
/// `/` + `proxy` (which API Gateway decodes): the API path with an encoded space or
/// slash still inside its segment, as the local server routes it. None when no suffix
/// decodes to it.
///
/// Percent-decoding never reaches across a `/` (not a hex digit), so a suffix decodes
/// to its segments' decodings put together, and only the one suffix as long as
/// `wanted` once decoded can match: one pass, where decoding every suffix took time
/// quadratic in the path's length (seconds for a path of many slashes).
fn encoded_suffix(path: &str, proxy: &str) -> Option<String> {
    let wanted = format!("/{}", proxy.trim_start_matches('/'));
    let starts: Vec<usize> = path.match_indices('/').map(|(at, _)| at).collect();
    let ends = starts.iter().skip(1).copied().chain([path.len()]);
    let segments: Vec<_> = starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| {
            percent_encoding::percent_decode_str(&path[start..end]).decode_utf8_lossy()
        })
        .collect();
    let mut decoded_len = 0;
    for (first, segment) in segments.iter().enumerate().rev() {
        decoded_len += segment.len();
        if decoded_len >= wanted.len() {
            return (decoded_len == wanted.len() && segments[first..].concat() == wanted)
                .then(|| path[starts[first]..].to_owned());
        }
    }
    None
}

/// The path of an HTTP API route key (`ANY /api/items` → `/api/items`); None for
/// `$default`, which names no path.
fn route_path(route_key: &str) -> Option<&str> {
    let (_method, path) = route_key.split_once(' ')?;
    path.starts_with('/').then_some(path)
}

/// The end of `path` (as sent) that the HTTP API route `route` matched: the route's
/// path with each `{name}` and `{name+}` replaced by its path parameter; the root
/// route `/` is `/` whatever the base (`/v1` or `/v1/`). None when `path` does not end with
/// it, decoded or as sent (a parameter API Gateway decoded that the path encodes).
fn route_suffix(path: &str, route: &str, parameters: Option<&QueryMap>) -> Option<String> {
    if route == "/" {
        return Some("/".to_owned());
    }
    let mut wanted = String::new();
    for segment in route.split('/').filter(|s| !s.is_empty()) {
        let value = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => parameters?.first(name.trim_end_matches('+'))?,
            None => segment,
        };
        wanted.push('/');
        wanted.push_str(value.trim_start_matches('/'));
    }
    if path.ends_with(&wanted) {
        return Some(wanted);
    }
    encoded_suffix(path, &wanted)
}

/// `/prod/api/x` → `/api/x` for stage `prod`; anything else unchanged.
fn strip_stage(path: &str, stage: Option<&str>) -> String {
    let Some(stage) = stage else {
        return path.to_owned();
    };
    let prefix = format!("/{stage}");
    match path.strip_prefix(&prefix) {
        Some("") => "/".to_owned(),
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        _ => path.to_owned(),
    }
}

/// The claims API Gateway's authorizer verified: a REST API's Cognito authorizer puts
/// them in `requestContext.authorizer.claims` (every value a string), an HTTP API's JWT
/// authorizer in `requestContext.authorizer.jwt.claims`. None without an authorizer.
fn gateway_claims(request: &lambda_http::Request) -> Option<GatewayClaims> {
    let claims = match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context
            .authorizer
            .fields
            .get("claims")?
            .as_object()?
            .clone(),
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()?
            .claims
            .iter()
            .map(|(name, value)| (name.clone(), serde_json::Value::from(value.as_str())))
            .collect(),
        _ => return None,
    };
    Some(GatewayClaims(claims))
}

/// The facts of this invocation that `/api/aws-info` and the request log report.
fn invocation(request: &lambda_http::Request) -> Invocation {
    let lambda = request.lambda_context_ref();
    let mut invocation = Invocation {
        lambda_request_id: lambda
            .map(|c| c.request_id.clone())
            .filter(|id| !id.is_empty()),
        trace_id: lambda.and_then(|c| c.xray_trace_id.clone()),
        function_name: lambda
            .map(|c| c.env_config.function_name.clone())
            .filter(|s| !s.is_empty()),
        function_version: lambda
            .map(|c| c.env_config.version.clone())
            .filter(|s| !s.is_empty()),
        memory_limit_mb: lambda
            .and_then(|c| u32::try_from(c.env_config.memory).ok())
            .filter(|m| *m > 0),
        log_group: lambda
            .map(|c| c.env_config.log_group.clone())
            .filter(|s| !s.is_empty()),
        log_stream: lambda
            .map(|c| c.env_config.log_stream.clone())
            .filter(|s| !s.is_empty()),
        ..Invocation::default()
    };
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => {
            invocation.api_request_id = context.request_id.clone();
            invocation.stage = context.stage.clone();
            invocation.source_ip = context.identity.source_ip.clone();
        }
        Some(RequestContext::ApiGatewayV2(context)) => {
            invocation.api_request_id = context.request_id.clone();
            invocation.stage = context.stage.clone();
            invocation.source_ip = context.http.source_ip.clone();
        }
        _ => {
            // ALB: the client is the first address of X-Forwarded-For.
            invocation.source_ip = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|ip| ip.trim().to_owned());
        }
    }
    invocation
}

/// What is known about the Lambda environment at a cold start, from a fixed allow-list
/// of the variables Lambda sets. Nothing else of the environment is read.
pub fn environment(region: Option<String>, execution_env: Option<String>) -> Runtime {
    Runtime {
        in_lambda: true,
        region,
        // AWS_EXECUTION_ENV is `AWS_Lambda_<runtime>`, e.g. `AWS_Lambda_provided.al2023`.
        runtime: execution_env.map(|env| {
            env.strip_prefix("AWS_Lambda_")
                .map(str::to_owned)
                .unwrap_or(env)
        }),
        architecture: Some(std::env::consts::ARCH.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_may_be_a_whole_dns_name_and_a_port_and_no_longer() {
        // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 bytes, the longest DNS name.
        let name = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(name.len(), 253);
        assert!(is_host(&format!("{name}:65535")), "259 bytes");
        assert!(!is_host(&format!("{name}:655350")), "260 bytes");
        assert!(!is_host(&format!("{name}x:65535")), "260 bytes");
    }

    #[test]
    fn a_target_is_over_the_limit_from_the_first_byte_a_uri_could_not_hold() {
        // http's Uri holds 65534 bytes; https:// (8), the longest host (259) and 32
        // bytes to spare leave 65235 for `/` + path + `?` (counted) + query.
        let path = |length: usize| "a".repeat(length);
        assert!(!over_uri_limit(None, Some(&path(65233)), 0));
        assert!(over_uri_limit(None, Some(&path(65234)), 0));
        assert!(!over_uri_limit(None, Some(&path(65223)), 10));
        assert!(over_uri_limit(None, Some(&path(65223)), 11));
        // A stage is a segment of its own; a byte `url` encodes counts three.
        assert!(!over_uri_limit(Some("prod"), Some(&path(65228)), 0));
        assert!(over_uri_limit(Some("prod"), Some(&path(65229)), 0));
        assert!(over_uri_limit(None, Some(&(path(65232) + " ")), 0));
    }

    #[test]
    fn stages_are_stripped_only_as_whole_segments() {
        assert_eq!(strip_stage("/prod/api/x", Some("prod")), "/api/x");
        assert_eq!(strip_stage("/prod", Some("prod")), "/");
        assert_eq!(strip_stage("/production/x", Some("prod")), "/production/x");
        assert_eq!(strip_stage("/api/x", None), "/api/x");
    }

    #[test]
    fn hosts_are_what_the_url_parser_accepts() {
        for host in [
            "abc123defg.execute-api.eu-west-1.amazonaws.com",
            "xn--bcher-kva.example",
            "127.0.0.1:8080",
            "[::1]:443",
            "localhost",
        ] {
            assert!(is_host(host), "{host}");
        }
        let long = format!("{}.example", "a".repeat(MAX_HOST_BYTES));
        for host in [
            "xn--zz.com",
            "www.example.123",
            "bad host",
            "",
            long.as_str(),
        ] {
            assert!(!is_host(host), "{host}");
        }
    }

    #[test]
    fn the_uri_bound_counts_percent_encoded_bytes_three_times() {
        let fits = MAX_HTTP_URI_BYTES - MAX_AUTHORITY_BYTES - 2;
        assert!(!over_uri_limit(None, Some(&"a".repeat(fits)), 0));
        assert!(over_uri_limit(None, Some(&"a".repeat(fits + 1)), 0));
        assert!(over_uri_limit(None, Some(&" ".repeat(fits / 3 + 1)), 0));
        assert!(over_uri_limit(Some("prod"), Some("/"), MAX_HTTP_URI_BYTES));
    }

    #[test]
    fn names_without_values_are_dropped_from_query_maps() {
        let map = QueryMap::from(std::collections::HashMap::from([
            ("a".to_owned(), Vec::new()),
            ("b".to_owned(), vec!["1".to_owned()]),
        ]));
        let repaired = without_names_without_values(&map).expect("repaired");
        assert_eq!(repaired.to_query_string(), "b=1");
        assert!(without_names_without_values(&repaired).is_none());
    }

    #[test]
    fn encoded_suffixes_keep_the_encoding_as_sent() {
        let cases = [
            (
                "/prod/api/items/not%20an%2Fid",
                "api/items/not an/id",
                Some("/api/items/not%20an%2Fid"),
            ),
            ("/v1/api/x", "api/x", Some("/api/x")),
            ("/a/", "", Some("/")),
            ("/%2F", "/", None),
            ("/a/b", "c", None),
            ("no-slash", "no-slash", None),
        ];
        for (path, proxy, suffix) in cases {
            assert_eq!(
                encoded_suffix(path, proxy).as_deref(),
                suffix,
                "{path} {proxy}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 256,
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]

        /// The one-pass search finds what decoding every suffix would.
        #[test]
        fn encoded_suffix_is_the_first_suffix_that_decodes_to_the_proxy(
            path in "(/|%2[fF]|%2|%|a|é|%C3|%A9|%FF)*",
            proxy in "(/|a|é|\\u{FFFD})*",
        ) {
            let wanted = format!("/{}", proxy.trim_start_matches('/'));
            let every_suffix = path
                .match_indices('/')
                .map(|(at, _)| &path[at..])
                .find(|suffix| percent_encoding::percent_decode_str(suffix).decode_utf8_lossy() == wanted)
                .map(str::to_owned);
            proptest::prop_assert_eq!(encoded_suffix(&path, &proxy), every_suffix);
        }
    }

    #[test]
    fn runtime_drops_the_execution_env_prefix() {
        let info = environment(
            Some("eu-west-1".to_owned()),
            Some("AWS_Lambda_provided.al2023".to_owned()),
        );
        assert_eq!(info.runtime.as_deref(), Some("provided.al2023"));
        assert_eq!(info.region.as_deref(), Some("eu-west-1"));
        assert!(info.in_lambda);
    }
}
