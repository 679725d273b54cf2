//! The items resource: its operations (extract, call the store, map to a response),
//! their parameters (`params`) and the contract's not-found response for an item.
//!
//! The security requirement is spelled `"bearerAuth"` in each annotation because
//! utoipa's `security(...)` takes only a string literal; the name is defined once in
//! [`super::BEARER_AUTH`], and the drift test fails if a literal here disagrees.

mod params;

use super::ITEMS_TAG;
use crate::context::{AppState, BasePath};
use crate::domain::{Item, ItemFields, ItemPage, NewItem};
use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, WriteAccess};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use params::{ItemPath, PageQuery};
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
    security(()),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of items.", body = ItemPage),
        (status = 422, response = crate::error::ValidationFailed),
        (status = 429, response = crate::error::TooManyRequests),
        (status = 503, response = crate::error::StoreUnavailable),
    ),
)]
pub async fn list_items(
    State(state): State<AppState>,
    PageQuery(page): PageQuery,
) -> Result<Json<ItemPage>, ApiError> {
    Ok(Json(state.store.list(page).await?))
}

/// Create an item
///
/// Stores a new item with a server-generated id and answers with it, and with its URL
/// in `Location`. `POST /api/items/` (with the trailing slash) is accepted too.
#[utoipa::path(
    post,
    path = "/api/items",
    operation_id = "createItem",
    tag = ITEMS_TAG,
    request_body(content = NewItem, content_type = "application/json"),
    security(("bearerAuth" = [])),
    responses(
        (status = 201, description = "The item was created.", body = Item,
            headers(("Location" = String, description = "The new item's URL path.")),
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
        (status = 429, response = crate::error::TooManyRequests),
        (status = 503, response = crate::error::StoreUnavailable),
    ),
)]
pub async fn create_item(
    State(state): State<AppState>,
    _access: WriteAccess,
    base: BasePath,
    JsonBody(input): JsonBody<NewItem>,
) -> Result<impl IntoResponse, ApiError> {
    let item = Item::create(ItemFields::try_from(input)?);
    state.store.insert(&item).await?;
    let location = format!("{}/api/items/{}", base.as_str(), item.id);
    let location = HeaderValue::try_from(location).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(item),
    ))
}

/// Get an item
///
/// Returns one item by its id.
#[utoipa::path(
    get,
    path = "/api/items/{item_id}",
    operation_id = "getItem",
    tag = ITEMS_TAG,
    security(()),
    params(("item_id" = crate::domain::ItemId, Path, description = "The item's id.")),
    responses(
        (status = 200, description = "The item.", body = Item),
        (status = 404, response = ItemNotFound),
        (status = 422, response = crate::error::ValidationFailed),
        (status = 429, response = crate::error::TooManyRequests),
        (status = 503, response = crate::error::StoreUnavailable),
    ),
)]
pub async fn get_item(
    State(state): State<AppState>,
    ItemPath(id): ItemPath,
) -> Result<Json<Item>, ApiError> {
    Ok(Json(state.store.get(id).await?))
}

/// Replace an item
///
/// Replaces the item's name and description (an absent description becomes null) and
/// answers with the item as stored. Its id and `created_at` stay; `updated_at` moves.
#[utoipa::path(
    put,
    path = "/api/items/{item_id}",
    operation_id = "replaceItem",
    tag = ITEMS_TAG,
    params(("item_id" = crate::domain::ItemId, Path, description = "The item's id.")),
    request_body(content = NewItem, content_type = "application/json"),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The item as replaced.", body = Item),
        (status = 400, response = crate::error::MalformedJson),
        (status = 401, response = crate::error::Unauthorized),
        (status = 404, response = ItemNotFound),
        (status = 413, response = crate::error::PayloadTooLarge),
        (status = 415, response = crate::error::UnsupportedMediaType),
        (status = 422, response = crate::error::ValidationFailed),
        (status = 429, response = crate::error::TooManyRequests),
        (status = 503, response = crate::error::StoreUnavailable),
    ),
)]
pub async fn replace_item(
    State(state): State<AppState>,
    _access: WriteAccess,
    ItemPath(id): ItemPath,
    JsonBody(input): JsonBody<NewItem>,
) -> Result<Json<Item>, ApiError> {
    let fields = ItemFields::try_from(input)?;
    Ok(Json(state.store.replace(id, &fields).await?))
}

/// Delete an item
///
/// Deletes the item for good. A second delete of the same id answers `404`.
#[utoipa::path(
    delete,
    path = "/api/items/{item_id}",
    operation_id = "deleteItem",
    tag = ITEMS_TAG,
    params(("item_id" = crate::domain::ItemId, Path, description = "The item's id.")),
    security(("bearerAuth" = [])),
    responses(
        (status = 204, description = "The item was deleted."),
        (status = 401, response = crate::error::Unauthorized),
        (status = 404, response = ItemNotFound),
        (status = 422, response = crate::error::ValidationFailed),
        (status = 429, response = crate::error::TooManyRequests),
        (status = 503, response = crate::error::StoreUnavailable),
    ),
)]
pub async fn delete_item(
    State(state): State<AppState>,
    _access: WriteAccess,
    ItemPath(id): ItemPath,
) -> Result<StatusCode, ApiError> {
    state.store.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
