//! HTTP behaviour in front of every route that is not the API's own logic: CORS and the
//! trailing-slash compatibility of the original service.

use crate::context::REQUEST_ID;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

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
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, REQUEST_ID])
            .expose_headers([header::LOCATION, REQUEST_ID, header::RETRY_AFTER])
            .max_age(Duration::from_secs(3600)),
    )
}

/// The original service accepted `POST /api/items/`; API paths with a trailing slash
/// are served as their canonical form. Only `/api/` paths are rewritten: `/docs/` must
/// keep its slash for Swagger UI's relative asset URLs. (tower-http's
/// `NormalizePathLayer` rewrites every path, which loops on the `/docs` redirect.)
pub fn trim_api_trailing_slash(mut request: Request) -> Request {
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
    fn only_api_paths_lose_their_trailing_slash() {
        let rewrite = |uri: &str| {
            let request = Request::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .expect("valid");
            trim_api_trailing_slash(request).uri().to_string()
        };
        assert_eq!(rewrite("/api/items/"), "/api/items");
        assert_eq!(rewrite("/api/items/?limit=2"), "/api/items?limit=2");
        assert_eq!(rewrite("/api/items//"), "/api/items");
        assert_eq!(rewrite("/docs/"), "/docs/");
        assert_eq!(rewrite("/api/"), "/api/");
    }
}
