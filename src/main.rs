//! The `items-api` binary: parses its command line, starts the async runtime and
//! telemetry, and runs one of the entry points of `items_api::startup`, which builds
//! the service the same way for each.

use clap::Parser;
use items_api::config::{Cli, Command};
use items_api::error::error_chain;
use items_api::server::shutdown_signal;
use items_api::startup::{self, BoxError};
use items_api::telemetry::{self, Output};
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The blocking pool runs SQLite writes (and DNS lookups): bounded, since writes
    // serialize on one connection and every extra waiting thread costs its stack and
    // a malloc arena (docs/performance.md: memory).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cli.config.server.blocking_threads)
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
    let command = cli.command.unwrap_or(Command::Serve);
    let what = match &command {
        Command::Serve => "the server stopped",
        _ => "the command failed",
    };
    let result = match command {
        Command::Openapi {
            format,
            check,
            bless,
        } => openapi(format, check.as_deref(), bless.as_deref()),
        Command::CreateTable { shards } => startup::create_table(&config, shards)
            .await
            .map(|table| println!("created DynamoDB table {table} ({shards} shards per owner)")),
        Command::Migrate { shards } => {
            _logs = Some(telemetry::init_to(&config, Output::Stderr));
            startup::migrate(&config, shards).await.map(|report| {
                if report.already_sharded && report.items + report.keys == 0 {
                    println!("the table is sharded {shards} ways already: nothing to do");
                } else {
                    let plural = |n: u64, one: &str, many: &str| {
                        format!("{n} {}", if n == 1 { one } else { many })
                    };
                    println!(
                        "moved {} and {} to {shards} shards per owner in {} pass(es)",
                        plural(report.items, "item", "items"),
                        plural(report.keys, "idempotency key", "idempotency keys"),
                        report.passes
                    );
                }
            })
        }
        Command::Invoke { event } => {
            // Logs go to stderr, so stdout holds only the response JSON.
            _logs = Some(telemetry::init_to(&config, Output::Stderr));
            match read_event(&event) {
                Ok(text) => startup::invoke(&config, &text).await.and_then(|response| {
                    println!("{}", serde_json::to_string_pretty(&response)?);
                    Ok(())
                }),
                Err(error) => Err(error),
            }
        }
        Command::Serve if config.in_lambda() => {
            _logs = Some(telemetry::init_to(&config, Output::Stdout));
            startup::run_lambda(&config).await
        }
        Command::Serve => {
            let lines = config.telemetry.log_buffer_lines;
            _logs = Some(telemetry::init_to(&config, Output::StdoutBatched { lines }));
            startup::serve(&config, shutdown_signal).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if tracing::dispatcher::has_been_set() {
                tracing::error!(error = %error_chain(error.as_ref()), "{what}");
            } else {
                eprintln!("items-api: {}", error_chain(error.as_ref()));
            }
            ExitCode::FAILURE
        }
    }
}

/// `items-api openapi`: print the generated document, list its drift from a file, or
/// rewrite the file from the code.
fn openapi(
    format: items_api::config::DocumentFormat,
    check: Option<&Path>,
    bless: Option<&Path>,
) -> Result<(), BoxError> {
    if let Some(file) = bless {
        startup::openapi_bless(file)?;
        println!(
            "rewrote {} from the code: review it with `git diff`",
            file.display()
        );
        return Ok(());
    }
    let Some(file) = check else {
        print!("{}", startup::openapi_text(format)?);
        return Ok(());
    };
    let differences = startup::openapi_drift(file)?;
    if differences.is_empty() {
        println!("the code generates exactly {}", file.display());
        return Ok(());
    }
    for difference in &differences {
        println!("{difference}");
    }
    let count = differences.len();
    Err(format!(
        "the code's document differs from {} at {count} path(s)",
        file.display()
    )
    .into())
}

/// The event's JSON text, from a file or (`-`) from stdin.
fn read_event(event: &Path) -> Result<String, BoxError> {
    if event.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text);
    }
    Ok(std::fs::read_to_string(event)
        .map_err(|e| format!("cannot read {}: {e}", event.display()))?)
}
