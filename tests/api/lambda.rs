//! Lambda events of every payload kind (tests/events/), run in-process through the
//! Lambda adapter and the same router the local server uses. The binary's `invoke`
//! subcommand is tested in invoke.rs.

use crate::support::{FIXTURE_TOKEN as TOKEN, TestApp, event};
use base64::Engine as _;
use serde_json::Value;

fn app() -> TestApp {
    TestApp::configured(|config| {
        config.writes.api_token = Some(TOKEN.to_owned());
    })
}

async fn invoke(app: &TestApp, name: &str) -> Value {
    items_api::lambda::invoke(app.app(), &event(name), Default::default())
        .await
        .expect("the event runs")
}

/// A REST v1 response's single header value.
fn v1_header<'a>(response: &'a Value, name: &str) -> &'a str {
    let values = response["multiValueHeaders"][name]
        .as_array()
        .unwrap_or_else(|| panic!("no {name}: {response}"));
    assert_eq!(values.len(), 1, "{name}: {values:?}");
    values[0].as_str().expect("text")
}

fn body_json(response: &Value) -> Value {
    assert_eq!(response["isBase64Encoded"], false, "{response}");
    serde_json::from_str(response["body"].as_str().expect("a text body")).expect("JSON body")
}

#[tokio::test]
async fn rest_v1_docs_work_under_the_stage_prefix() {
    let app = app();
    let redirect = invoke(&app, "rest-v1-get-docs.json").await;
    assert_eq!(redirect["statusCode"], 308);
    // From https://host/prod/docs, "docs/" resolves to /prod/docs/.
    assert_eq!(v1_header(&redirect, "location"), "docs/");

    let index = invoke(&app, "rest-v1-get-docs-index.json").await;
    assert_eq!(index["statusCode"], 200);
    assert!(v1_header(&index, "content-type").starts_with("text/html"));
    let html = index["body"].as_str().expect("text");
    assert!(
        html.contains("swagger-ui") && !html.contains("\"/"),
        "relative assets only"
    );

    let spec = invoke(&app, "rest-v1-get-openapi.json").await;
    assert_eq!(spec["statusCode"], 200);
    let document = body_json(&spec);
    assert_eq!(
        document["servers"],
        serde_json::json!([{"url": "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"}]),
        "Try it out calls the deployed stage"
    );
    assert_eq!(document["info"]["title"], "Items API");

    let redoc = invoke(&app, "rest-v1-get-redoc.json").await;
    assert_eq!(redoc["statusCode"], 200);
    assert!(
        redoc["body"]
            .as_str()
            .expect("text")
            .contains(r#"spec-url="openapi.json""#)
    );
}

#[tokio::test]
async fn rest_v1_custom_domain_base_path_mapping_is_kept() {
    // api.example.com/v1 mapped to the stage: the client's path has /v1, no stage.
    let app = app();
    let created = invoke(&app, "rest-v1-custom-domain-create-item.json").await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let item = body_json(&created);
    assert_eq!(
        v1_header(&created, "location"),
        format!("/v1/api/items/{}", item["id"].as_str().expect("id"))
    );
    let spec = body_json(&invoke(&app, "rest-v1-custom-domain-get-openapi.json").await);
    assert_eq!(
        spec["servers"],
        serde_json::json!([{"url": "https://api.example.com/v1"}])
    );
}

#[tokio::test]
async fn rest_v1_binary_assets_are_base64_encoded() {
    let favicon = invoke(&app(), "rest-v1-get-favicon.json").await;
    assert_eq!(favicon["statusCode"], 200);
    assert_eq!(favicon["isBase64Encoded"], true);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(favicon["body"].as_str().expect("text"))
        .expect("base64");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[tokio::test]
async fn rest_v1_root_links_carry_the_stage() {
    let welcome = invoke(&app(), "rest-v1-get-root.json").await;
    assert_eq!(welcome["statusCode"], 200);
    let body = body_json(&welcome);
    assert_eq!(body["docs_url"], "/prod/docs/");
    assert_eq!(body["openapi_url"], "/prod/openapi.json");
}

#[tokio::test]
async fn rest_v1_create_item_answers_201_with_a_staged_location() {
    let app = app();
    let created = invoke(&app, "rest-v1-create-item.json").await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let item = body_json(&created);
    assert_eq!(item["name"], "Test Item");
    assert_eq!(
        v1_header(&created, "location"),
        format!("/prod/api/items/{}", item["id"].as_str().expect("id"))
    );
    assert_eq!(v1_header(&created, "content-type"), "application/json");
    // The item is really stored: the same router reads it back.
    let read = app
        .get(&format!("/api/items/{}", item["id"].as_str().expect("id")))
        .await;
    assert_eq!(read.json(), item);
}

#[tokio::test]
async fn rest_v1_base64_bodies_are_decoded() {
    let created = invoke(&app(), "rest-v1-create-item-base64.json").await;
    assert_eq!(created["statusCode"], 201, "{created}");
    assert_eq!(body_json(&created)["name"], "Base64 Item");
}

#[tokio::test]
async fn rest_v1_multi_value_query_and_headers_reach_the_router() {
    let response = invoke(&app(), "rest-v1-list-items-multi-value.json").await;
    assert_eq!(
        response["statusCode"], 422,
        "limit=2&limit=3 is repeated: {response}"
    );
    assert_eq!(
        v1_header(&response, "content-type"),
        "application/problem+json"
    );
    let problem = body_json(&response);
    assert_eq!(problem["errors"][0]["field"], "limit");
    assert_eq!(problem["instance"], "/api/items");
    // One of the two X-Request-Id values is the request id, the same in body and header.
    let request_id = v1_header(&response, "x-request-id");
    assert!(
        ["first-id", "second-id"].contains(&request_id),
        "{request_id}"
    );
    assert_eq!(problem["request_id"], request_id);
}

#[tokio::test]
async fn rest_v1_aws_info_reports_the_invocation() {
    let info = body_json(&invoke(&app(), "rest-v1-aws-info.json").await);
    assert_eq!(info["in_lambda"], true);
    assert_eq!(info["stage"], "prod");
    assert_eq!(info["source_ip"], "203.0.113.7");
    assert_eq!(
        info["api_request_id"],
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    );
    assert!(
        info["lambda_request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("invoke-"))
    );
}

#[tokio::test]
async fn http_api_v2_default_stage() {
    let health = invoke(&app(), "http-v2-get-health.json").await;
    assert_eq!(health["statusCode"], 200);
    assert_eq!(health["headers"]["content-type"], "application/json");
    assert_eq!(body_json(&health)["status"], "ok");
}

#[tokio::test]
async fn http_api_v2_named_stage_is_stripped_from_the_path() {
    let info = invoke(&app(), "http-v2-named-stage-aws-info.json").await;
    assert_eq!(info["statusCode"], 200, "{info}");
    let body = body_json(&info);
    assert_eq!(body["stage"], "prod");
    assert_eq!(body["api_request_id"], "JKJaXmPLvHcESHA=");
}

/// An HTTP API's `$default` stage mapped on a custom domain under the API mapping key
/// `v1`: the client called https://api.example.com/v1/…, API Gateway matched the route
/// without the key (`ANY /api/items`, `ANY /{proxy+}` with `proxy` the rest) and left
/// the key in `rawPath` and `requestContext.http.path` (tests/events/README.md).
#[tokio::test]
async fn http_api_v2_custom_domain_api_mapping_is_kept() {
    let app = app();
    let created = invoke(&app, "http-v2-custom-domain-create-item.json").await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let item = body_json(&created);
    assert_eq!(
        created["headers"]["location"],
        format!("/v1/api/items/{}", item["id"].as_str().expect("id"))
    );

    let spec = body_json(&invoke(&app, "http-v2-custom-domain-get-openapi.json").await);
    assert_eq!(
        spec["servers"],
        serde_json::json!([{"url": "https://api.example.com/v1"}]),
        "Try it out calls the domain under its mapping"
    );

    let docs = invoke(&app, "http-v2-custom-domain-get-docs-index.json").await;
    assert_eq!(docs["statusCode"], 200, "{docs}");
    let html = docs["body"].as_str().expect("text");
    assert!(
        html.contains("swagger-ui") && !html.contains("\"/"),
        "relative assets only"
    );

    // The root route (`ANY /`) under the mapping, with and without a trailing slash.
    for raw_path in ["/v1", "/v1/"] {
        let root = answer_changed("http-v2-custom-domain-get-openapi.json", |event| {
            event["routeKey"] = "ANY /".into();
            event["requestContext"]["routeKey"] = "ANY /".into();
            event["rawPath"] = raw_path.into();
            event["requestContext"]["http"]["path"] = raw_path.into();
            event["pathParameters"] = Value::Null;
        })
        .await;
        assert_eq!(root.status, 200, "{raw_path}: {root:?}");
        assert_eq!(root.body["docs_url"], "/v1/docs/", "{raw_path}");
    }
}

#[tokio::test]
async fn http_api_v2_repeated_query_keys_are_seen() {
    let response = invoke(&app(), "http-v2-list-items-repeated-query.json").await;
    assert_eq!(response["statusCode"], 422);
    assert_eq!(
        body_json(&response)["errors"][0]["message"],
        "must be given at most once"
    );
}

#[tokio::test]
async fn function_url_create_item_has_no_prefix() {
    let created = invoke(&app(), "function-url-create-item.json").await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let item = body_json(&created);
    assert_eq!(
        created["headers"]["location"],
        format!("/api/items/{}", item["id"].as_str().expect("id"))
    );
}

#[tokio::test]
async fn alb_requests_are_served() {
    let app = app();
    let health = invoke(&app, "alb-get-health.json").await;
    assert_eq!(health["statusCode"], 200);
    assert_eq!(body_json(&health)["store"]["status"], "ok");
    let missing = invoke(&app, "alb-get-missing-item.json").await;
    assert_eq!(missing["statusCode"], 404);
    assert_eq!(body_json(&missing)["title"], "Not Found");
}

/// The events `sam local generate-event` prints (see tests/events/README.md).
#[tokio::test]
async fn sam_generated_events_of_every_kind_are_served() {
    let open = TestApp::new();
    // SAM's event carries no Content-Type: the service refuses to guess.
    let raw = invoke(&open, "sam-rest-v1-create-item.json").await;
    assert_eq!(raw["statusCode"], 415, "{raw}");
    let mut event: serde_json::Value =
        serde_json::from_str(&event("sam-rest-v1-create-item.json")).expect("JSON");
    event["headers"]["Content-Type"] = "application/json".into();
    event["multiValueHeaders"]["Content-Type"] = serde_json::json!(["application/json"]);
    let created = items_api::lambda::invoke(open.app(), &event.to_string(), Default::default())
        .await
        .expect("runs");
    assert_eq!(created["statusCode"], 201, "{created}");
    let item = body_json(&created);
    assert_eq!(item["name"], "From sam generate-event");
    assert_eq!(
        v1_header(&created, "location"),
        format!("/staging/api/items/{}", item["id"].as_str().expect("id"))
    );

    let health = invoke(&open, "sam-http-v2-get-health.json").await;
    assert_eq!(health["statusCode"], 200, "{health}");
    assert_eq!(body_json(&health)["status"], "ok");

    let list = invoke(&open, "sam-alb-list-items.json").await;
    assert_eq!(list["statusCode"], 200, "{list}");
    assert_eq!(body_json(&list)["items"][0]["id"], item["id"]);
}

#[tokio::test]
async fn an_event_of_no_known_kind_is_a_clear_error() {
    let error = items_api::lambda::invoke(app().app(), r#"{"hello": "world"}"#, Default::default())
        .await
        .expect_err("not an HTTP event");
    assert!(error.to_string().contains("not an API Gateway"), "{error}");
}

/// An event without a Host header (a hand-made or test-console event): the served
/// document names the API from the request context, never the local default server.
#[tokio::test]
async fn without_a_host_header_the_served_server_comes_from_the_request_context() {
    let app = app();
    let mut event: Value = serde_json::from_str(&event("rest-v1-get-openapi.json")).expect("JSON");
    for headers in ["headers", "multiValueHeaders"] {
        if let Some(headers) = event[headers].as_object_mut() {
            headers.remove("Host");
            headers.remove("X-Forwarded-Proto");
        }
    }
    let response = items_api::lambda::invoke(app.app(), &event.to_string(), Default::default())
        .await
        .expect("the event runs");
    let spec = body_json(&response);
    assert_eq!(
        spec["servers"],
        serde_json::json!([{"url": "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"}])
    );
}

/// What the service answered an event: its status, Content-Type and body as JSON (null
/// when the body is not JSON; a base64 body is decoded first).
#[derive(Debug)]
struct Answer {
    status: u64,
    content_type: String,
    body: Value,
}

impl Answer {
    /// Asserts a problem+json answer with `status` and `detail`.
    #[track_caller]
    fn assert_problem(&self, status: u64, detail: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type, "application/problem+json", "{self:?}");
        assert_eq!(self.body["status"], status, "{self:?}");
        assert_eq!(self.body["detail"], detail, "{self:?}");
    }
}

/// An event fixture, changed by `change`, run in-process.
async fn answer_changed(name: &str, change: impl Fn(&mut Value)) -> Answer {
    let mut event: Value = serde_json::from_str(&event(name)).expect("JSON");
    change(&mut event);
    let response = items_api::lambda::invoke(app().app(), &event.to_string(), Default::default())
        .await
        .expect("answered, not an invocation error");
    let status = response["statusCode"].as_u64().expect("a status");
    // REST v1 and ALB events with multi-value headers get them back that way.
    let content_type = response["headers"]["content-type"]
        .as_str()
        .or_else(|| response["multiValueHeaders"]["content-type"][0].as_str())
        .unwrap_or_default()
        .to_owned();
    let body = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    } else {
        body.to_owned()
    };
    Answer {
        status,
        content_type,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    }
}

/// An event of each kind, changed by `change`, run in-process: its response status and
/// the problem's detail (from the body, base64 or not).
async fn run_changed(name: &str, change: impl Fn(&mut Value)) -> (u64, Value) {
    let answer = answer_changed(name, change).await;
    (answer.status, answer.body)
}

/// Sets the Host header of an event, in whichever header maps it has and under the
/// name's spelling there.
fn set_host(event: &mut Value, host: &str) {
    for headers in ["headers", "multiValueHeaders"] {
        let Some(headers) = event[headers].as_object_mut() else {
            continue;
        };
        let name = if headers.contains_key("host") {
            "host"
        } else {
            "Host"
        };
        let value = if headers.get(name).is_some_and(Value::is_array) {
            serde_json::json!([host])
        } else {
            Value::String(host.to_owned())
        };
        headers.insert(name.to_owned(), value);
    }
}

/// One fixture of each payload kind.
const KINDS: [&str; 4] = [
    "rest-v1-create-item.json",
    "function-url-create-item.json",
    "http-v2-get-health.json",
    "alb-get-health.json",
];

/// Events of every kind whose body is marked base64 but is not, or whose Host header
/// is not a host: lambda_http's conversion panicked on them (a 502 for the caller, an
/// invocation error on the alarm). Each now gets a 400 problem saying what is wrong.
#[tokio::test]
async fn malformed_events_of_every_kind_get_a_400_problem_not_a_panic() {
    for name in KINDS {
        let (status, problem) = run_changed(name, |event| {
            event["isBase64Encoded"] = Value::Bool(true);
            event["body"] = Value::String("this is not base64!".to_owned());
        })
        .await;
        assert_eq!(status, 400, "{name}: {problem}");
        assert_eq!(problem["status"], 400, "{name}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("base64")),
            "{name}: {problem}"
        );
        let (status, problem) =
            run_changed(name, |event| set_host(event, "bad host/with a space")).await;
        assert_eq!(status, 400, "{name}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Host")),
            "{name}: {problem}"
        );
    }
}

