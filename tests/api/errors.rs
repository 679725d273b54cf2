//! Every error is problem+json with the request id: the framework's own included.

use crate::support::{TOKEN, TestApp};
use axum::body::Body;
use axum::http::Method;
use serde_json::json;

fn write_headers(content_type: &str) -> Vec<(&str, String)> {
    vec![
        ("content-type", content_type.to_owned()),
        ("authorization", format!("Bearer {TOKEN}")),
    ]
}

async fn post_raw(
    app: &TestApp,
    content_type: &str,
    body: impl Into<Body>,
) -> crate::support::TestResponse {
    let headers = write_headers(content_type);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.send(Method::POST, "/api/items", &headers, body.into())
        .await
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::new();
    for body in [r#"{"name": "#, "", r#"{"name": "n"} trailing"#, "nul"] {
        let problem = post_raw(&app, "application/json", body).await.problem(400);
        assert_eq!(problem["instance"], "/api/items", "{body:?}");
    }
}

#[tokio::test]
async fn wrong_shape_is_422_with_a_json_pointer() {
    let app = TestApp::new();
    let problem = post_raw(&app, "application/json", r#"{"name": 339620.0}"#)
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["location"], "body");
    assert_eq!(problem["errors"][0]["field"], "/name");
    let problem = post_raw(&app, "application/json", "[]").await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "");
    let problem = post_raw(&app, "application/json", "{}").await.problem(422);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .expect("text")
            .contains("missing field `name`")
    );
}

#[tokio::test]
async fn unknown_fields_are_rejected() {
    let app = TestApp::new();
    let problem = post_raw(
        &app,
        "application/json",
        r#"{"name": "n", "colour": "red"}"#,
    )
    .await
    .problem(422);
    let message = problem["errors"][0]["message"].as_str().expect("text");
    assert!(message.contains("unknown field `colour`"), "{message}");
}

#[tokio::test]
async fn every_invalid_field_gets_its_own_entry() {
    let app = TestApp::new();
    let body = json!({"name": " \t ", "description": "d".repeat(2001)}).to_string();
    let problem = post_raw(&app, "application/json", body).await.problem(422);
    assert_eq!(
        problem["errors"],
        json!([
            {"location": "body", "field": "/description", "message": "must be at most 2000 characters long"},
            {"location": "body", "field": "/name", "message": "must contain a character that is not whitespace"},
        ])
    );
}

#[tokio::test]
async fn name_length_limits_are_enforced_in_characters() {
    let app = TestApp::new();
    for (name, status) in [
        ("", 422),
        ("é".repeat(200).as_str(), 201),
        ("é".repeat(201).as_str(), 422),
    ] {
        let response = post_raw(&app, "application/json", json!({"name": name}).to_string()).await;
        assert_eq!(response.status, status, "{} chars", name.chars().count());
    }
}

