//! `openapi.yaml` is the contract: the code must generate exactly that document.

pub use crate::operations::contract;
use crate::operations::{operations, operations_of};
use crate::support::{TOKEN, TestApp};
use assert_json_diff::{CompareMode, Config, assert_json_matches_no_panic};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn generated() -> Value {
    serde_json::to_value(items_api::api::openapi()).expect("the generated document serializes")
}

/// Compares two documents semantically: mapping order and YAML formatting do not
/// matter, every value does. The error lists each differing JSON path.
pub fn compare(expected: &Value, actual: &Value) -> Result<(), String> {
    assert_json_matches_no_panic(actual, expected, Config::new(CompareMode::Strict)).map_err(
        |diff| {
            diff.replace("lhs", "generated")
                .replace("rhs", "openapi.yaml")
        },
    )
}

/// Bless mode, as dropshot's expectorate: `OPENAPI_BLESS=1 cargo test --test api --
/// --exact contract::generated_document_matches_openapi_yaml` rewrites openapi.yaml from
/// the code (as `make openapi-bless` does) for review in `git diff`, instead of failing.
#[test]
fn generated_document_matches_openapi_yaml() {
    let generated = generated();
    let Err(diff) = compare(&contract(), &generated) else {
        return;
    };
    if std::env::var_os("OPENAPI_BLESS").is_some_and(|v| v == "1") {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("openapi.yaml is readable");
        let blessed = items_api::startup::blessed(&text).expect("openapi.yaml is YAML");
        items_api::startup::write_whole(std::path::Path::new(path), &blessed)
            .expect("openapi.yaml is writable");
        eprintln!("OPENAPI_BLESS: rewrote {path} from the code; review `git diff openapi.yaml`");
        return;
    }
    panic!(
        "the code no longer generates openapi.yaml.\n\n{diff}\n\n\
         Run `make openapi-bless` to rewrite openapi.yaml from the code, then review \
         `git diff openapi.yaml`."
    );
}

#[test]
fn drift_in_any_description_is_reported_with_its_path() {
    let mut edited = contract();
    edited["paths"]["/api/items"]["post"]["description"] = Value::from("Edited by hand.");
    edited["components"]["schemas"]["Item"]["properties"]["name"]["description"] =
        Value::from("Edited.");
    let diff = compare(&edited, &generated()).expect_err("an edited description is drift");
    assert!(
        diff.contains(".paths./api/items.post.description"),
        "{diff}"
    );
    assert!(
        diff.contains(".components.schemas.Item.properties.name.description"),
        "{diff}"
    );
}

#[tokio::test]
async fn served_document_is_the_contract_plus_the_callers_server() {
    let app = TestApp::new();
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), "application/json");
    let served = response.json();
    // The contract with its servers replaced by the one this client called.
    let mut expected = contract();
    expected["servers"] = serde_json::json!([{"url": "http://127.0.0.1:8000"}]);
    compare(&expected, &served).expect("served document is the contract with the caller's server");

    let yaml = app.get("/openapi.yaml").await;
    assert_eq!(yaml.status, 200);
    assert_eq!(yaml.header("content-type"), "application/yaml");
    let served_yaml: Value = yaml_serde::from_str(&yaml.text()).expect("valid YAML");
    compare(&expected, &served_yaml).expect("served YAML equals the served JSON");
}

#[test]
fn every_operation_of_the_contract_has_a_unique_operation_id_and_a_tag() {
    let operations = operations();
    assert!(!operations.is_empty(), "openapi.yaml has operations");
    let mut seen = BTreeMap::new();
    for operation in &operations {
        assert!(!operation.tags.is_empty(), "{operation} has no tag");
        if let Some(earlier) = seen.insert(operation.id.clone(), operation.to_string()) {
            panic!("{operation} has the operationId of {earlier}");
        }
    }
}

