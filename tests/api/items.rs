//! Item operations, their happy paths and their 404/422 answers.

use crate::support::TestApp;
use axum::http::Method;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn create_item_returns_201_with_location_and_the_item() {
    let app = TestApp::new();
    let response = app
        .send_json(
            Method::POST,
            "/api/items",
            &json!({"name": "Test Item", "description": "AWS Lambda test"}),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.header("content-type"), "application/json");
    let item = response.json();
    let id = item["id"].as_str().expect("an id");
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("a UUID").get_version_num(),
        7
    );
    assert_eq!(response.header("location"), format!("/api/items/{id}"));
    assert_eq!(item["name"], "Test Item");
    assert_eq!(item["description"], "AWS Lambda test");
    assert_eq!(item["created_at"], item["updated_at"]);
    assert!(
        chrono::DateTime::parse_from_rfc3339(item["created_at"].as_str().expect("text")).is_ok()
    );
}

#[tokio::test]
async fn created_item_is_readable_at_its_location() {
    let app = TestApp::new();
    let response = app
        .send_json(Method::POST, "/api/items", &json!({"name": "x"}))
        .await;
    let location = response.header("location").to_owned();
    let read = app.get(&location).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json(), response.json());
    assert_eq!(read.json()["description"], serde_json::Value::Null);
}

#[tokio::test]
async fn get_missing_item_is_404_problem() {
    let app = TestApp::new();
    let id = uuid::Uuid::now_v7();
    let problem = app.get(&format!("/api/items/{id}")).await.problem(404);
    assert_eq!(problem["instance"], format!("/api/items/{id}"));
}

#[tokio::test]
async fn malformed_item_id_is_422_naming_the_path_parameter() {
    let app = TestApp::new();
    for bad in [
        "not-a-uuid",
        "0193a6f07c2e7d3a9b1e4f5a6b7c8d9e",
        "%7B0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e%7D",
    ] {
        let problem = app.get(&format!("/api/items/{bad}")).await.problem(422);
        assert_eq!(
            problem["errors"],
            json!([{"location": "path", "field": "item_id", "message": "must be a UUID in its hyphenated form"}])
        );
    }
}

#[tokio::test]
async fn replace_item_keeps_id_and_created_at_and_moves_updated_at() {
    let app = TestApp::new();
    let created = app.create("before", Some("old")).await;
    let id = created["id"].as_str().expect("id");
    let response = app
        .send_json(
            Method::PUT,
            &format!("/api/items/{id}"),
            &json!({"name": "after", "description": "new"}),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let replaced = response.json();
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["created_at"], created["created_at"]);
    assert_eq!(replaced["name"], "after");
    assert_eq!(replaced["description"], "new");
    assert!(replaced["updated_at"].as_str() >= created["updated_at"].as_str());
    assert_eq!(app.get(&format!("/api/items/{id}")).await.json(), replaced);
}

#[tokio::test]
async fn replace_without_description_clears_it() {
    let app = TestApp::new();
    let created = app.create("n", Some("d")).await;
    let id = created["id"].as_str().expect("id");
    let replaced = app
        .send_json(
            Method::PUT,
            &format!("/api/items/{id}"),
            &json!({"name": "n"}),
        )
        .await
        .json();
    assert_eq!(replaced["description"], serde_json::Value::Null);
}

#[tokio::test]
async fn replace_missing_item_is_404() {
    let app = TestApp::new();
    let id = uuid::Uuid::now_v7();
    app.send_json(
        Method::PUT,
        &format!("/api/items/{id}"),
        &json!({"name": "n"}),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn delete_item_is_204_then_404_everywhere() {
    let app = TestApp::new();
    let created = app.create("doomed", None).await;
    let uri = format!("/api/items/{}", created["id"].as_str().expect("id"));
    let deleted = app.delete(&uri).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    app.get(&uri).await.problem(404);
    app.delete(&uri).await.problem(404);
    app.send_json(Method::PUT, &uri, &json!({"name": "back"}))
        .await
        .problem(404);
}

#[tokio::test]
async fn list_pages_through_every_item_exactly_once_in_creation_order() {
    let app = TestApp::new();
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create(&format!("item {i}"), None).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut uri = "/api/items?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&uri).await;
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        pages += 1;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|item| item["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/api/items?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn list_defaults_to_20_items_and_says_when_more_exist() {
    let app = TestApp::new();
    for i in 0..21 {
        app.create(&format!("{i}"), None).await;
    }
    let page = app.get("/api/items").await.json();
    assert_eq!(page["items"].as_array().expect("items").len(), 20);
    assert!(page["next_cursor"].is_string());
    let last = app
        .get(&format!(
            "/api/items?cursor={}",
            page["next_cursor"].as_str().expect("cursor")
        ))
        .await
        .json();
    assert_eq!(last["items"].as_array().expect("items").len(), 1);
    assert_eq!(last["next_cursor"], serde_json::Value::Null);
}

#[tokio::test]
async fn empty_list_has_no_items_and_no_cursor() {
    let page = TestApp::new().get("/api/items").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.json(), json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn list_limit_accepts_whole_numbers_1_to_100_only() {
    let app = TestApp::new();
    for good in ["1", "100", "5.0"] {
        assert_eq!(
            app.get(&format!("/api/items?limit={good}")).await.status,
            200,
            "{good}"
        );
    }
    for bad in ["0", "101", "-1", "2.5", "abc", ""] {
        let problem = app
            .get(&format!("/api/items?limit={bad}"))
            .await
            .problem(422);
        assert_eq!(problem["errors"][0]["location"], "query", "{bad}");
        assert_eq!(problem["errors"][0]["field"], "limit", "{bad}");
    }
}

#[tokio::test]
async fn corrupt_or_repeated_query_parameters_are_422_one_entry_each() {
    let app = TestApp::new();
    let problem = app
        .get("/api/items?cursor=not-a-cursor&limit=0")
        .await
        .problem(422);
    let fields: HashSet<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, HashSet::from(["cursor", "limit"]));
    let problem = app.get("/api/items?limit=1&limit=2").await.problem(422);
    assert_eq!(
        problem["errors"][0]["message"],
        "must be given at most once"
    );
}

#[tokio::test]
async fn any_cursor_of_the_contracts_pattern_is_accepted() {
    // Forged but well-formed cursors name a position; they list what follows it.
    let app = TestApp::new();
    app.create("a", None).await;
    let page = app.get("/api/items?cursor=AAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(page.json()["items"].as_array().expect("items").len(), 1);
    app.get("/api/items?cursor=AAAAAAAAAAAAAAAAAAAAAAA")
        .await
        .problem(422);
    let page = app.get("/api/items?cursor=______________________").await;
    assert_eq!(page.json()["items"].as_array().expect("items").len(), 0);
}

#[tokio::test]
async fn unicode_names_and_descriptions_round_trip() {
    let app = TestApp::new();
    let name = "日本語の名前 🚀 ünïcödé";
    let description = "line one\nline \"two\"\t\u{0}end";
    let created = app.create(name, Some(description)).await;
    let read = app
        .get(&format!(
            "/api/items/{}",
            created["id"].as_str().expect("id")
        ))
        .await
        .json();
    assert_eq!(read["name"], name);
    assert_eq!(read["description"], description);
}