#[tokio::test]
async fn non_json_content_types_are_415() {
    let app = TestApp::new();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        post_raw(&app, content_type, r#"{"name": "n"}"#)
            .await
            .problem(415);
    }
    let bearer = format!("Bearer {TOKEN}");
    app.send(
        Method::POST,
        "/api/items",
        &[("authorization", bearer.as_str())],
        Body::from(r#"{"name":"n"}"#),
    )
    .await
    .problem(415);
    // Parameters and letter case do not change the media type (RFC 9110 §8.3.1).
    for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
        assert_eq!(
            post_raw(&app, content_type, r#"{"name": "n"}"#)
                .await
                .status,
            201,
            "{content_type}"
        );
    }
    // The contract lists application/json only: other JSON-flavoured types are 415.
    for content_type in [
        "application/merge-patch+json",
        "application/problem+json",
        "application/vnd.api+json",
        "application/+json",
        "text/json",
    ] {
        post_raw(&app, content_type, r#"{"name": "n"}"#)
            .await
            .problem(415);
    }
}

/// Every JSON type but an object is refused with 422 and the pointer "" (the whole
/// body), for both operations that take a body; nothing is created or replaced.
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_422() {
    let app = TestApp::with_token();
    let item = app.create("kept", Some("as it was")).await;
    let item_uri = format!("/api/items/{}", item["id"].as_str().expect("id"));
    for body in [
        json!(["Array item", null]),
        json!(["x", "d", "e"]),
        json!([]),
        json!("Array item"),
        json!(1),
        json!(true),
        json!(null),
    ] {
        for (method, uri) in [
            (Method::POST, "/api/items"),
            (Method::PUT, item_uri.as_str()),
        ] {
            let problem = app.send_json(method.clone(), uri, &body).await.problem(422);
            assert_eq!(problem["errors"][0]["field"], "", "{method} {body}");
            assert_eq!(problem["errors"][0]["location"], "body");
        }
    }
    let page = app.get("/api/items").await.json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.get(&item_uri).await.json()["name"], "kept");
}

/// `limit` is an integer: only decimal digits (with at most a zero fraction) pass.
#[tokio::test]
async fn a_limit_that_is_not_an_integer_is_422() {
    let app = TestApp::new();
    for limit in [
        "1e1",
        "99.999999999999999",
        "+5",
        "2.5",
        "0x10",
        "5.",
        "1_0",
    ] {
        let problem = app
            .get(&format!("/api/items?limit={}", limit.replace('+', "%2B")))
            .await
            .problem(422);
        assert_eq!(problem["errors"][0]["field"], "limit", "{limit}");
    }
    for limit in ["5", "5.0", "100"] {
        assert_eq!(
            app.get(&format!("/api/items?limit={limit}")).await.status,
            200
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_with_or_without_content_length() {
    let app = TestApp::configured(|config| {
        config.server.max_body_bytes = 1024;
        config.writes.api_token = Some(TOKEN.to_owned());
    });
    let big = json!({"name": "n", "description": "d".repeat(2000)}).to_string();
    let length = big.len().to_string();
    let bearer = format!("Bearer {TOKEN}");
    let with_length = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
        ("content-length", length.as_str()),
    ];
    app.send(
        Method::POST,
        "/api/items",
        &with_length,
        Body::from(big.clone()),
    )
    .await
    .problem(413);
    let stream = Body::from_stream(futures_stream(big));
    post_raw(&app, "application/json", stream)
        .await
        .problem(413);
}

#[tokio::test]
async fn an_oversized_body_on_a_read_is_ignored_not_413() {
    // The contract lists 413 only where a body is read (createItem, replaceItem).
    let app = TestApp::configured(|config| {
        config.server.max_body_bytes = 1024;
    });
    let big = "x".repeat(4096);
    let length = big.len().to_string();
    let headers = [
        ("content-type", "application/json"),
        ("content-length", length.as_str()),
    ];
    let health = app
        .send(
            Method::GET,
            "/api/health",
            &headers,
            Body::from(big.clone()),
        )
        .await;
    assert_eq!(health.status, 200);
    let list = app
        .send(Method::GET, "/api/items", &headers, Body::from(big))
        .await;
    assert_eq!(list.status, 200);
}

/// A body of unknown length, as a chunked upload sends it.
fn futures_stream(
    text: String,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = text
        .into_bytes()
        .chunks(100)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::new();
    for path in ["/nope", "/api", "/api/items/a/b", "/api/itemz"] {
        let problem = app.get(path).await.problem(404);
        assert_eq!(problem["instance"], path);
    }
}

#[tokio::test]
async fn unsupported_methods_are_405_with_allow() {
    let app = TestApp::new();
    let response = app
        .send(Method::PATCH, "/api/items", &[], Body::empty())
        .await;
    response.problem(405);
    let allow = response.header("allow");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let response = app
        .send(Method::POST, "/api/health", &[], Body::empty())
        .await;
    response.problem(405);
    assert!(response.header("allow").contains("GET"));
    let id = uuid::Uuid::now_v7();
    let response = app
        .send(
            Method::POST,
            &format!("/api/items/{id}"),
            &[],
            Body::empty(),
        )
        .await;
    response.problem(405);
    let allow = response.header("allow");
    assert!(allow.contains("PUT") && allow.contains("DELETE"), "{allow}");
}

#[tokio::test]
async fn a_client_request_id_is_kept_and_returned() {
    let app = TestApp::new();
    let response = app
        .send(
            Method::GET,
            "/nope",
            &[("x-request-id", "client-abc-123")],
            Body::empty(),
        )
        .await;
    assert_eq!(response.header("x-request-id"), "client-abc-123");
    assert_eq!(response.problem(404)["request_id"], "client-abc-123");
    let ok = app.get("/api/health").await;
    assert!(
        uuid::Uuid::parse_str(ok.header("x-request-id")).is_ok(),
        "a generated id on every response"
    );
}

#[tokio::test]
async fn a_405_names_the_allowed_methods_in_its_detail() {
    let app = TestApp::new();
    let response = app
        .send(Method::PATCH, "/api/items", &[], Body::empty())
        .await;
    let problem = response.problem(405);
    let detail = problem["detail"].as_str().expect("a detail");
    for method in response.header("allow").split(',') {
        assert!(detail.contains(method.trim()), "{detail}");
    }
    assert!(
        detail.contains("GET") && detail.contains("POST"),
        "{detail}"
    );
}

/// Each request limit admits exactly its value and refuses one more: the target's
/// bytes (414), the header count and the headers' bytes (431, each header counted as
/// name, value and the 4 bytes of `: ` and CRLF).
#[tokio::test]
async fn request_limits_admit_their_value_and_refuse_one_more() {
    let app = TestApp::configured(|config| {
        config.server.max_uri_bytes = 64;
        config.server.max_headers = 3;
        config.server.max_header_bytes = 120;
    });
    let send = |target: String, headers: Vec<(&'static str, String)>| {
        let app = app.clone();
        async move {
            let mut request = axum::http::Request::builder().uri(target);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            app.send_request(request.body(Body::empty()).expect("a request"))
                .await
        }
    };
    // The client's own request id, so the service adds none: `x-request-id: r` is
    // 12 + 1 + 4 = 17 bytes.
    let id = || ("x-request-id", "r".to_owned());
    let target = |length: usize| {
        let prefix = "/api/health?x=";
        format!("{prefix}{}", "a".repeat(length - prefix.len()))
    };
    assert_eq!(send(target(64), vec![id()]).await.status, 200);
    send(target(65), vec![id()]).await.problem(414);

    let three = vec![id(), ("x-a", "1".to_owned()), ("x-b", "2".to_owned())];
    assert_eq!(send(target(20), three.clone()).await.status, 200);
    let mut four = three;
    four.push(("x-c", "3".to_owned()));
    send(target(20), four).await.problem(431);

    // 17 + (5 + value + 4) bytes: a 94-byte value makes exactly 120.
    let padded = |value: usize| vec![id(), ("x-pad", "v".repeat(value))];
    assert_eq!(send(target(20), padded(94)).await.status, 200);
    let problem = send(target(20), padded(95)).await.problem(431);
    assert_eq!(
        problem["detail"],
        "The request headers are over the limit: 121 bytes of headers, more than 120."
    );
}
