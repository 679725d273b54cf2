//! The items resource: its operations (extract, call the store, map to a response),
//! their parameters (`params`) and the contract's not-found response for an item.
//!
//! The security requirement is spelled `"bearerAuth"` in each annotation because
//! utoipa's `security(...)` takes only a string literal; the name is defined once in
//! [`super::BEARER_AUTH`], and the drift test fails if a literal here disagrees.

mod params;

use super::ITEMS_TAG;
use crate::context::{AppState, BasePath};
use crate::domain::idempotency::fingerprint;
use crate::domain::{
    IdempotentCreate, IdempotentOutcome, Item, ItemFields, ItemPage, NewItem, StoredResponse,
    Version,
};
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, ReadAccess, WriteAccess};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use params::{IdempotencyKeyHeader, IfMatch, IfNoneMatch, ItemPath, PageQuery};
use utoipa::ToResponse;

/// No item has this id.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Not Found", "status": 404, "detail": "No item has this id.", "instance": "/api/items/0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct ItemNotFound(#[allow(dead_code)] Problem);

/// List items
///
/// Returns items oldest first, `limit` at a time. When `next_cursor` is not null, pass
/// it as `cursor` to get the next page; every item is listed exactly once across the
/// pages, even while others are created or deleted.
#[utoipa::path(
    get,
    path = "/api/items",
    operation_id = "listItems",
    tag = ITEMS_TAG,
    security((), ("bearerAuth" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of items.", body = ItemPage),
        (status = 401, response = crate::error::Unauthorized),
        (status = 422, response = crate::error::ValidationFailed),
    ),
)]
pub async fn list_items(
    State(state): State<AppState>,
    ReadAccess(owner): ReadAccess,
    PageQuery(page): PageQuery,
) -> Result<Json<ItemPage>, ApiError> {
    Ok(Json(state.store.list(&owner, page).await?))
}

/// Create an item
///
/// Stores a new item with a server-generated id and answers with it, and with its URL
/// in `Location` and its version in `ETag`. `POST /api/items/` (with the trailing
/// slash) is accepted too. With an `Idempotency-Key`, a retry of the same request
/// answers the first response again and creates nothing.
#[utoipa::path(
    post,
    path = "/api/items",
    operation_id = "createItem",
    tag = ITEMS_TAG,
    params(IdempotencyKeyHeader),
    request_body(content = NewItem, content_type = "application/json"),
    security(("bearerAuth" = [])),
    responses(
        (status = 201, description = "The item was created (or, for a retry with the same `Idempotency-Key`, the first answer again).", body = Item,
            headers(
                ("Location" = String, description = "The new item's URL path."),
                ("ETag" = String, description = "The item's version, for `If-Match` and `If-None-Match`."),
                ("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`; absent otherwise."),
            ),
            links(
                ("getItem" = (operation_id = "getItem", parameters(("item_id" = "$response.body#/id")),
                    description = "Read the item just created.")),
                ("replaceItem" = (operation_id = "replaceItem", parameters(("item_id" = "$response.body#/id")),
                    description = "Replace the item just created.")),
                ("deleteItem" = (operation_id = "deleteItem", parameters(("item_id" = "$response.body#/id")),
                    description = "Delete the item just created.")),
            )),
        (status = 400, response = crate::error::MalformedJson),
        (status = 401, response = crate::error::Unauthorized),
        (status = 413, response = crate::error::PayloadTooLarge),
        (status = 415, response = crate::error::UnsupportedMediaType),
        (status = 422, response = crate::error::ValidationFailed),
        (status = 428, response = crate::error::PreconditionRequired),
    ),
)]
pub async fn create_item(
    State(state): State<AppState>,
    WriteAccess(owner): WriteAccess,
    base: BasePath,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    JsonBody(input, raw): JsonBody<NewItem>,
) -> Result<Response, ApiError> {
    let item = Item::create(ItemFields::try_from(input)?);
    let location = format!("{}/api/items/{}", base.as_str(), item.id);
    let Some(key) = key else {
        state.store.insert(&owner, &item).await?;
        return created(&item, &location);
    };
    let create = IdempotentCreate {
        key,
        fingerprint: fingerprint("POST", "/api/items", &raw),
        response: StoredResponse {
            status: StatusCode::CREATED.as_u16(),
            location: location.clone(),
            body: serde_json::to_string(&item).map_err(|e| ApiError::Internal(Box::new(e)))?,
        },
        expires_at: item.created_at
            + chrono::Duration::from_std(state.writes.idempotency_ttl)
                .unwrap_or(chrono::Duration::MAX),
    };
    match state
        .store
        .insert_idempotent(&owner, &item, &create)
        .await?
    {
        IdempotentOutcome::Created => created(&item, &location),
        IdempotentOutcome::Replayed(stored) => replayed(stored),
        IdempotentOutcome::KeyReused => Err(ApiError::IdempotencyKeyReused),
    }
}

