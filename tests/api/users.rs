//! Users (`AUTH_MODE=jwt` and `gateway`): bearer JWTs verified against the test issuer
//! (tests/tools/oidc_issuer.py, keys made per run), refused with 401 problems that say
//! why, and each user's items their own on both stores.

use crate::support::{AUDIENCE, Issuer, Moto, TestApp, TestResponse, dynamodb_client, event};
use axum::body::Body;
use axum::http::Method;
use base64::Engine as _;
use items_api::config::{AuthMode, Config};
use items_api::store::{DynamoDbStore, SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;

fn jwt_app(issuer: &Issuer) -> TestApp {
    TestApp::configured(|config| issuer.configure(config))
}

/// Sends `method uri` with `token` as the bearer (none for `None`) and a JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> TestResponse {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    let body = match body {
        Some(json) => {
            headers.push(("content-type", "application/json"));
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    app.send(method, uri, &headers, body).await
}

/// A 401 problem whose challenge is RFC 6750's `invalid_token` with `why` as its
/// description, and whose detail says the same.
fn assert_refused(response: &TestResponse, why: &str, case: &str) {
    assert_eq!(response.status, 401, "{case}: {}", response.text());
    let problem = response.problem(401);
    assert_eq!(
        response.header("www-authenticate"),
        format!(r#"Bearer realm="items-api", error="invalid_token", error_description="{why}""#),
        "{case}"
    );
    assert_eq!(
        problem["detail"],
        format!("The bearer token was refused: {why}."),
        "{case}"
    );
}

/// The refusal table: each token is refused with a 401 problem naming why, on a read
/// and on a write; well-formed tokens of each kind the service accepts pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_mode_refuses_every_bad_token_with_a_401_saying_why() {
    let issuer = Issuer::start();
    let app = jwt_app(&issuer);
    let now = chrono::Utc::now().timestamp();
    let iss = issuer.url.clone();
    let valid = json!({"iss": iss, "sub": "alice", "aud": AUDIENCE});
    let with = |changes: Value| {
        let mut claims = valid.clone();
        // A null leaves the claim out (the issuer drops it, `exp` included).
        for (key, value) in changes.as_object().expect("an object") {
            claims[key] = value.clone();
        }
        claims
    };
    let good = issuer.token_for("alice").await;
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            json!({"iss": iss, "sub": "mallory", "aud": AUDIENCE, "exp": now + 3600}).to_string(),
        );
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let oversized = issuer
        .mint(with(json!({"padding": "x".repeat(9000)})), json!({}))
        .await;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            issuer.mint(valid.clone(), json!({"alg": "none"})).await,
            "the token is not a JWT signed with RS256 or ES256",
        ),
        (
            "HS256 keyed with the public key",
            issuer
                .mint(valid.clone(), json!({"alg": "HS256-public-key"}))
                .await,
            "the token's algorithm does not fit its key",
        ),
        (
            "a key the issuer never published",
            issuer
                .mint(valid.clone(), json!({"kid": "rsa-unpublished"}))
                .await,
            "the token's key is not one of the issuer's",
        ),
        (
            "RS256 header on the EC key",
            issuer
                .mint(
                    valid.clone(),
                    json!({"kid": "rsa-1", "header": {"kid": "ec-1"}}),
                )
                .await,
            "the token's algorithm does not fit its key",
        ),
        (
            "a tampered payload",
            tampered,
            "the token's signature does not verify",
        ),
        (
            "another issuer",
            issuer
                .mint(with(json!({"iss": "https://evil.example"})), json!({}))
                .await,
            "the token is from another issuer",
        ),
        (
            "another audience",
            issuer
                .mint(with(json!({"aud": "someone-else"})), json!({}))
                .await,
            "the token is for another audience",
        ),
        (
            "expired past the leeway",
            issuer
                .mint(with(json!({"exp": now - 120})), json!({}))
                .await,
            "the token has expired",
        ),
        (
            "not valid yet",
            issuer
                .mint(with(json!({"nbf": now + 600})), json!({}))
                .await,
            "the token is not valid yet",
        ),
        (
            "an ID token where access tokens are configured",
            issuer
                .mint(with(json!({"token_use": "id"})), json!({}))
                .await,
            "the token is not the kind this API accepts (token_use)",
        ),
        (
            "a Cognito access token of another client",
            issuer
                .mint(
                    with(json!({"aud": null, "client_id": "other-client", "token_use": "access"})),
                    json!({}),
                )
                .await,
            "the token is for another audience",
        ),
        (
            "no subject",
            issuer.mint(with(json!({"sub": null})), json!({})).await,
            "the token names no valid subject",
        ),
        (
            "no expiry",
            issuer.mint(with(json!({"exp": null})), json!({})).await,
            "the token lacks a claim it must have (exp, iss) or has one of the wrong type",
        ),
        (
            "an expiry that is not a number",
            issuer.mint(with(json!({"exp": "soon"})), json!({})).await,
            "the token lacks a claim it must have (exp, iss) or has one of the wrong type",
        ),
        (
            "over the size limit",
            oversized,
            "the token is longer than this API accepts",
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            "the token is not a JWT signed with RS256 or ES256",
        ),
    ];
    for (case, token, why) in &cases {
        let read = call(&app, Method::GET, "/api/items", Some(token), None, &[]).await;
        assert_refused(&read, why, case);
        let write = call(
            &app,
            Method::POST,
            "/api/items",
            Some(token),
            Some(json!({"name": "n"})),
            &[],
        )
        .await;
        assert_refused(&write, why, case);
    }

    // No token at all: the challenge without an error (RFC 6750 section 3.1).
    let anonymous = call(&app, Method::GET, "/api/items", None, None, &[]).await;
    anonymous.problem(401);
    assert_eq!(
        anonymous.header("www-authenticate"),
        r#"Bearer realm="items-api""#
    );

    // Accepted: RS256, ES256, a Cognito access token (client_id, no aud), an array
    // audience, and a token expired within the leeway.
    let accepted = [
        ("RS256", good.clone()),
        (
            "ES256",
            issuer.mint(valid.clone(), json!({"alg": "ES256"})).await,
        ),
        (
            "Cognito access token",
            issuer
                .mint(
                    with(json!({"aud": null, "client_id": AUDIENCE, "token_use": "access"})),
                    json!({}),
                )
                .await,
        ),
        (
            "aud as an array",
            issuer
                .mint(with(json!({"aud": ["other", AUDIENCE]})), json!({}))
                .await,
        ),
        (
            "expired within the leeway",
            issuer.mint(with(json!({"exp": now - 5})), json!({})).await,
        ),
    ];
    for (case, token) in &accepted {
        let listed = call(&app, Method::GET, "/api/items", Some(token), None, &[]).await;
        assert_eq!(listed.status, 200, "{case}: {}", listed.text());
    }
    // The public operations stay public.
    for path in ["/api/health", "/openapi.json", "/"] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
}

