//! The local HTTP server: accepts connections, serves them with hyper's HTTP/1.1
//! connection and the service, and shuts down within a deadline.
//!
//! `axum::serve` exposes none of hyper's connection settings, so this is its accept
//! loop with the settings a server facing real clients needs (hyper and hyper-util do
//! the work; only the loop is ours):
//! - hyper's `header_read_timeout` closes a connection whose client has not sent a whole
//!   request head in time, on a new connection and between keep-alive requests alike;
//! - a semaphore caps the connections served at once (the rest wait in the listen
//!   queue), below the process's file-descriptor limit;
//! - hyper's buffer and header-count limits sit above the application's own (414, 431),
//!   so a client over them gets a problem document rather than hyper's empty answer;
//! - on shutdown, hyper-util's `GracefulShutdown` lets in-flight requests finish and
//!   tells keep-alive clients `Connection: close`; what is still open at the deadline
//!   is dropped.
//!
//! HTTP/1.1 only: HTTP/2 without TLS (h2c) is not served. Behind a load balancer or
//! API Gateway the service sees HTTP/1.1 anyway.

use crate::app::App;
use crate::config::ServerConfig;
use axum::body::Body;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// File descriptors kept free beside the connections: the listener, SQLite's files,
/// the AWS SDK's sockets, logs.
const RESERVED_FDS: usize = 64;

/// Connection settings of the local server.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// Longest wait for a whole request head, also between keep-alive requests.
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// The application's own limit of the request target, in bytes.
    pub max_uri_bytes: usize,
    /// The application's own limit of all headers, in bytes.
    pub max_header_bytes: usize,
    /// The application's own limit of the header count.
    pub max_headers: usize,
}

impl ServerSettings {
    /// The settings `config` gives.
    pub fn new(config: &ServerConfig) -> Self {
        let ms = Duration::from_millis;
        Self {
            header_read_timeout: ms(config.header_read_timeout_ms),
            shutdown_timeout: ms(config.shutdown_timeout_ms),
            max_connections: config.max_connections,
            max_uri_bytes: config.max_uri_bytes,
            max_header_bytes: config.max_header_bytes,
            max_headers: config.max_headers,
        }
    }

    /// The connection cap in force: the configured one, lowered to fit the process's
    /// file-descriptor limit when it does not.
    pub fn connection_cap(&self) -> usize {
        match open_files_limit() {
            Some(limit) if self.max_connections + RESERVED_FDS > limit => {
                let cap = limit.saturating_sub(RESERVED_FDS).max(1);
                tracing::warn!(
                    configured = self.max_connections,
                    open_files_limit = limit,
                    cap,
                    "MAX_CONNECTIONS does not fit the file-descriptor limit; serving fewer connections"
                );
                cap
            }
            _ => self.max_connections,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains within the deadline.
pub async fn serve(
    listener: TcpListener,
    app: App,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = settings.connection_cap();
    let permits = Arc::new(Semaphore::new(cap));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true)
        // Room for a request line and headers twice the application's limits, so the
        // application sees (and answers) anything over its own.
        .max_buf_size((2 * (settings.max_uri_bytes + settings.max_header_bytes)).max(8192))
        .max_headers(2 * settings.max_headers + 2);
    tracing::info!(max_connections = cap, "accepting connections");
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => {
                permit.expect("the semaphore is never closed")
            }
            () = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends pass; do not spin on them.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            app.clone().oneshot(request.map(Body::new))
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away or times out is no error of the server's.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    let open = permits.available_permits();
    tracing::info!(
        open_connections = cap - open,
        deadline_ms = settings.shutdown_timeout.as_millis() as u64,
        "no longer accepting; letting in-flight requests finish"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("every connection closed"),
        () = tokio::time::sleep(settings.shutdown_timeout) => {
            tracing::warn!(
                open_connections = cap - permits.available_permits(),
                "shutdown deadline passed; dropping the connections still open"
            );
        }
    }
    Ok(())
}

/// The soft limit of open files (`ulimit -n`), from /proc on Linux.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files_limit(&limits)
}

fn parse_open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish before the server
/// exits. The handlers are installed before this returns, so a signal that arrives
/// right after start-up (once "listening" is logged) is never missed.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{Signal, SignalKind, signal};
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
        let wait = |signal: Option<Signal>| async move {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_open_files_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95457                95457                processes \n\
                      Max open files            256                  524288               files     \n";
        assert_eq!(parse_open_files_limit(limits), Some(256));
        assert_eq!(parse_open_files_limit("nothing"), None);
    }
}
