//! HTTP behaviour in front of every route that is not the API's own logic: CORS, the
//! trailing-slash compatibility of the original service, the request limits the
//! application answers itself (414, 431, a request the transport marked unreadable),
//! the client request id's bounds, and the security headers of every response.

use crate::context::{REQUEST_ID, RequestDefect, TargetTooLong};
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// The request limits the application enforces, below hyper's own, so that a client
/// over them gets a problem document the contract describes.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Longest request target (path and query), in bytes.
    pub max_uri_bytes: usize,
    /// Largest total size of the headers: each name, value and 4 bytes of separators.
    pub max_header_bytes: usize,
    /// Most headers.
    pub max_headers: usize,
}

/// Middleware: 414 for a long target (or one the transport could not carry), 431 for
/// too many or too large headers, and 400 for a request the transport could not read
/// whole (a broken Lambda event).
pub async fn enforce_limits(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(RequestDefect(reason)) = request.extensions().get::<RequestDefect>() {
        return ApiError::BadRequest(reason.clone()).into_response();
    }
    if let Some(TargetTooLong(carried)) = request.extensions().get::<TargetTooLong>() {
        return ApiError::UriTooLong {
            limit: limits.max_uri_bytes.min(*carried),
        }
        .into_response();
    }
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > limits.max_uri_bytes {
        return ApiError::UriTooLong {
            limit: limits.max_uri_bytes,
        }
        .into_response();
    }
    let headers = request.headers();
    if headers.len() > limits.max_headers {
        return ApiError::too_many_headers(headers.len(), limits.max_headers).into_response();
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > limits.max_header_bytes {
        return ApiError::headers_too_large(bytes, limits.max_header_bytes).into_response();
    }
    next.run(request).await
}

/// Longest client request id kept.
pub const REQUEST_ID_MAX_CHARS: usize = 128;

/// Drops a client `x-request-id` that is not 1 to [`REQUEST_ID_MAX_CHARS`] visible
/// ASCII characters, so a generated one takes its place: the id is echoed into
/// responses and log lines, where markup, control characters or kilobytes of it do
/// not belong.
pub fn bound_request_id(mut request: Request) -> Request {
    let acceptable = request.headers().get(REQUEST_ID).is_none_or(|id| {
        let id = id.as_bytes();
        !id.is_empty()
            && id.len() <= REQUEST_ID_MAX_CHARS
            && id
                .iter()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\' | b'\''))
    });
    if !acceptable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` on every
/// response that does not set its own.
pub fn security_headers() -> (
    SetResponseHeaderLayer<HeaderValue>,
    SetResponseHeaderLayer<HeaderValue>,
) {
    (
        SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ),
    )
}

/// CORS from the configured origins; `None` when there are none.
pub fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                REQUEST_ID,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                header::LOCATION,
                REQUEST_ID,
                header::RETRY_AFTER,
                header::ETAG,
                HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

/// What every request goes through before routing: its request id bounded
/// ([`bound_request_id`]) and an API path's trailing slash dropped.
///
/// The original service accepted `POST /api/items/`; API paths with a trailing slash
/// are served as their canonical form. Only `/api/` paths are rewritten: `/docs/` must
/// keep its slash for Swagger UI's relative asset URLs. (tower-http's
/// `NormalizePathLayer` rewrites every path, which loops on the `/docs` redirect.)
pub fn normalize_request(request: Request) -> Request {
    trim_trailing_slash(bound_request_id(request))
}

fn trim_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > "/api/".len() && path.starts_with("/api/") && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_ids_are_kept_only_when_short_and_visible_ascii() {
        let kept = |id: &str| {
            let request = Request::builder()
                .header(REQUEST_ID, id)
                .body(axum::body::Body::empty())
                .expect("valid");
            bound_request_id(request)
                .headers()
                .get(REQUEST_ID)
                .is_some()
        };
        assert!(kept("log-test-1"));
        assert!(kept(&"a".repeat(REQUEST_ID_MAX_CHARS)));
        assert!(!kept(&"a".repeat(REQUEST_ID_MAX_CHARS + 1)));
        for bad in [
            "<script>alert(1)</script>",
            "two words",
            "quote\"",
            "tab\tid",
            "é",
        ] {
            assert!(!kept(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_api_paths_lose_their_trailing_slash() {
        let rewrite = |uri: &str| {
            let request = Request::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .expect("valid");
            trim_trailing_slash(request).uri().to_string()
        };
        assert_eq!(rewrite("/api/items/"), "/api/items");
        assert_eq!(rewrite("/api/items/?limit=2"), "/api/items?limit=2");
        assert_eq!(rewrite("/api/items//"), "/api/items");
        assert_eq!(rewrite("/docs/"), "/docs/");
        assert_eq!(rewrite("/api/"), "/api/");
    }
}
