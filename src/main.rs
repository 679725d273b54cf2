//! The `items-api` binary: parses its configuration, starts telemetry, builds the
//! service once, then serves HTTP, serves Lambda invocations, or replays one event.

use clap::Parser;
use items_api::api;
use items_api::app::{App, build_app};
use items_api::config::{Cli, Command, Config, DocumentFormat};
use items_api::context::{AppState, TokenRefresh, WriteToken};
use items_api::error::error_chain;
use items_api::store::{DynamoDbStore, ItemStore, SqliteStore};
use items_api::telemetry::{self, Output};
use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The blocking pool runs SQLite writes (and DNS lookups): bounded, since writes
    // serialize on one connection and every extra waiting thread costs its stack and
    // a malloc arena (docs/performance.md: memory).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cli.config.blocking_threads)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(error) => {
            eprintln!("items-api: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    let config = cli.config;
    // Held to the end, so the last lines (the error below too) are written.
    let mut _logs = None;
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi { format, check } => match check {
            Some(file) => check_openapi(&file),
            None => print_openapi(format),
        },
        Command::CreateTable => create_table(&config).await,
        Command::Invoke { event } => {
            _logs = Some(telemetry::init_to(&config, Output::Stderr));
            invoke(&config, &event).await
        }
        Command::Serve if config.in_lambda() => {
            _logs = Some(telemetry::init_to(&config, Output::Stdout));
            run_lambda(&config).await
        }
        Command::Serve => {
            let lines = config.log_buffer_lines;
            _logs = Some(telemetry::init_to(&config, Output::StdoutBatched { lines }));
            serve(&config).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if tracing::dispatcher::has_been_set() {
                tracing::error!(error = %error_chain(error.as_ref()), "the server stopped");
            } else {
                eprintln!("items-api: {}", error_chain(error.as_ref()));
            }
            ExitCode::FAILURE
        }
    }
}

fn print_openapi(format: DocumentFormat) -> Result<(), BoxError> {
    let document = api::openapi();
    let text = match format {
        DocumentFormat::Json => serde_json::to_string_pretty(&document)? + "\n",
        DocumentFormat::Yaml => yaml_serde::to_string(&document)?,
    };
    print!("{text}");
    Ok(())
}

/// Compares the generated document with `file` as data (comments, key order and
/// quoting aside) and lists each JSON path that differs; fails when any does.
fn check_openapi(file: &std::path::Path) -> Result<(), BoxError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let expected: serde_json::Value =
        yaml_serde::from_str(&text).map_err(|e| format!("{} is not YAML: {e}", file.display()))?;
    let generated = serde_json::to_value(api::openapi())?;
    let mut differences = Vec::new();
    json_differences(&expected, &generated, String::new(), &mut differences);
    if differences.is_empty() {
        println!("the code generates exactly {}", file.display());
        return Ok(());
    }
    for difference in &differences {
        println!("{difference}");
    }
    Err(format!(
        "the code's document differs from {} at {} path(s)",
        file.display(),
        differences.len()
    )
    .into())
}

/// Each JSON path where `expected` and `actual` differ, with both values.
fn json_differences(
    expected: &serde_json::Value,
    actual: &serde_json::Value,
    path: String,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let here = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => json_differences(x, y, here, out),
                    (Some(x), None) => out.push(format!("{here}: only in the file: {x}")),
                    (None, Some(y)) => out.push(format!("{here}: only in the code: {y}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                json_differences(x, y, format!("{path}/{index}"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: the file has {a}, the code {b}")),
        _ => {}
    }
}