/// API Gateway REST APIs keep a path's percent-encoding in `path` and
/// `requestContext.path` and decode only `pathParameters` (found with the local stage,
/// tests/stage). The service routes the path as sent, as it does locally: an encoded
/// space or slash stays inside its segment.
#[tokio::test]
async fn rest_v1_encoded_characters_stay_in_their_segment_as_locally() {
    for (base, client_prefix) in [("", "/prod"), ("/v1", "/v1")] {
        let (status, problem) = run_changed("rest-v1-get-health.json", |event| {
            event["path"] = format!("{base}/api/items/not%20an%2Fid").into();
            event["pathParameters"] = serde_json::json!({"proxy": "api/items/not an/id"});
            event["requestContext"]["path"] =
                format!("{client_prefix}/api/items/not%20an%2Fid").into();
        })
        .await;
        assert_eq!(status, 422, "{base}: {problem}");
        assert_eq!(problem["instance"], "/api/items/not%20an%2Fid", "{base}");
        assert_eq!(problem["errors"][0]["field"], "item_id", "{base}");
    }
}

/// `xn--zz.com` looks like a host name, but its `xn--` label is not valid punycode:
/// lambda_http's URL parser (IDNA) rejected it, and lambda_http unwrapped the parse and
/// panicked (an invocation error, a 502 on AWS). It is a Host that is not a host name.
#[tokio::test]
async fn alb_event_with_an_invalid_punycode_host_gets_a_400_problem() {
    let answer = answer_changed("alb-get-health.json", |event| {
        set_host(event, "xn--zz.com");
    })
    .await;
    answer.assert_problem(400, "The Host header is not a host name.");
}

