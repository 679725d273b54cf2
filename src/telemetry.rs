//! Logging: `tracing` events as JSON lines (for machines and CloudWatch) or pretty text
//! (for a terminal), and the request span and log line every request gets.

use crate::config::{Config, LogFormat};
use crate::context::{Invocation, REQUEST_ID};
use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use std::io::IsTerminal;
use std::time::Duration;
use tracing::Span;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Lambda's logs (CloudWatch reads stdout): each line written when it is logged,
    /// so an invocation's lines are out before Lambda freezes the process.
    Stdout,
    /// The local server's logs: up to `lines` lines wait for a writer thread that
    /// writes what has gathered in one `write` (0: as `Stdout`). Under load this takes
    /// a system call per line off the requests' threads (~8% of the server's CPU).
    StdoutBatched { lines: usize },
    /// `invoke`, whose stdout carries the response.
    Stderr,
}

/// Keeps the writer thread of [`Output::StdoutBatched`]; dropping it writes what
/// waits. Hold it until the process exits.
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// Installs the global subscriber for `config` (LOG_FORMAT / LOG_LEVEL, or Lambda's
/// logging controls). An invalid filter falls back to `info` with a warning rather
/// than failing start-up.
pub fn init_to(config: &Config, output: Output) -> LogGuard {
    let terminal = match output {
        Output::Stdout | Output::StdoutBatched { .. } => std::io::stdout().is_terminal(),
        Output::Stderr => std::io::stderr().is_terminal(),
    };
    let filter = config.effective_log_filter();
    let (env_filter, bad_filter) = match EnvFilter::try_new(&filter) {
        Ok(env_filter) => (env_filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error)),
    };
    let format = config.effective_log_format(terminal);
    let (writer, guard) = match output {
        Output::StdoutBatched { lines } if lines > 0 => {
            // 64 KiB of lines per write at most; `lossy(false)`: a full queue makes the
            // request wait rather than lose a line.
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(lines)
                .lossy(false)
                .thread_name("log-writer")
                .finish(std::io::BufWriter::with_capacity(
                    64 * 1024,
                    std::io::stdout(),
                ));
            (BoxMakeWriter::new(writer), Some(guard))
        }
        Output::Stdout | Output::StdoutBatched { .. } => {
            (BoxMakeWriter::new(std::io::stdout), None)
        }
        Output::Stderr => (BoxMakeWriter::new(std::io::stderr), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(terminal)
        .with_writer(writer);
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
    LogGuard(guard)
}

/// One span per request; its fields are on every event logged while serving it.
pub fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        lambda_request_id = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if let Some(invocation) = request.extensions().get::<Invocation>() {
        if let Some(id) = &invocation.lambda_request_id {
            span.record("lambda_request_id", id.as_str());
        }
        if let Some(trace) = &invocation.trace_id {
            span.record("trace_id", trace.as_str());
        }
    }
    span
}

/// The one log line per request.
pub fn log_response(response: &Response, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    tracing::info!(status, latency_ms, "request completed");
}
