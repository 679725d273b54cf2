//! The AWS SDK's settings, shared by every client the service builds: one HTTPS client
//! (rustls with *ring*, trusting the system's certificates or `SSL_CERT_FILE`), the
//! SDK's own variables (region, credentials, endpoints), a bounded timeout and
//! standard-mode retries.
//!
//! Why *ring* and not the SDK's default aws-lc: aws-lc seeds its random generator
//! from a CPU-jitter entropy source at the first TLS connection, which took ~30 ms
//! of every cold start here (aws-lambda-rust-runtime#1101), and its static library
//! took 2 MB of the binary (0.64 MB of it zipped, x86_64). *ring* reads the kernel's
//! `getrandom`. docs/performance.md has both measurements.

use crate::config::StoreConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::time::Duration;

/// The HTTPS client every SDK client uses; connections are pooled per host.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration, loaded once; every call of every client keeps within
/// `config`'s store timeout.
pub async fn sdk_config(config: &StoreConfig) -> aws_config::SdkConfig {
    let total = Duration::from_millis(config.store_timeout_ms);
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(total.min(Duration::from_secs(1)))
        .operation_attempt_timeout(total / 2)
        .operation_timeout(total)
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}