/// Builds everything a request needs, once: store, token, router. `lambda` says
/// whether it will serve Lambda events (for real, or replayed by `invoke`).
async fn build(config: &Config, lambda: bool) -> Result<App, BoxError> {
    let needs_aws = config.items_table.is_some() || config.api_token_secret_arn.is_some();
    let sdk = if needs_aws {
        Some(items_api::aws::sdk_config(config).await)
    } else {
        None
    };
    let store: Arc<dyn ItemStore> = match (&config.items_table, &sdk) {
        (Some(table), Some(sdk)) => {
            tracing::info!(table, "DynamoDB item store");
            Arc::new(DynamoDbStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table,
            ))
        }
        _ => {
            let store = SqliteStore::open_with(
                &config.database_path,
                config.database_max_bytes,
                Some(config.database_cache_kib),
            )?;
            tracing::info!(path = %config.database_path.display(), "SQLite item store open");
            Arc::new(store)
        }
    };
    // Lambda's Init has the full CPU: open the store's connection here, not in the
    // first request. A failure is the first request's to report.
    if let Err(error) = store.warm_up().await {
        tracing::warn!(error = %error_chain(&error), "item store warm-up failed");
    }
    let mut state = AppState::new(config, store);
    if lambda {
        state = state.with_runtime(items_api::lambda::environment(
            config.aws_region.clone(),
            config.aws_execution_env.clone(),
        ));
    }
    if let (Some(arn), Some(sdk)) = (&config.api_token_secret_arn, &sdk) {
        // Read when a write first needs it: a cold read pays no Secrets Manager call.
        let source = items_api::secrets::SecretToken::new(sdk, arn);
        state = state.with_deferred_token(Box::new(source), TokenRefresh::new(config));
    }
    if let WriteToken::Open = state.write_token {
        tracing::warn!(
            "API_TOKEN is not set: anyone who can reach the server can create, replace and delete items"
        );
    }
    Ok(build_app(config, state)?)
}

async fn create_table(config: &Config) -> Result<(), BoxError> {
    let table = config
        .items_table
        .as_deref()
        .ok_or("set ITEMS_TABLE to the table to create")?;
    let client = aws_sdk_dynamodb::Client::new(&items_api::aws::sdk_config(config).await);
    DynamoDbStore::create_table(&client, table).await?;
    println!("created DynamoDB table {table}");
    Ok(())
}

async fn serve(config: &Config) -> Result<(), BoxError> {
    let app = build(config, false).await?;
    let address = SocketAddr::new(config.host, config.port);
    let listener = tokio::net::TcpListener::bind(address).await?;
    let shutdown = shutdown_signal();
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    tracing::info!(%address, docs = %format!("{url}/docs/"), "listening on {url} (docs: {url}/docs/)");
    let ms = std::time::Duration::from_millis;
    let settings = items_api::server::ServerSettings {
        header_read_timeout: ms(config.header_read_timeout_ms),
        shutdown_timeout: ms(config.shutdown_timeout_ms),
        max_connections: config.max_connections,
        max_uri_bytes: config.max_uri_bytes,
        max_header_bytes: config.max_header_bytes,
        max_headers: config.max_headers,
    };
    items_api::server::serve(listener, app, settings, shutdown).await?;
    tracing::info!("shut down");
    Ok(())
}

async fn run_lambda(config: &Config) -> Result<(), BoxError> {
    let app = build(config, true).await?;
    tracing::info!("serving Lambda invocations");
    items_api::lambda::run(app).await
}

/// Replays one event; logs go to stderr, so stdout holds only the response JSON.
async fn invoke(config: &Config, event: &std::path::Path) -> Result<(), BoxError> {
    let text = if event.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(event)
            .map_err(|e| format!("cannot read {}: {e}", event.display()))?
    };
    let app = build(config, true).await?;
    let function = items_api::lambda::function_config(config);
    let response = items_api::lambda::invoke(app, &text, function).await?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish before the server
/// exits. The handlers are installed before this returns, so a signal that arrives
/// right after start-up (once "listening" is logged) is never missed.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for {name}");
            None
        }
    };
    let mut interrupt = listen(SignalKind::interrupt(), "Ctrl-C");
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM");
    async move {
        let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt.take()) => tracing::info!("Ctrl-C received; shutting down"),
            () = wait(terminate.take()) => tracing::info!("SIGTERM received; shutting down"),
        }
    }
}