/// `routes()` registers a route together with its operation (utoipa-axum's `routes!`),
/// so the operations the router documents are the routes it serves: they must be the
/// contract's, each under its method, path and operationId.
#[test]
fn the_router_registers_exactly_the_operations_of_the_contract() {
    let names = |document: &Value| -> BTreeSet<String> {
        operations_of(document)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let contract = names(&contract());
    let routed = names(&generated());
    let missing: Vec<_> = contract.difference(&routed).collect();
    let extra: Vec<_> = routed.difference(&contract).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "in openapi.yaml but not routed: {missing:?}; routed but not in openapi.yaml: {extra:?}"
    );
}

/// Each operation of the contract, sent as the contract describes it (a real item for
/// `{item_id}`, the example body, the token), reaches its handler and answers its
/// documented success: no operation of the contract is a 404 or 405 of the router.
#[tokio::test]
async fn every_operation_of_the_contract_answers_its_documented_success() {
    let app = TestApp::with_token();
    let bearer = format!("Bearer {TOKEN}");
    for operation in operations() {
        // A fresh item for each operation, so a delete takes no other's.
        let item = app.create("contract", None).await;
        let id = item["id"].as_str().expect("id").to_owned();
        let request = operation.request(
            |name| (name == "item_id").then(|| id.clone()),
            Some(&bearer),
        );
        let response = app.send_request(request).await;
        assert_eq!(
            response.status.as_u16(),
            operation.success(),
            "{operation}: {}",
            response.text()
        );
    }
}

/// The problem examples the contract publishes are what the service really sends
/// (their `detail`, and for 422 the field errors), so users reading /docs see the truth.
#[tokio::test]
async fn published_problem_examples_say_what_the_service_sends() {
    use axum::body::Body;
    use axum::http::Method;
    let contract = contract();
    let example = |response: &str| {
        contract["components"]["responses"][response]["content"]["application/problem+json"]
            ["example"]
            .clone()
    };
    let app = TestApp::with_token();
    let bearer = format!("Bearer {}", crate::support::TOKEN);
    let missing = app
        .get("/api/items/0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e")
        .await
        .problem(404);
    assert_eq!(missing["detail"], example("ItemNotFound")["detail"]);
    assert_eq!(
        missing["detail"],
        contract["components"]["schemas"]["Problem"]["example"]["detail"]
    );
    let unauthorized = app
        .send(Method::POST, "/api/items", &[], Body::from("{}"))
        .await
        .problem(401);
    assert_eq!(unauthorized["detail"], example("Unauthorized")["detail"]);
    let media = app
        .send(
            Method::POST,
            "/api/items",
            &[("authorization", &bearer), ("content-type", "text/plain")],
            Body::from("{}"),
        )
        .await
        .problem(415);
    assert_eq!(media["detail"], example("UnsupportedMediaType")["detail"]);
    let invalid = app
        .send_json(Method::POST, "/api/items", &serde_json::json!({"name": ""}))
        .await
        .problem(422);
    let published = example("ValidationFailed");
    assert_eq!(invalid["detail"], published["detail"]);
    assert_eq!(invalid["errors"], published["errors"]);
    let too_large = app
        .send(
            Method::POST,
            "/api/items",
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            Body::from(vec![b' '; 70_000]),
        )
        .await
        .problem(413);
    assert_eq!(too_large["detail"], example("PayloadTooLarge")["detail"]);
}

/// README's endpoint table names every operation of the contract, and no other.
#[test]
fn the_readme_endpoint_table_lists_every_operation() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).expect("README.md is readable");
    let listed: std::collections::BTreeSet<String> = readme
        .lines()
        .skip_while(|line| *line != "## Endpoints")
        .take_while(|line| !line.starts_with("## Examples"))
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|row| row.split('|').nth(1))
        .map(|cell| cell.trim().trim_matches('`').to_owned())
        .filter(|id| !id.is_empty())
        .collect();
    let contract: std::collections::BTreeSet<String> = crate::operations::operations()
        .into_iter()
        .map(|operation| operation.id)
        .collect();
    assert_eq!(
        listed, contract,
        "README.md's endpoint table (left) and openapi.yaml's operations (right)"
    );
}