/// Every host the URL parser lambda_http uses rejects, in every payload kind: labels
/// IDNA rejects, and a last label that is a number (the URL standard then wants IPv4).
#[tokio::test]
async fn hosts_the_url_parser_rejects_get_a_400_problem_in_every_kind() {
    for name in KINDS {
        for host in [
            "xn--zz.com",
            "shop.xn--a.example",
            "XN--ZZ.COM:443",
            "www.example.123",
        ] {
            let answer = answer_changed(name, |event| set_host(event, host)).await;
            answer.assert_problem(400, "The Host header is not a host name.");
        }
    }
}

/// Without a Host header lambda_http builds the URL from the request context's domain
/// name, which IDNA rejects all the same.
#[tokio::test]
async fn rest_v1_domain_name_with_invalid_punycode_gets_a_400_problem() {
    let answer = answer_changed("rest-v1-get-health.json", |event| {
        for headers in ["headers", "multiValueHeaders"] {
            if let Some(headers) = event[headers].as_object_mut() {
                headers.remove("Host");
            }
        }
        event["requestContext"]["domainName"] = "xn--zz.com".into();
    })
    .await;
    answer.assert_problem(400, "The request context's domain name is not a host name.");
}

/// A change to an event fixture.
type EventChange<'a> = Box<dyn Fn(&mut Value) + 'a>;

