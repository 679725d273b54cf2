//! Logging: `tracing` events as JSON lines (for machines and CloudWatch) or pretty text
//! (for a terminal).

use crate::config::{Config, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The server's and Lambda's logs (CloudWatch reads stdout).
    Stdout,
    /// `invoke`, whose stdout carries the response.
    Stderr,
}

/// Installs the global subscriber for `config` (LOG_FORMAT / LOG_LEVEL, or Lambda's
/// logging controls). An invalid filter falls back to `info` with a warning rather
/// than failing start-up.
pub fn init_to(config: &Config, output: Output) {
    let terminal = match output {
        Output::Stdout => std::io::stdout().is_terminal(),
        Output::Stderr => std::io::stderr().is_terminal(),
    };
    let filter = config.effective_log_filter();
    let (env_filter, bad_filter) = match EnvFilter::try_new(&filter) {
        Ok(env_filter) => (env_filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error)),
    };
    let format = config.effective_log_format(terminal);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(terminal)
        .with_writer(move || -> Box<dyn std::io::Write> {
            match output {
                Output::Stdout => Box::new(std::io::stdout()),
                Output::Stderr => Box::new(std::io::stderr()),
            }
        });
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Pretty => builder.compact().init(),
    }
    if let Some(error) = bad_filter {
        tracing::warn!(%error, filter, "invalid log filter; logging at info");
    }
}
