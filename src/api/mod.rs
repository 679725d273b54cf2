//! The HTTP operations and the OpenAPI document they make together.
//!
//! [`ApiDoc`] holds what belongs to the whole document (info, tags, security scheme,
//! reusable responses); each handler's `#[utoipa::path]` adds its operation and schemas
//! when [`routes`] registers it. `openapi.yaml` must equal the result.

pub mod aws_info;
pub mod health;
pub mod items;
pub mod welcome;

use crate::context::AppState;
use crate::error;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Tag of the item operations.
pub const ITEMS_TAG: &str = "items";
/// Tag of the service operations (welcome, health, aws-info).
pub const SERVICE_TAG: &str = "service";

/// Document-wide parts of the contract.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Items API",
        version = env!("CARGO_PKG_VERSION"),
        description = "A small catalogue of items, served by one Rust binary on a workstation \
(SQLite) or on AWS Lambda behind API Gateway (DynamoDB).\n\n\
Who may call depends on how the service runs (its `AUTH_MODE`), and the operations say \
both ways (`security` lists no credentials and `bearerAuth` as alternatives for reads):\n\n\
- **Shared token** (`token`, the default): reads are public; writes (`POST`, `PUT`, \
`DELETE`) need the bearer token the service was configured with. Every item belongs to \
that one token.\n\
- **Users** (`jwt`, or `gateway` behind an API Gateway Cognito or JWT authorizer): every \
items operation needs a user's bearer JWT (from Amazon Cognito or \
another OpenID Connect issuer; docs/users.md says which), and each user sees only their own items: another \
user's item answers `404`, as an id nobody has; lists hold only the caller's items; an \
`Idempotency-Key` is the caller's own.\n\n\
Credentials go in `Authorization: Bearer <token>`. Without them an operation that needs \
them answers `401` with `WWW-Authenticate: Bearer realm=\"items-api\"`; with refused \
ones, `401` with `error=\"invalid_token\"` and an `error_description` that says why \
(RFC 6750). On a REST API stage with a Cognito authorizer, API Gateway refuses them itself \
with a `401` problem document of its own (`GatewayProblem`; its challenge always names \
`invalid_token`, since the gateway answers a missing and a refused token alike).\n\n\
Every error is an RFC 9457 `application/problem+json` document that carries the \
request id; every response also carries it in the `x-request-id` header (send your own \
to correlate). Besides the responses listed per operation, any path answers `404` \
when no route matches it and `405` with an `Allow` header when the route does not \
support the method, both as problem documents.\n\n\
On a stage deployed with template.yaml, API Gateway answers some requests itself, \
before or instead of the service, as problem documents made from the template's gateway \
responses (`GatewayProblem`): `429` when the stage's throttling limit is reached, `413` \
for a body over 10 MB, `502` when the function fails, `504` when it does not answer in \
time, and `403` for a method API Gateway does not route (such as `TRACE`).\n\n\
Behind an HTTP API (template.yaml's `ApiType=Http`) API Gateway has no gateway \
responses to shape: its own answers are `application/json` `{\"message\": \"...\"}` \
(`GatewayMessage`): `429` when the stage's throttling limit is reached, `413` for a \
body over 10 MB, `500` when the function fails or does not answer in time, and, with \
users, `401` from its JWT authorizer for a missing or refused token.\n\n\
The served document (`/openapi.json`) lists one server: the base URL you called it \
through, so its \"Try it out\" and generated clients reach the same deployment.",
        license(name = "MIT", identifier = "MIT"),
        contact(name = "items-api maintainers"),
    ),
    servers(
        (url = "http://127.0.0.1:8000", description = "A local server (`cargo run`)."),
        (
            url = "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
            description = "A stage deployed with template.yaml (the `ApiUrl` output).",
            variables(
                ("api_id" = (default = "abc123defg", description = "The API's id (REST or HTTP API).")),
                ("region" = (default = "eu-west-1", description = "The AWS region.")),
                ("stage" = (default = "prod", description = "The stage name (`StageName` parameter) of a REST API; empty for an HTTP API's `$default` stage, which is served at the root."))
            )
        ),
    ),
    tags(
        (name = "items", description = "Create, read, replace, delete and list items."),
        (name = "service", description = "What the service is, where it runs, and whether it is healthy."),
    ),
    components(schemas(error::Problem, error::GatewayProblem, error::GatewayMessage), responses(
        error::MalformedJson,
        error::Unauthorized,
        items::ItemNotFound,
        error::PayloadTooLarge,
        error::UnsupportedMediaType,
        error::ValidationFailed,
        error::StoreUnavailable,
        error::TooManyRequests,
        error::BadRequest,
        error::RequestTimeout,
        error::UriTooLong,
        error::HeadersTooLarge,
        error::PreconditionFailed,
        error::PreconditionRequired,
        error::BadGateway,
        error::GatewayTimeout,
        error::InternalError,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// Name of the security scheme that protects writes.
pub const BEARER_AUTH: &str = "bearerAuth";

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_AUTH,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The shared token (`AUTH_MODE=token`: `API_TOKEN` locally, kept in AWS Secrets Manager on Lambda), or a user's JWT (`AUTH_MODE=jwt` or `gateway`: from Amazon Cognito or the OpenID Connect issuer the service trusts).",
                    ))
                    .build(),
            ),
        );
    }
}