/// The 414 the local server answers a target over `MAX_URI_BYTES` (8 KiB by default).
const URI_TOO_LONG: &str = "The request URI is longer than the limit of 8192 bytes.";

/// A REST v1 event whose path is longer than an `http::Uri` holds (65,534 bytes):
/// lambda_http's request builder failed with `Uri(TooLong)` and it panicked. The
/// service answers the same 414 as locally.
#[tokio::test]
async fn rest_v1_event_with_a_path_over_the_uri_limit_gets_a_414_problem() {
    let path = format!("/api/items/{}", "a".repeat(70_000));
    let answer = answer_changed("rest-v1-get-health.json", |event| {
        event["path"] = path.clone().into();
        event["pathParameters"]["proxy"] = path[1..].into();
        event["requestContext"]["path"] = format!("/prod{path}").into();
    })
    .await;
    answer.assert_problem(414, URI_TOO_LONG);
}

/// Targets lambda_http cannot build a URI of in every kind: a path short as sent but
/// over the limit once percent-encoded, long query strings (raw, single and
/// multi-value), a long stage. And a target under http's limit but over the service's,
/// which the service's own limit answers: the same 414 either way.
#[tokio::test]
async fn targets_over_the_uri_limit_get_a_414_problem_in_every_kind() {
    let long = "a".repeat(70_000);
    let cases: [(&str, EventChange); 7] = [
        (
            "rest-v1-get-health.json",
            // 44,000 bytes as sent, 132,000 once percent-encoded.
            Box::new(|event| event["path"] = format!("/api/{}", "é".repeat(22_000)).into()),
        ),
        (
            "rest-v1-get-health.json",
            Box::new(|event| event["requestContext"]["stage"] = long.clone().into()),
        ),
        (
            "rest-v1-list-items-multi-value.json",
            Box::new(|event| {
                event["multiValueQueryStringParameters"]["limit"] = serde_json::json!([long])
            }),
        ),
        (
            "http-v2-get-health.json",
            Box::new(|event| event["rawQueryString"] = format!("q={long}").into()),
        ),
        (
            "function-url-create-item.json",
            Box::new(|event| event["rawPath"] = format!("/{long}").into()),
        ),
        (
            "sam-alb-list-items.json",
            Box::new(|event| event["queryStringParameters"]["query"] = long.clone().into()),
        ),
        (
            "alb-get-health.json",
            Box::new(|event| event["path"] = format!("/api/{}", "a".repeat(9_000)).into()),
        ),
    ];
    for (name, change) in cases {
        let answer = answer_changed(name, change).await;
        answer.assert_problem(414, URI_TOO_LONG);
    }
}