/// The 201 of a create.
fn created(item: &Item, location: &str) -> Result<Response, ApiError> {
    let location = header_value(location)?;
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location),
            (header::ETAG, etag(item.version)),
        ],
        Json(item),
    )
        .into_response())
}

/// The stored answer of an earlier request with the same key, marked as a replay. A
/// replayed create is the item's first version.
fn replayed(stored: StoredResponse) -> Result<Response, ApiError> {
    let status =
        StatusCode::from_u16(stored.status).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok((
        status,
        [
            (header::LOCATION, header_value(&stored.location)?),
            (header::ETAG, etag(Version::FIRST)),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")),
        ],
        stored.body,
    )
        .into_response())
}

/// The header that marks a replayed answer.
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

fn etag(version: Version) -> HeaderValue {
    HeaderValue::try_from(version.etag()).expect("a quoted number is a header value")
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::try_from(text).map_err(|e| ApiError::Internal(Box::new(e)))
}

/// Get an item
///
/// Returns one of the caller's items by its id (`404` for an id the caller has no item
/// under, another user's included).
#[utoipa::path(
    get,
    path = "/api/items/{item_id}",
    operation_id = "getItem",
    tag = ITEMS_TAG,
    security((), ("bearerAuth" = [])),
    params(("item_id" = crate::domain::ItemId, Path, description = "The item's id."), IfNoneMatch),
    responses(
        (status = 200, description = "The item.", body = Item,
            headers(("ETag" = String, description = "The item's version, for `If-Match` and `If-None-Match`."))),
        (status = 304, description = "The item is still in the version `If-None-Match` names; no body.",
            headers(("ETag" = String, description = "The item's version."))),
        (status = 401, response = crate::error::Unauthorized),
        (status = 404, response = ItemNotFound),
        (status = 422, response = crate::error::ValidationFailed),
    ),
)]
pub async fn get_item(
    State(state): State<AppState>,
    ReadAccess(owner): ReadAccess,
    ItemPath(id): ItemPath,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    let item = state.store.get(&owner, id).await?;
    let tag = etag(item.version);
    if if_none_match.matches(item.version) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
    }
    Ok(([(header::ETAG, tag)], Json(item)).into_response())
}

/// Replace an item
///
/// Replaces the item's name and description (an absent description becomes null) and
/// answers with the item as stored. Its id and `created_at` stay; `updated_at` moves
/// and its version (`ETag`) goes up. With `If-Match`, only if nobody changed it since.
#[utoipa::path(
    put,
    path = "/api/items/{item_id}",
    operation_id = "replaceItem",
    tag = ITEMS_TAG,
    params(("item_id" = crate::domain::ItemId, Path, description = "The item's id."), IfMatch),
    request_body(content = NewItem, content_type = "application/json"),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The item as replaced.", body = Item,
            headers(("ETag" = String, description = "The item's new version."))),
        (status = 400, response = crate::error::MalformedJson),
        (status = 401, response = crate::error::Unauthorized),
        (status = 404, response = ItemNotFound),
        (status = 412, response = crate::error::PreconditionFailed),
        (status = 413, response = crate::error::PayloadTooLarge),
        (status = 415, response = crate::error::UnsupportedMediaType),
        (status = 422, response = crate::error::ValidationFailed),
        (status = 428, response = crate::error::PreconditionRequired),
    ),
)]
pub async fn replace_item(
    State(state): State<AppState>,
    WriteAccess(owner): WriteAccess,
    ItemPath(id): ItemPath,
    IfMatch(expected): IfMatch,
    JsonBody(input, _): JsonBody<NewItem>,
) -> Result<Response, ApiError> {
    let fields = ItemFields::try_from(input)?;
    let item = state.store.replace(&owner, id, &fields, expected).await?;
    Ok(([(header::ETAG, etag(item.version))], Json(item)).into_response())
}

/// Delete an item
///
/// Deletes the item for good. A second delete of the same id answers `404`. With
/// `If-Match`, only if nobody changed it since.
#[utoipa::path(
    delete,
    path = "/api/items/{item_id}",
    operation_id = "deleteItem",
    tag = ITEMS_TAG,
    params(("item_id" = crate::domain::ItemId, Path, description = "The item's id."), IfMatch),
    security(("bearerAuth" = [])),
    responses(
        (status = 204, description = "The item was deleted."),
        (status = 401, response = crate::error::Unauthorized),
        (status = 404, response = ItemNotFound),
        (status = 412, response = crate::error::PreconditionFailed),
        (status = 422, response = crate::error::ValidationFailed),
        (status = 428, response = crate::error::PreconditionRequired),
    ),
)]
pub async fn delete_item(
    State(state): State<AppState>,
    WriteAccess(owner): WriteAccess,
    ItemPath(id): ItemPath,
    IfMatch(expected): IfMatch,
) -> Result<StatusCode, ApiError> {
    state.store.delete(&owner, id, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