/// Two users on every operation: neither sees, changes nor lists the other's items (404,
/// not 403), the same Idempotency-Key is each one's own, and the owner's item stays as
/// it was. On SQLite and on DynamoDB.
async fn two_users_cannot_see_or_change_each_others_items(store: Arc<dyn Store>) {
    let issuer = Issuer::start();
    let mut config = Config::default();
    issuer.configure(&mut config);
    let app = TestApp::with_store(config, store);
    let (alice, bob) = (
        issuer.token_for("alice").await,
        issuer.token_for("bob").await,
    );

    let created = call(
        &app,
        Method::POST,
        "/api/items",
        Some(&alice),
        Some(json!({"name": "alice's"})),
        &[("idempotency-key", "same-key")],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let item = created.json();
    let uri = format!("/api/items/{}", item["id"].as_str().expect("an id"));

    let denied = [
        call(&app, Method::GET, &uri, Some(&bob), None, &[]).await,
        call(
            &app,
            Method::PUT,
            &uri,
            Some(&bob),
            Some(json!({"name": "bob's now"})),
            &[],
        )
        .await,
        call(
            &app,
            Method::PUT,
            &uri,
            Some(&bob),
            Some(json!({"name": "bob's now"})),
            &[("if-match", "\"1\"")],
        )
        .await,
        call(&app, Method::DELETE, &uri, Some(&bob), None, &[]).await,
        call(
            &app,
            Method::DELETE,
            &uri,
            Some(&bob),
            None,
            &[("if-match", "\"1\"")],
        )
        .await,
    ];
    for response in &denied {
        response.problem(404);
    }
    let bobs_list = call(&app, Method::GET, "/api/items", Some(&bob), None, &[]).await;
    assert_eq!(bobs_list.json()["items"], json!([]));

    // Bob's own create with Alice's key is his own, not a replay of hers.
    let bobs = call(
        &app,
        Method::POST,
        "/api/items",
        Some(&bob),
        Some(json!({"name": "bob's"})),
        &[("idempotency-key", "same-key")],
    )
    .await;
    assert_eq!(bobs.status, 201);
    assert!(bobs.headers.get("idempotent-replayed").is_none());
    assert_ne!(bobs.json()["id"], item["id"]);

    let alices = call(&app, Method::GET, &uri, Some(&alice), None, &[]).await;
    assert_eq!(alices.json(), item, "Alice's item is as she made it");
    let alices_list = call(&app, Method::GET, "/api/items", Some(&alice), None, &[]).await;
    assert_eq!(alices_list.json()["items"], json!([item]));
    // Reads need a token in jwt mode.
    call(&app, Method::GET, &uri, None, None, &[])
        .await
        .problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_are_apart_on_sqlite() {
    let store = SqliteStore::in_memory().expect("in-memory SQLite");
    two_users_cannot_see_or_change_each_others_items(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_are_apart_on_dynamodb() {
    let moto = Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    DynamoDbStore::create_table(&client, "items", items_api::config::DEFAULT_SHARDS)
        .await
        .expect("moto creates the table");
    two_users_cannot_see_or_change_each_others_items(Arc::new(DynamoDbStore::new(client, "items")))
        .await;
}

/// The issuer's keys: not read until a token needs them (a cold start that serves no
/// token pays nothing), then read once and kept; an unknown kid reads them again at
/// most once per JWKS_REFRESH_MIN_S, so a rotated key is found and forged kids cannot
/// make the service call the issuer per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuers_keys_are_read_when_needed_and_cached() {
    let issuer = Issuer::start();
    let app = TestApp::configured(|config| {
        issuer.configure(config);
        config.auth.jwks_refresh_min_s = 1;
    });
    assert_eq!(app.get("/api/health").await.status, 200);
    assert_eq!(
        issuer.stats().await,
        json!({"discovery": 0, "jwks": 0}),
        "nothing read at start"
    );

    let alice = issuer.token_for("alice").await;
    for _ in 0..5 {
        assert_eq!(
            call(&app, Method::GET, "/api/items", Some(&alice), None, &[])
                .await
                .status,
            200
        );
    }
    assert_eq!(
        issuer.stats().await,
        json!({"discovery": 1, "jwks": 1}),
        "read once, then cached"
    );

    // A key published after the read: refused until JWKS_REFRESH_MIN_S (1 s here) has
    // passed since that read, then one re-read finds it.
    let kid = issuer.rotate().await;
    let early = issuer
        .mint(
            json!({"iss": issuer.url, "sub": "alice", "aud": AUDIENCE}),
            json!({"kid": kid}),
        )
        .await;
    assert_eq!(
        call(&app, Method::GET, "/api/items", Some(&early), None, &[])
            .await
            .status,
        401
    );
    assert_eq!(issuer.stats().await["jwks"], 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rotated = issuer
        .mint(
            json!({"iss": issuer.url, "sub": "alice", "aud": AUDIENCE}),
            json!({"kid": kid}),
        )
        .await;
    assert_eq!(
        call(&app, Method::GET, "/api/items", Some(&rotated), None, &[])
            .await
            .status,
        200
    );
    assert_eq!(issuer.stats().await["jwks"], 2);

    // Unknown kids within JWKS_REFRESH_MIN_S of that read: refused, no re-read.
    for _ in 0..5 {
        let forged = issuer
            .mint(
                json!({"iss": issuer.url, "sub": "eve", "aud": AUDIENCE}),
                json!({"kid": "rsa-unpublished"}),
            )
            .await;
        assert_refused(
            &call(&app, Method::GET, "/api/items", Some(&forged), None, &[]).await,
            "the token's key is not one of the issuer's",
            "forged kid",
        );
    }
    assert_eq!(
        issuer.stats().await["jwks"],
        2,
        "forged kids cause no reads"
    );
}

/// The issuer cannot be read and no key is known: 503 with Retry-After (a retry can
/// work), not 401 (the token may be fine) or 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_issuer_is_503_with_retry_after() {
    let issuer = Issuer::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let jwks = format!(
        "http://{}/jwks.json",
        closed.local_addr().expect("an address")
    );
    drop(closed);
    let app = TestApp::configured(|config| {
        issuer.configure(config);
        config.auth.jwt_jwks_url = Some(jwks);
        config.auth.jwks_timeout_ms = 500;
    });
    let token = issuer.token_for("alice").await;
    let response = call(&app, Method::GET, "/api/items", Some(&token), None, &[]).await;
    response.problem(503);
    assert_eq!(response.header("retry-after"), "1");
}

/// The same options refuse to start a service that could not check tokens.
#[test]
fn jwt_mode_needs_an_issuer_and_an_audience_and_gateway_mode_needs_lambda() {
    use items_api::startup::{Serving, callers};
    let mut config = Config::default();
    config.auth.auth_mode = AuthMode::Jwt;
    let error = callers(&config.auth, Serving::Http).expect_err("no issuer");
    assert!(error.to_string().contains("JWT_ISSUER"), "{error}");
    config.auth.jwt_issuer = Some("https://issuer.example".to_owned());
    let error = callers(&config.auth, Serving::Http).expect_err("no audience");
    assert!(error.to_string().contains("JWT_AUDIENCE"), "{error}");
    config.auth.jwt_issuer = Some("http://issuer.example".to_owned());
    config.auth.jwt_audience = Some(AUDIENCE.to_owned());
    let error = callers(&config.auth, Serving::Http).expect_err("plain http elsewhere");
    assert!(error.to_string().contains("https://"), "{error}");

    config.auth.auth_mode = AuthMode::Gateway;
    let error = callers(&config.auth, Serving::Http).expect_err("no gateway locally");
    assert!(error.to_string().contains("AUTH_MODE=gateway"), "{error}");
    assert!(callers(&config.auth, Serving::Lambda).is_ok());
}

/// The binary refuses AUTH_MODE=gateway as a local server, saying why, before it
/// listens: a local port must not take a client's word for who it is.
#[test]
fn the_local_server_refuses_gateway_mode() {
    let output = std::process::Command::new(crate::support::BINARY)
        .env_clear()
        .env("AUTH_MODE", "gateway")
        .env("DATABASE_PATH", ":memory:")
        .env("PORT", "0")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(log.contains("AUTH_MODE=gateway"), "{log}");
    assert!(
        !log.contains("listening"),
        "refused before it listens: {log}"
    );
    assert!(
        !log.contains("migrating"),
        "and before the store is touched: {log}"
    );
}

/// An event with the claims API Gateway's authorizer put there, run in gateway mode.
async fn gateway_call(app: &TestApp, fixture: &str, change: impl Fn(&mut Value)) -> Value {
    let mut event: Value = serde_json::from_str(&event(fixture)).expect("JSON");
    change(&mut event);
    items_api::lambda::invoke(app.app(), &event.to_string(), Default::default())
        .await
        .expect("answered")
}

fn response_body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a text body")).expect("JSON")
}

/// Gateway mode reads the caller from both claim shapes: a REST API's Cognito
/// authorizer (`requestContext.authorizer.claims`, strings) and an HTTP API's JWT
/// authorizer (`requestContext.authorizer.jwt.claims`); each user's items are their
/// own, and an event without claims (no authorizer on the route) is refused.
#[tokio::test]
async fn gateway_mode_takes_the_user_from_either_authorizers_claims() {
    let mut config = Config::default();
    config.auth.auth_mode = AuthMode::Gateway;
    let app = TestApp::for_lambda(config);
    let rest_claims = |sub: &'static str| {
        move |event: &mut Value| {
            event["requestContext"]["authorizer"] = json!({"claims": {
                "sub": sub, "token_use": "id", "cognito:groups": "[readers writers]",
                "email_verified": "true", "exp": "Mon Nov 30 10:00:00 UTC 2026"}});
        }
    };
    let created = gateway_call(&app, "rest-v1-create-item.json", rest_claims("alice")).await;
    assert_eq!(created["statusCode"], 201, "{created}");
    let id = response_body(&created)["id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let get_as = |sub: &'static str| {
        let id = id.clone();
        move |event: &mut Value| {
            rest_claims(sub)(event);
            event["httpMethod"] = "GET".into();
            event["path"] = format!("/api/items/{id}").into();
            event["pathParameters"] = json!({"proxy": format!("api/items/{id}")});
            event["requestContext"]["path"] = format!("/prod/api/items/{id}").into();
            event["body"] = Value::Null;
        }
    };
    assert_eq!(
        gateway_call(&app, "rest-v1-create-item.json", get_as("alice")).await["statusCode"],
        200
    );
    assert_eq!(
        gateway_call(&app, "rest-v1-create-item.json", get_as("bob")).await["statusCode"],
        404
    );

    // HTTP API v2: claims under authorizer.jwt.
    let v2_list_as = |sub: &'static str| {
        move |event: &mut Value| {
            event["rawPath"] = "/api/items".into();
            event["requestContext"]["http"]["path"] = "/api/items".into();
            event["requestContext"]["authorizer"] = json!({"jwt": {"claims": {"sub": sub, "client_id": "c", "token_use": "access"}, "scopes": ["items/read"]}});
        }
    };
    let alices = gateway_call(&app, "http-v2-get-health.json", v2_list_as("alice")).await;
    assert_eq!(alices["statusCode"], 200, "{alices}");
    assert_eq!(
        response_body(&alices)["items"].as_array().map(Vec::len),
        Some(1)
    );
    let bobs = gateway_call(&app, "http-v2-get-health.json", v2_list_as("bob")).await;
    assert_eq!(response_body(&bobs)["items"], json!([]));

    // No authorizer on the route, or claims without a subject: refused.
    let anonymous = gateway_call(&app, "rest-v1-create-item.json", |_| {}).await;
    assert_eq!(anonymous["statusCode"], 401, "{anonymous}");
    let no_sub = gateway_call(&app, "rest-v1-create-item.json", |event| {
        event["requestContext"]["authorizer"] = json!({"claims": {"email": "a@example.com"}});
    })
    .await;
    assert_eq!(no_sub["statusCode"], 401);
    assert_eq!(
        response_body(&no_sub)["detail"],
        "The bearer token was refused: the token names no valid subject."
    );
}