/// Paths that do not start with `/` (found by event_fuzz.rs): lambda_http writes the
/// path right after the host and unwraps the URL parse, which failed (`:x` a bad port,
/// `@` an empty host, `.xn--zz` a label IDNA rejects) or gave a URI `http::Uri`
/// rejects; behind a REST stage the path ran into the stage's name.
#[tokio::test]
async fn paths_not_starting_with_a_slash_get_a_400_problem_in_every_kind() {
    for name in [
        "rest-v1-get-health.json",
        "http-v2-get-health.json",
        "alb-get-health.json",
    ] {
        for path in [":x", "@", ".xn--zz", "Ⱥ4{`"] {
            let answer = answer_changed(name, |event| {
                let key = if event.get("rawPath").is_some() {
                    "rawPath"
                } else {
                    "path"
                };
                event[key] = path.into();
            })
            .await;
            answer.assert_problem(400, "The event's path does not start with /.");
        }
    }
}

/// HTTP API raw query strings are appended to the URI as sent (found by event_fuzz.rs):
/// with characters an `http::Uri` rejects, lambda_http's request builder failed and it
/// panicked. The local server answers such a request line 400 too.
#[tokio::test]
async fn raw_query_strings_a_uri_cannot_hold_get_a_400_problem() {
    for name in ["http-v2-get-health.json", "function-url-create-item.json"] {
        for query in ["a=b c", "q=<script>", "x=\"y\"", "tab=\t"] {
            let answer = answer_changed(name, |event| event["rawQueryString"] = query.into()).await;
            answer.assert_problem(400, "The event's raw query string is not a URI query.");
        }
    }
}