/// Answers operations share, added to the document in one place rather than to each
/// operation: an unreadable request (400, when the operation has no 400 of its own), a
/// request target or headers over the limits (414, 431), for operations with a body, a
/// body that does not arrive in time (408); a stage's throttling (429); for operations
/// that reach the item store or check a write's token, an unavailable store or secret
/// (503, unless the operation documents its own); and on a deployed stage, API
/// Gateway's own answers when the function fails (502) or does not answer in time (504).
///
/// The limits these responses name come from the constants that set them.
struct SharedResponses;

/// Tags whose operations read or write the item store.
const STORE_TAGS: &[&str] = &[ITEMS_TAG];

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut Document) {
        use utoipa::openapi::{Ref, RefOr};
        let reference = |name: &str| RefOr::Ref(Ref::from_response_name(name));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let reaches_store = operation
                    .tags
                    .iter()
                    .flatten()
                    .any(|tag| STORE_TAGS.contains(&tag.as_str()));
                // `security: [{}]` is public; any other requirement names a scheme.
                let checks_token = operation.security.iter().flatten().any(|requirement| {
                    *requirement != utoipa::openapi::security::SecurityRequirement::default()
                });
                let responses = &mut operation.responses.responses;
                // An operation's own answer for a status wins over the shared one.
                let mut share = |status: &str, name: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| reference(name));
                };
                share("400", "BadRequest");
                if operation.request_body.is_some() {
                    share("408", "RequestTimeout");
                }
                share("414", "UriTooLong");
                share("429", "TooManyRequests");
                share("431", "HeadersTooLarge");
                if reaches_store || checks_token {
                    share("503", "StoreUnavailable");
                }
                share("500", "InternalError");
                share("502", "BadGateway");
                share("504", "GatewayTimeout");
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            name_limits(&mut components.responses);
            gateway_messages(&mut components.responses);
        }
    }
}

/// The answers an HTTP API's gateway gives itself, as `application/json`
/// `{"message": ...}` (it has no gateway responses to make them problem documents):
/// its throttling (429), its 10 MB payload limit (413), its JWT authorizer (401), and a
/// function that failed or timed out (500).
fn gateway_messages(
    responses: &mut std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::Response>,
    >,
) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr};
    for (name, message) in [
        ("TooManyRequests", "Too Many Requests"),
        ("PayloadTooLarge", "Request Entity Too Large"),
        ("Unauthorized", "Unauthorized"),
        ("InternalError", "Internal Server Error"),
    ] {
        if let Some(RefOr::T(response)) = responses.get_mut(name) {
            response.content.insert(
                "application/json".to_owned(),
                RefOr::T(
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("GatewayMessage")))
                        .example(Some(serde_json::json!({ "message": message })))
                        .build(),
                ),
            );
        }
    }
}

/// Writes each limit's default into its response's description and example, from the
/// constant that sets it and the error that enforces it.
fn name_limits(
    responses: &mut std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::Response>,
    >,
) {
    use crate::config::{
        DEFAULT_BODY_READ_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_HEADER_BYTES,
        DEFAULT_MAX_HEADERS, DEFAULT_MAX_URI_BYTES,
    };
    use crate::error::ApiError;
    let kib = |bytes: usize| format!("{} KiB", bytes / 1024);
    let limits = [
        (
            "RequestTimeout",
            format!(
                "The request body did not arrive within the server's body-read timeout ({} s by default).",
                DEFAULT_BODY_READ_TIMEOUT_MS / 1000
            ),
            ApiError::RequestTimeout {
                seconds: DEFAULT_BODY_READ_TIMEOUT_MS / 1000,
            },
        ),
        (
            "UriTooLong",
            format!(
                "The request target (path and query) is longer than the server's limit ({} by default).",
                kib(DEFAULT_MAX_URI_BYTES)
            ),
            ApiError::UriTooLong {
                limit: DEFAULT_MAX_URI_BYTES,
            },
        ),
        (
            "HeadersTooLarge",
            format!(
                "Too many request headers, or too large ones (by default {DEFAULT_MAX_HEADERS} headers, {} in all).",
                kib(DEFAULT_MAX_HEADER_BYTES)
            ),
            ApiError::headers_too_large(DEFAULT_MAX_HEADER_BYTES + 4096, DEFAULT_MAX_HEADER_BYTES),
        ),
        (
            "PayloadTooLarge",
            format!(
                "The request body is larger than the server's limit ({} by default).",
                kib(DEFAULT_MAX_BODY_BYTES)
            ),
            ApiError::PayloadTooLarge {
                limit: DEFAULT_MAX_BODY_BYTES,
            },
        ),
    ];
    for (name, description, error) in limits {
        let Some(utoipa::openapi::RefOr::T(response)) = responses.get_mut(name) else {
            panic!("ApiDoc lists no response {name}: rename it here too");
        };
        response.description = description;
        for content in response.content.values_mut() {
            let utoipa::openapi::RefOr::T(content) = content else {
                continue;
            };
            if let Some(serde_json::Value::Object(example)) = content.example.as_mut() {
                example.insert("detail".to_owned(), error.detail().into());
            }
        }
    }
}

/// Every documented operation, registered so that a route cannot exist undocumented.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(welcome::get_welcome))
        .routes(routes!(health::get_health))
        .routes(routes!(aws_info::get_aws_info))
        .routes(routes!(items::list_items, items::create_item))
        .routes(routes!(
            items::get_item,
            items::replace_item,
            items::delete_item
        ))
}

/// The OpenAPI document the code generates.
pub fn openapi() -> Document {
    let mut document = routes().into_openapi();
    complete(&mut document);
    document
}

/// Adds what every operation shares to the document the routes made.
pub fn complete(document: &mut Document) {
    SharedResponses.modify(document);
}
