//! The `items-api` binary: parses its configuration, starts telemetry and serves.

use clap::Parser;
use items_api::api;
use items_api::app::{AppState, build_app};
use items_api::config::{Cli, Command, Config, DocumentFormat};
use items_api::store::SqliteStore;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi { format } => print_openapi(format),
        Command::Serve => {
            items_api::telemetry::init(cli.config.log_format, &cli.config.log_level);
            match serve(cli.config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = %items_api::error::error_chain(error.as_ref()), "the server stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn print_openapi(format: DocumentFormat) -> ExitCode {
    let document = api::openapi();
    let text = match format {
        DocumentFormat::Json => serde_json::to_string_pretty(&document).map_err(|e| e.to_string()),
        DocumentFormat::Yaml => yaml_serde::to_string(&document).map_err(|e| e.to_string()),
    };
    match text {
        Ok(text) => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("items-api: cannot print the OpenAPI document: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let store = SqliteStore::open(&config.database_path)?;
    tracing::info!(path = %config.database_path.display(), "SQLite item store open");
    let state = AppState::new(&config, Arc::new(store));
    if state.api_token.is_none() {
        tracing::warn!(
            "API_TOKEN is not set: anyone who can reach the server can create, replace and delete items"
        );
    }
    let app = build_app(&config, state)?;
    let address = SocketAddr::new(config.host, config.port);
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(address = %listener.local_addr()?, "listening; docs at /docs/");
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("shut down");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish before the server exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