/// A query parameter with an empty list of values (found by event_fuzz.rs):
/// `query_map`'s iterator, behind the `to_query_string` lambda_http calls, indexes
/// each name's first value and panicked.
#[tokio::test]
async fn query_parameters_without_values_get_a_400_problem() {
    let cases: [(&str, &str, Value); 5] = [
        (
            "sam-rest-v1-create-item.json",
            "multiValueQueryStringParameters",
            serde_json::json!({"foo": []}),
        ),
        (
            "rest-v1-get-health.json",
            "queryStringParameters",
            serde_json::json!({"limit": []}),
        ),
        (
            "sam-alb-list-items.json",
            "queryStringParameters",
            serde_json::json!({"query": [], "other": "1"}),
        ),
        (
            "alb-get-health.json",
            "multiValueQueryStringParameters",
            serde_json::json!({"a": []}),
        ),
        (
            "http-v2-get-health.json",
            "queryStringParameters",
            serde_json::json!({"a": []}),
        ),
    ];
    for (name, key, parameters) in cases {
        let answer = answer_changed(name, |event| event[key] = parameters.clone()).await;
        answer.assert_problem(400, "The event has a query parameter without a value.");
    }
}

/// The binary under the Lambda Runtime API, as Lambda starts it: `lambda::run` takes an
/// event from `GET /next`, answers it through the service and posts the response for
/// that request id; a second event follows on the same process (one cold start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_invocations_from_the_runtime_api() {
    use axum::extract::{Path, State};
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};
    use tokio::sync::mpsc;

    const TRACE: &str =
        "Root=1-67891233-abcdef012345678912345678;Parent=1234567890abcdef;Sampled=1";
    #[derive(Clone)]
    struct Runtime {
        events: Arc<tokio::sync::Mutex<mpsc::Receiver<(String, String)>>>,
        responses: mpsc::Sender<(String, Value)>,
        errors: Arc<Mutex<Vec<String>>>,
    }
    async fn next(State(runtime): State<Runtime>) -> (HeaderMap, String) {
        let Some((id, event)) = runtime.events.lock().await.recv().await else {
            return std::future::pending().await;
        };
        let mut headers = HeaderMap::new();
        let deadline = (std::time::SystemTime::now() + std::time::Duration::from_secs(30))
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis()
            .to_string();
        headers.insert(
            "lambda-runtime-aws-request-id",
            id.parse().expect("a header"),
        );
        headers.insert(
            "lambda-runtime-deadline-ms",
            deadline.parse().expect("a header"),
        );
        headers.insert("lambda-runtime-trace-id", TRACE.parse().expect("a header"));
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:eu-west-1:123456789012:function:items-api"
                .parse()
                .expect("a header"),
        );
        (headers, event)
    }
    async fn respond(
        State(runtime): State<Runtime>,
        Path(id): Path<String>,
        body: String,
    ) -> axum::http::StatusCode {
        let value = serde_json::from_str(&body).expect("the response is JSON");
        runtime
            .responses
            .send((id, value))
            .await
            .expect("the test waits");
        axum::http::StatusCode::ACCEPTED
    }
    async fn error(State(runtime): State<Runtime>, body: String) -> axum::http::StatusCode {
        runtime.errors.lock().expect("not poisoned").push(body);
        axum::http::StatusCode::ACCEPTED
    }

    let (send_event, events) = mpsc::channel(4);
    let (responses, mut received) = mpsc::channel(4);
    let runtime = Runtime {
        events: Arc::new(tokio::sync::Mutex::new(events)),
        responses,
        errors: Arc::default(),
    };
    let router = axum::Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            axum::routing::get(next),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            axum::routing::post(respond),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            axum::routing::post(error),
        )
        .route("/2018-06-01/runtime/init/error", axum::routing::post(error))
        .with_state(runtime.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let api = listener.local_addr().expect("an address");
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    /// Ends the function's process however the test ends.
    struct Function(std::process::Child);
    impl Drop for Function {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut function = Function(
        std::process::Command::new(crate::support::BINARY)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "items-api")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/items-api")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/30/[$LATEST]abc")
            .env("AWS_REGION", "eu-west-1")
            .env("DATABASE_PATH", ":memory:")
            .env("API_TOKEN", TOKEN)
            .env("METRICS", "false")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts"),
    );

    for (id, fixture) in [
        ("req-1", "rest-v1-get-health.json"),
        ("req-2", "rest-v1-create-item.json"),
        ("req-3", "rest-v1-aws-info.json"),
    ] {
        send_event
            .send((id.to_owned(), event(fixture)))
            .await
            .expect("the runtime API waits");
        let (answered, response) =
            tokio::time::timeout(std::time::Duration::from_secs(20), received.recv())
                .await
                .unwrap_or_else(|_| panic!("no response to {id} within 20 s"))
                .expect("a response");
        assert_eq!(answered, id);
        let expected = if id == "req-2" { 201 } else { 200 };
        assert_eq!(response["statusCode"], expected, "{fixture}: {response}");
        if id == "req-3" {
            // What the runtime told the function reaches /api/aws-info.
            let info = body_json(&response);
            assert_eq!(info["lambda_request_id"], "req-3");
            assert_eq!(info["trace_id"], TRACE);
            assert_eq!(info["function_name"], "items-api");
            assert_eq!(info["memory_limit_mb"], 512);
            assert_eq!(info["log_group"], "/aws/lambda/items-api");
            assert_eq!(info["log_stream"], "2026/11/30/[$LATEST]abc");
        }
    }
    assert!(
        function.0.try_wait().expect("a status").is_none(),
        "the process keeps serving"
    );
    assert!(
        runtime.errors.lock().expect("not poisoned").is_empty(),
        "no invocation or init errors"
    );
    server.abort();
}