/// JWKS_TIMEOUT_MS is hit: an issuer that accepts the connection and never answers
/// makes the request wait no longer than the timeout, then 503 with Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_issuer_is_given_up_after_the_jwks_timeout() {
    let issuer = Issuer::start();
    // Listening, never accepting: the kernel completes the handshake, nobody answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let jwks = format!(
        "http://{}/jwks.json",
        silent.local_addr().expect("an address")
    );
    let app = TestApp::configured(|config| {
        issuer.configure(config);
        config.auth.jwt_jwks_url = Some(jwks);
        config.auth.jwks_timeout_ms = 300;
    });
    let token = issuer.token_for("alice").await;
    let started = std::time::Instant::now();
    let response = call(&app, Method::GET, "/api/items", Some(&token), None, &[]).await;
    let waited = started.elapsed();
    response.problem(503);
    assert_eq!(response.header("retry-after"), "1");
    assert!(
        waited >= std::time::Duration::from_millis(300)
            && waited < std::time::Duration::from_secs(5),
        "gave up after {waited:?}"
    );
    drop(silent);
}

/// JWT_MAX_BYTES is the longest token accepted: one byte more is refused unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_exactly_the_size_limit_is_read_and_one_byte_more_is_not() {
    let issuer = Issuer::start();
    let token = issuer.token_for("alice").await;
    for (limit, status) in [(token.len(), 200), (token.len() - 1, 401)] {
        let app = TestApp::configured(|config| {
            issuer.configure(config);
            config.auth.jwt_max_bytes = limit;
        });
        let response = call(&app, Method::GET, "/api/items", Some(&token), None, &[]).await;
        assert_eq!(
            response.status,
            status,
            "limit {limit}: {}",
            response.text()
        );
    }
}
