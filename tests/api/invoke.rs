//! `items-api invoke`: one event through the real binary, its allow-listed aws-info,
//! and the bearer token from AWS Secrets Manager (against moto_server).

use crate::support::{BINARY, EVENTS, FIXTURE_TOKEN, Moto, secretsmanager_client};
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Secrets that must never appear in a response or a log line.
const SECRETS: [(&str, &str); 5] = [
    ("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "fake-secret-access-key-do-not-leak",
    ),
    ("AWS_SESSION_TOKEN", "fake-session-token-do-not-leak"),
    ("API_TOKEN", FIXTURE_TOKEN),
    ("SOME_APP_SECRET", "another-secret-value-do-not-leak"),
];

fn invoke(event: &str, env: &[(&str, String)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(BINARY);
    command
        .arg("invoke")
        .arg(if stdin.is_some() {
            "-".to_owned()
        } else {
            format!("{EVENTS}/{event}")
        })
        .env_clear()
        .env("DATABASE_PATH", ":memory:")
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the binary starts");
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("stdin takes the event");
    drop(input);
    child.wait_with_output().expect("the binary finishes")
}

fn response(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is the Lambda response JSON")
}

fn body(response: &serde_json::Value) -> serde_json::Value {
    serde_json::from_str(response["body"].as_str().expect("text body")).expect("JSON body")
}

#[test]
fn invoke_prints_the_lambda_response_and_logs_to_stderr() {
    let output = invoke("http-v2-get-health.json", &[], None);
    let response = response(&output);
    assert_eq!(response["statusCode"], 200);
    assert_eq!(body(&response)["status"], "ok");
    let logs = String::from_utf8_lossy(&output.stderr);
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "request completed")
        .unwrap_or_else(|| panic!("no request log line in: {logs}"));
    assert!(
        line["span"]["lambda_request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("invoke-")),
        "{line}"
    );
}

#[test]
fn invoke_reads_the_event_from_stdin() {
    let event = std::fs::read_to_string(format!("{EVENTS}/alb-get-health.json")).expect("fixture");
    assert_eq!(response(&invoke("-", &[], Some(&event)))["statusCode"], 200);
}

#[test]
fn invoke_of_a_non_http_event_fails_with_a_message() {
    let output = invoke("-", &[], Some(r#"{"Records": []}"#));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not an API Gateway"));
}

#[test]
fn no_secret_of_the_environment_reaches_a_response_or_a_log_line() {
    let mut env: Vec<(&str, String)> = SECRETS.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    env.extend([
        ("AWS_REGION", "eu-west-1".to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", "items-api-test".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
    ]);
    for event in [
        "rest-v1-aws-info.json",
        "http-v2-named-stage-aws-info.json",
        "rest-v1-create-item.json",
        "rest-v1-get-openapi.json",
    ] {
        let output = invoke(event, &env, None);
        let response = response(&output);
        let everything = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for (name, secret) in SECRETS {
            assert!(
                !everything.contains(secret),
                "{name} leaked through {event}"
            );
        }
        if event.contains("aws-info") {
            let info = body(&response);
            assert_eq!(info["in_lambda"], true);
            assert_eq!(info["region"], "eu-west-1");
            assert_eq!(info["runtime"], "provided.al2023");
            let allowed = [
                "in_lambda",
                "function_name",
                "function_version",
                "memory_limit_mb",
                "region",
                "runtime",
                "architecture",
                "log_group",
                "log_stream",
                "lambda_request_id",
                "api_request_id",
                "stage",
                "source_ip",
                "trace_id",
            ];
            for key in info.as_object().expect("object").keys() {
                assert!(
                    allowed.contains(&key.as_str()),
                    "{key} is not on the allow-list"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_comes_from_secrets_manager_when_its_arn_is_set() {
    let moto = Moto::start();
    let secret = secretsmanager_client(&moto.endpoint)
        .create_secret()
        .name("items-api/token")
        .secret_string("fixture-token\n")
        .send()
        .await
        .expect("moto creates the secret");
    let arn = secret.arn().expect("an ARN").to_owned();

    let mut env = moto.env();
    env.push(("API_TOKEN_SECRET_ARN", arn.clone()));
    // The fixture carries `Authorization: Bearer fixture-token`: accepted; the write
    // read the secret.
    const READ: &str = "bearer token read from AWS Secrets Manager";
    let output = invoke("rest-v1-create-item.json", &env, None);
    let created = response(&output);
    assert_eq!(created["statusCode"], 201, "{created}");
    assert!(String::from_utf8_lossy(&output.stderr).contains(READ));
    // A cold read does not.
    let output = invoke("rest-v1-get-health.json", &env, None);
    assert_eq!(response(&output)["statusCode"], 200);
    assert!(!String::from_utf8_lossy(&output.stderr).contains(READ));
    // Without it: 401.
    let event =
        std::fs::read_to_string(format!("{EVENTS}/rest-v1-create-item.json")).expect("fixture");
    let mut without: serde_json::Value = serde_json::from_str(&event).expect("JSON");
    for map in ["headers", "multiValueHeaders"] {
        without[map]
            .as_object_mut()
            .expect("map")
            .remove("Authorization");
    }
    let denied = response(&invoke("-", &env, Some(&without.to_string())));
    assert_eq!(denied["statusCode"], 401);

    // The secret is read when a write first needs it, not at start-up: a missing one
    // never opens writes, never costs a read anything, and is reported as the contract
    // says (503 with Retry-After) with the reason in the log.
    env.retain(|(k, _)| *k != "API_TOKEN_SECRET_ARN");
    env.push(("API_TOKEN_SECRET_ARN", format!("{arn}-missing")));
    let output = invoke("rest-v1-create-item.json", &env, None);
    let refused = response(&output);
    assert_eq!(refused["statusCode"], 503, "{refused}");
    let headers = &refused["multiValueHeaders"];
    assert_eq!(
        headers["content-type"][0], "application/problem+json",
        "{refused}"
    );
    assert_eq!(headers["retry-after"][0], "1", "{refused}");
    assert_eq!(
        body(&refused)["detail"],
        "The service cannot check bearer tokens now."
    );
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("cannot read secret") && logs.contains("-missing"),
        "{logs}"
    );
    // Without a bearer token the answer is 401 at once: nothing needs the secret.
    let denied = invoke("-", &env, Some(&without.to_string()));
    assert_eq!(response(&denied)["statusCode"], 401);
    assert!(!String::from_utf8_lossy(&denied.stderr).contains("cannot read secret"));
    // Reads never wait for the token.
    let read = invoke("rest-v1-get-health.json", &env, None);
    assert_eq!(response(&read)["statusCode"], 200);
    assert!(!String::from_utf8_lossy(&read.stderr).contains("cannot read secret"));
}

/// The binary's `invoke` with a broken event answers a 400 and exits 0, as the
/// runtime loop does; before, lambda_http's conversion panicked (exit 101).
#[test]
fn invoke_of_an_event_with_a_broken_body_answers_400_and_does_not_panic() {
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{EVENTS}/rest-v1-create-item.json")).expect("fixture"),
    )
    .expect("JSON");
    event["isBase64Encoded"] = serde_json::Value::Bool(true);
    event["body"] = serde_json::Value::String("%%% not base64 %%%".to_owned());
    let output = invoke("-", &[], Some(&event.to_string()));
    let response = response(&output);
    assert_eq!(response["statusCode"], 400, "{response}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}

/// `invoke` reads the function's facts from the variables the Lambda runtime reads.
#[test]
fn invoke_reports_the_function_the_environment_names() {
    let env = [
        ("AWS_LAMBDA_FUNCTION_NAME", "items-api-test".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "7".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/items-api-test".to_owned(),
        ),
    ];
    let info = body(&response(&invoke("rest-v1-aws-info.json", &env, None)));
    assert_eq!(info["function_name"], "items-api-test", "{info}");
    assert_eq!(info["function_version"], "7");
    assert_eq!(info["memory_limit_mb"], 256);
    assert_eq!(info["log_group"], "/aws/lambda/items-api-test");
}

/// Start-up opens the DynamoDB connection (the warm-up); when DynamoDB cannot be
/// reached, start-up goes on and says so, and the request answers as the contract says
/// (the health report's 503), instead of the process failing its Init.
#[test]
fn an_unreachable_dynamodb_at_start_up_is_logged_and_the_request_still_answers() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let env = [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}")),
        ("AWS_REGION", "eu-west-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "fake".to_owned()),
        ("ITEMS_TABLE", "items".to_owned()),
        ("STORE_TIMEOUT_MS", "500".to_owned()),
    ];
    let output = invoke("rest-v1-get-health.json", &env, None);
    let health = response(&output);
    assert_eq!(health["statusCode"], 503, "{health}");
    assert_eq!(body(&health)["store"]["status"], "unavailable", "{health}");
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("item store warm-up failed"), "{logs}");
}