/// The links a response carries (the welcome's `docs_url`, `Location`) start with the
/// base path the client called: the stage, a custom domain's base path mapping, or
/// nothing. Each case is one way API Gateway routes to the function.
#[tokio::test]
async fn served_links_carry_the_base_path_the_client_called() {
    // REST v1, a resource without {proxy+} (a route per path) under stage prod.
    let health = answer_changed("rest-v1-get-health.json", |event| {
        event["resource"] = "/api/health".into();
        event["pathParameters"] = Value::Null;
    })
    .await;
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.body["status"], "ok");

    // REST v1, the root resource of a custom domain mapped at /v1, called without the
    // trailing slash: the base is the client's /v1, not the stage.
    let root = answer_changed("rest-v1-get-root.json", |event| {
        event["requestContext"]["path"] = "/v1".into();
        event["headers"]["Host"] = "api.example.com".into();
        event["multiValueHeaders"]["Host"] = serde_json::json!(["api.example.com"]);
    })
    .await;
    assert_eq!(root.status, 200, "{root:?}");
    assert_eq!(root.body["docs_url"], "/v1/docs/");

    // HTTP API, a named stage: rawPath keeps the stage, the links carry it.
    let named = answer_changed("http-v2-named-stage-aws-info.json", |event| {
        event["rawPath"] = "/prod/".into();
        event["requestContext"]["http"]["path"] = "/prod/".into();
    })
    .await;
    assert_eq!(named.status, 200, "{named:?}");
    assert_eq!(named.body["docs_url"], "/prod/docs/");

    // HTTP API, the $default stage: no prefix.
    let default = answer_changed("http-v2-get-health.json", |event| {
        event["rawPath"] = "/".into();
        event["requestContext"]["http"]["path"] = "/".into();
    })
    .await;
    assert_eq!(default.status, 200, "{default:?}");
    assert_eq!(default.body["docs_url"], "/docs/");
}

/// `/api/aws-info` reports only what the function's context holds: an unset memory
/// size (0 in the runtime's config) is left out, not reported as 0 MB.
#[tokio::test]
async fn aws_info_leaves_out_what_the_runtime_did_not_set() {
    let info = body_json(&invoke(&app(), "rest-v1-aws-info.json").await);
    for absent in [
        "memory_limit_mb",
        "log_stream",
        "log_group",
        "function_name",
        "trace_id",
    ] {
        assert!(info.get(absent).is_none(), "{absent} in {info}");
    }
    let configured = items_api::lambda::invoke(
        app().app(),
        &event("rest-v1-aws-info.json"),
        lambda_http::lambda_runtime::Config {
            function_name: "items-api".into(),
            version: "7".into(),
            memory: 512,
            log_group: "/aws/lambda/items-api".into(),
            log_stream: "2026/11/30/[7]abc".into(),
        },
    )
    .await
    .expect("the event runs");
    let info = body_json(&configured);
    assert_eq!(info["memory_limit_mb"], 512);
    assert_eq!(info["function_version"], "7");
    assert_eq!(info["log_group"], "/aws/lambda/items-api");
    assert_eq!(info["log_stream"], "2026/11/30/[7]abc");
}
