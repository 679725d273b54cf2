//! Configuration: read once at start-up from the command line and the environment.

use clap::{Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::net::IpAddr;
use std::path::PathBuf;

/// The Items API: a contract-first HTTP API that serves locally and on AWS Lambda.
/// Every option can also be set by the environment variable shown in brackets.
#[derive(Debug, Parser)]
#[command(name = "items-api", version, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub config: Config,
}

/// What the binary does; serving is the default.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API over HTTP (the default).
    Serve,
    /// Run one Lambda event (JSON file, or `-` for stdin) through the service and print
    /// the Lambda response, as `sam local invoke` would but without Docker.
    Invoke {
        /// The event: API Gateway REST (v1), HTTP API (v2), function URL or ALB.
        event: PathBuf,
    },
    /// Create the DynamoDB table ITEMS_TABLE names, with the key schema the store
    /// expects, time to live on `expires_at`, and its layout: --shards partition key
    /// values per owner (for local emulators and tables made by hand; on AWS the SAM
    /// template creates the table: run `migrate` on it).
    CreateTable {
        /// Partition key values per owner that items spread over (1 to 64): creates/s
        /// scale with it, a list page reads every shard (docs/dynamodb.md).
        #[arg(long, default_value_t = DEFAULT_SHARDS,
              value_parser = clap::value_parser!(u16).range(1..=64))]
        shards: u16,
    },
    /// Move the DynamoDB table ITEMS_TABLE names to --shards partition key values per
    /// owner while the service keeps serving it (a table of an earlier release, or one
    /// the SAM template made). It first waits twice DYNAMODB_LAYOUT_REFRESH_S, which must
    /// be at least the running servers' value (theirs is 30 s unless set), so that
    /// every server has read the new layout. Idempotent and resumable; run on a
    /// sharded table it moves what a straggling server wrote to the old place. Needs
    /// Scan and TransactWriteItems besides the service's actions (docs/dynamodb.md).
    Migrate {
        /// Partition key values per owner (1 to 64).
        #[arg(long, default_value_t = DEFAULT_SHARDS,
              value_parser = clap::value_parser!(u16).range(1..=64))]
        shards: u16,
    },
    /// Print the OpenAPI document the code generates, or with --check compare it with
    /// a file (`items-api openapi --check openapi.yaml` lists only real differences),
    /// or with --bless rewrite the file from the code.
    Openapi {
        /// Output format (of the printed document).
        #[arg(long, value_enum, default_value_t = DocumentFormat::Yaml, conflicts_with_all = ["check", "bless"])]
        format: DocumentFormat,
        /// Compare with this file instead of printing: each JSON path that differs.
        #[arg(long, value_name = "FILE", conflicts_with = "bless")]
        check: Option<PathBuf>,
        /// Rewrite this file (`openapi.yaml`) with the document the code generates,
        /// keeping its leading comment and key order, so `git diff` shows the drift as
        /// a patch to review (also the drift test with `OPENAPI_BLESS=1`).
        #[arg(long, value_name = "FILE")]
        bless: Option<PathBuf>,
    },
}

/// Serialization of the printed OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocumentFormat {
    Yaml,
    Json,
}

/// Everything the service reads from its environment, in the groups `--help` shows.
/// Each option's default is written once, in its `#[arg]`; [`Config::default`] reads
/// them from there.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Config {
    #[command(flatten)]
    pub server: ServerConfig,
    #[command(flatten)]
    pub store: StoreConfig,
    #[command(flatten)]
    pub writes: WriteConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub docs: DocsConfig,
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    #[command(flatten)]
    pub lambda: LambdaEnv,
}

/// The HTTP server: address, request limits and timeouts, CORS.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", global = true)]
    pub host: IpAddr,

    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = DEFAULT_PORT, global = true)]
    pub port: u16,

    /// Largest body createItem and replaceItem read, in bytes; larger ones get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES, global = true)]
    pub max_body_bytes: usize,

    /// Longest a client may take to send a request's head (request line and headers),
    /// in milliseconds, counted from when the server waits for it: on a new connection
    /// and between the requests of a keep-alive connection (so it is also the idle
    /// keep-alive timeout). Past it the connection is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT_MS, global = true)]
    pub header_read_timeout_ms: u64,

    /// Longest a client may take to send a whole request body, in milliseconds; past
    /// it the request answers 408.
    #[arg(long, env = "BODY_READ_TIMEOUT_MS", default_value_t = DEFAULT_BODY_READ_TIMEOUT_MS, global = true)]
    pub body_read_timeout_ms: u64,

    /// Threads for blocking work: SQLite writes (they take turns on one connection, so
    /// more threads only wait) and DNS lookups.
    #[arg(long, env = "BLOCKING_THREADS", default_value_t = 8, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub blocking_threads: usize,

    /// On SIGTERM or Ctrl-C: how long in-flight requests may take to finish, in
    /// milliseconds; connections still open then are dropped.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_MS", default_value_t = DEFAULT_SHUTDOWN_TIMEOUT_MS, global = true)]
    pub shutdown_timeout_ms: u64,

    /// Most connections served at once; further clients wait in the listen queue.
    /// Keep it below the process's file-descriptor limit (`ulimit -n`), which start-up
    /// checks.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS, global = true)]
    pub max_connections: usize,

    /// Longest request target (path and query) accepted, in bytes; longer ones get 414.
    #[arg(long, env = "MAX_URI_BYTES", default_value_t = DEFAULT_MAX_URI_BYTES, global = true)]
    pub max_uri_bytes: usize,

    /// Largest total size of the request headers (names, values and separators), in
    /// bytes; larger ones get 431.
    #[arg(long, env = "MAX_HEADER_BYTES", default_value_t = DEFAULT_MAX_HEADER_BYTES, global = true)]
    pub max_header_bytes: usize,

    /// Most request headers accepted; more get 431.
    #[arg(long, env = "MAX_HEADERS", default_value_t = DEFAULT_MAX_HEADERS, global = true)]
    pub max_headers: usize,

    /// Origins allowed by CORS, comma-separated (`https://app.example.com`), or `*` for
    /// any. Unset: no CORS headers, browsers allow same-origin calls only.
    #[arg(long, env = "CORS_ALLOW_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_allow_origins: Vec<String>,
}

/// Where items live: the SQLite file or a DynamoDB table.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Item store")]
pub struct StoreConfig {
    /// SQLite database file, created with its folder on first run (`:memory:` for a
    /// throw-away database).
    #[arg(long, env = "DATABASE_PATH", default_value = DEFAULT_DATABASE_PATH, global = true)]
    pub database_path: PathBuf,

    /// Largest size of the SQLite database, in bytes; past it creates answer 503 and
    /// /api/health reports the store full. Unset: as large as the disk allows.
    #[arg(long, env = "DATABASE_MAX_BYTES", global = true)]
    pub database_max_bytes: Option<u64>,

    /// SQLite's page cache per connection, in KiB (the store keeps five: one writer,
    /// four readers). The kernel caches the file as well, so a page missed here costs
    /// a read from memory, not from disk. SQLite's own default is 2000.
    #[arg(
        long,
        env = "DATABASE_CACHE_KIB",
        default_value_t = 1024,
        global = true
    )]
    pub database_cache_kib: u64,

    /// DynamoDB table of the items. Set: items live in DynamoDB (the SDK's usual
    /// variables choose region, credentials and endpoint, e.g. AWS_ENDPOINT_URL_DYNAMODB
    /// for an emulator). Unset: the SQLite file.
    #[arg(long, env = "ITEMS_TABLE", global = true)]
    pub items_table: Option<String>,

    /// Longest a call to AWS (DynamoDB, Secrets Manager) may take, retries included, in
    /// milliseconds; past it the request answers 503. SQLite calls do not wait on the
    /// network and are not bounded by it.
    #[arg(long, env = "STORE_TIMEOUT_MS", default_value_t = DEFAULT_STORE_TIMEOUT_MS, global = true)]
    pub store_timeout_ms: u64,

    /// How long the service uses the DynamoDB table's layout (its shard count, whether
    /// it is being migrated) before reading it again, in seconds; `items-api migrate`
    /// waits twice this long before it moves anything.
    #[arg(long, env = "DYNAMODB_LAYOUT_REFRESH_S", default_value_t = DEFAULT_LAYOUT_REFRESH_S, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..=3600))]
    pub dynamodb_layout_refresh_s: u64,
}

/// What writes must carry: the bearer token (or the secret that holds it) and the safe-write headers.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Writes")]
pub struct WriteConfig {
    /// Bearer token that writes (POST, PUT, DELETE) must present. Unset: writes are open.
    #[arg(long, env = "API_TOKEN", hide_env_values = true, global = true)]
    pub api_token: Option<String>,

    /// On Lambda: ARN of the AWS Secrets Manager secret that holds the bearer token,
    /// read when a write first needs it, then kept for TOKEN_CACHE_TTL_S (takes the
    /// place of API_TOKEN).
    #[arg(long, env = "API_TOKEN_SECRET_ARN", global = true)]
    pub api_token_secret_arn: Option<String>,

    /// How long the token read from API_TOKEN_SECRET_ARN is used before the secret is
    /// read again, in seconds: a new secret value takes effect within it, and the old
    /// token keeps working until then. While re-reads fail, the token read last keeps
    /// working for up to three times this long; then writes answer 503.
    #[arg(long, env = "TOKEN_CACHE_TTL_S", default_value_t = DEFAULT_TOKEN_CACHE_TTL_S, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..))]
    pub token_cache_ttl_s: u64,

    /// Shortest time between two reads of API_TOKEN_SECRET_ARN that writes with a
    /// non-matching bearer token cause, in seconds. Such a write reads the secret
    /// again before it is refused (the secret may have been rotated), at most this
    /// often, so wrong tokens cannot run up Secrets Manager calls.
    #[arg(long, env = "TOKEN_REFRESH_MIN_S", default_value_t = DEFAULT_TOKEN_REFRESH_MIN_S, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..))]
    pub token_refresh_min_s: u64,

    /// How long an `Idempotency-Key` is remembered, in seconds; a retry within it gets
    /// the first answer again.
    #[arg(long, env = "IDEMPOTENCY_TTL_SECONDS", default_value_t = DEFAULT_IDEMPOTENCY_TTL_SECONDS, global = true)]
    pub idempotency_ttl_seconds: u64,

    /// Refuse creates without an `Idempotency-Key` header (428).
    #[arg(long, env = "REQUIRE_IDEMPOTENCY_KEY", default_value_t = false, global = true, action = clap::ArgAction::Set)]
    pub require_idempotency_key: bool,

    /// Refuse replaces and deletes without an `If-Match` header (428), so no client
    /// overwrites a change it has not seen.
    #[arg(long, env = "REQUIRE_IF_MATCH", default_value_t = false, global = true, action = clap::ArgAction::Set)]
    pub require_if_match: bool,
}

/// Who calls: the shared token, or users with JWTs the service or API Gateway verifies.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Users")]
pub struct AuthConfig {
    /// How callers are known. `token`: writes present the shared token (API_TOKEN or
    /// API_TOKEN_SECRET_ARN), reads are open, and every item has one shared owner.
    /// `jwt`: every items operation presents a bearer JWT the service verifies
    /// (JWT_ISSUER, JWT_AUDIENCE), and each user (`sub`) sees only their own items.
    /// `gateway`: as `jwt`, but API Gateway's Cognito or JWT authorizer verified the
    /// token and the claims come from the Lambda event; refused outside Lambda.
    #[arg(long, env = "AUTH_MODE", value_enum, default_value_t = AuthMode::Token, global = true)]
    pub auth_mode: AuthMode,

    /// The issuer whose tokens `jwt` mode accepts: the exact `iss` claim, and where its
    /// keys are found (`{issuer}/.well-known/openid-configuration`, unless JWT_JWKS_URL
    /// is set). Cognito: `https://cognito-idp.{region}.amazonaws.com/{user pool id}`.
    #[arg(long, env = "JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// The audience `jwt` mode accepts: a token's `aud` must contain it, or, for a
    /// Cognito access token (`token_use` = `access`, no `aud`), its `client_id` must be it.
    #[arg(long, env = "JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,

    /// The issuer's JSON Web Key Set, when it is not the one the discovery document names.
    #[arg(long, env = "JWT_JWKS_URL", global = true)]
    pub jwt_jwks_url: Option<String>,

    /// Which tokens `jwt` mode accepts when they say (`token_use`, as Cognito's do):
    /// access tokens (the default: what an API is meant to receive) or ID tokens.
    #[arg(long, env = "JWT_TOKEN_USE", value_enum, default_value_t = TokenUse::Access, global = true)]
    pub jwt_token_use: TokenUse,

    /// Clock skew allowed when checking `exp` and `nbf`, in seconds.
    #[arg(long, env = "JWT_LEEWAY_S", default_value_t = DEFAULT_JWT_LEEWAY_S, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(0..=300))]
    pub jwt_leeway_s: u64,

    /// The longest bearer JWT accepted, in bytes; a longer one is refused unread.
    #[arg(long, env = "JWT_MAX_BYTES", default_value_t = DEFAULT_JWT_MAX_BYTES, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(256..=65536))]
    pub jwt_max_bytes: usize,

    /// How long the issuer's keys are used before they are read again, in seconds.
    #[arg(long, env = "JWKS_MAX_AGE_S", default_value_t = DEFAULT_JWKS_MAX_AGE_S, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..))]
    pub jwks_max_age_s: u64,

    /// Shortest time between two reads of the issuer's keys that tokens with an unknown
    /// key id cause, in seconds (a rotated key is found; forged key ids cannot run up
    /// requests to the issuer).
    #[arg(long, env = "JWKS_REFRESH_MIN_S", default_value_t = DEFAULT_JWKS_REFRESH_MIN_S, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..))]
    pub jwks_refresh_min_s: u64,

    /// How long one read of the issuer's discovery document or keys may take, in
    /// milliseconds; past it the request answers 503.
    #[arg(long, env = "JWKS_TIMEOUT_MS", default_value_t = DEFAULT_JWKS_TIMEOUT_MS, global = true,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..=60_000))]
    pub jwks_timeout_ms: u64,
}

/// How callers are known (`AUTH_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// The shared token; one owner for every item.
    Token,
    /// Bearer JWTs the service verifies; an owner per user.
    Jwt,
    /// Claims from API Gateway's authorizer, in the Lambda event; an owner per user.
    Gateway,
}

/// Which kind of token `jwt` mode accepts (`JWT_TOKEN_USE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenUse {
    Access,
    Id,
}

/// The documentation pages: the served document's server, Swagger UI and ReDoc.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Documentation")]
pub struct DocsConfig {
    /// The public base URL of the service (`https://api.example.com/v1`). Set: the
    /// served OpenAPI document names exactly this server, whatever Host and
    /// X-Forwarded-Proto a request carries. Set it behind an ALB, a function URL, a CDN
    /// or any cache, where the Host header is the client's to choose.
    #[arg(long, env = "PUBLIC_BASE_URL", global = true)]
    pub public_base_url: Option<String>,

    /// Keep the bearer token a user types into Swagger UI's Authorize dialog in the
    /// browser's localStorage across page loads. Off by default: a token at rest in a
    /// browser outlives the session.
    #[arg(long, env = "SWAGGER_PERSIST_AUTHORIZATION", default_value_t = false, global = true, action = clap::ArgAction::Set)]
    pub swagger_persist_authorization: bool,

    /// ReDoc script for /redoc, loaded by the browser. Default: the pinned public build.
    #[arg(long, env = "REDOC_SCRIPT_URL", default_value = REDOC_CDN_URL, global = true)]
    pub redoc_script_url: String,

    /// Subresource Integrity hash of REDOC_SCRIPT_URL (`sha384-…`); required when the URL
    /// is changed, `none` to load without a check.
    #[arg(long, env = "REDOC_SCRIPT_INTEGRITY", global = true)]
    pub redoc_script_integrity: Option<String>,

    /// Self-hosted ReDoc: a `redoc.standalone.js` file the service reads at start-up and
    /// serves itself at /redoc/redoc.standalone.js, so /redoc needs no CDN.
    #[arg(long, env = "REDOC_BUNDLE_PATH", global = true)]
    pub redoc_bundle_path: Option<PathBuf>,
}

/// Logs and CloudWatch metrics.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Logs and metrics")]
pub struct TelemetryConfig {
    /// Log format: `json` (one object a line, for machines) or `pretty` (for a
    /// terminal). Default: pretty on a terminal, JSON otherwise.
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,

    /// Log filter in `tracing` syntax (`info`, `items_api=debug,tower_http=info`).
    /// Default: Lambda's AWS_LAMBDA_LOG_LEVEL when set, else `info`.
    #[arg(long, env = "LOG_LEVEL", global = true)]
    pub log_level: Option<String>,

    /// The local server's log lines waiting for its writer thread, which writes them
    /// in batches; when that many wait, requests wait for the writer (no line is ever
    /// dropped). 0 writes each line on the request's own thread. On Lambda every line
    /// is written at once (an invocation's lines must be out before it is frozen).
    #[arg(long, env = "LOG_BUFFER_LINES", default_value_t = 1024, global = true)]
    pub log_buffer_lines: usize,

    /// Write CloudWatch Embedded Metric Format lines (per operation, per store call,
    /// cold start) to stdout. Default: on when serving Lambda invocations, off locally.
    #[arg(long, env = "METRICS", global = true, action = clap::ArgAction::Set)]
    pub metrics: Option<bool>,

    /// The CloudWatch namespace of the metrics.
    #[arg(long, env = "METRICS_NAMESPACE", default_value = DEFAULT_METRICS_NAMESPACE, global = true)]
    pub metrics_namespace: String,

    /// The `Service` dimension of the metrics.
    #[arg(long, env = "METRICS_SERVICE", default_value = DEFAULT_METRICS_SERVICE, global = true)]
    pub metrics_service: String,
}

/// What AWS Lambda sets in the function's environment (hidden from --help).
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Lambda")]
pub struct LambdaEnv {
    /// Set by Lambda: the runtime API address; when present the binary serves Lambda
    /// invocations instead of HTTP.
    #[arg(long, env = "AWS_LAMBDA_RUNTIME_API", hide = true, global = true)]
    pub lambda_runtime_api: Option<String>,

    /// Set by Lambda: `JSON` or `Text` (Lambda's advanced logging controls).
    #[arg(long, env = "AWS_LAMBDA_LOG_FORMAT", hide = true, global = true)]
    pub lambda_log_format: Option<String>,

    /// Set by Lambda: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`.
    #[arg(long, env = "AWS_LAMBDA_LOG_LEVEL", hide = true, global = true)]
    pub lambda_log_level: Option<String>,

    /// Set by Lambda: the region, reported by /api/aws-info.
    #[arg(long, env = "AWS_REGION", hide = true, global = true)]
    pub aws_region: Option<String>,

    /// Set by Lambda: `AWS_Lambda_<runtime>`, reported by /api/aws-info.
    #[arg(long, env = "AWS_EXECUTION_ENV", hide = true, global = true)]
    pub aws_execution_env: Option<String>,

    /// Set by Lambda: the function's name (`invoke` reads it as the runtime does).
    #[arg(long, env = "AWS_LAMBDA_FUNCTION_NAME", hide = true, global = true)]
    pub lambda_function_name: Option<String>,

    /// Set by Lambda: the function's version.
    #[arg(long, env = "AWS_LAMBDA_FUNCTION_VERSION", hide = true, global = true)]
    pub lambda_function_version: Option<String>,

    /// Set by Lambda: the function's memory in MB.
    #[arg(
        long,
        env = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        hide = true,
        global = true
    )]
    pub lambda_function_memory_mb: Option<i32>,

    /// Set by Lambda: the CloudWatch Logs group.
    #[arg(long, env = "AWS_LAMBDA_LOG_GROUP_NAME", hide = true, global = true)]
    pub lambda_log_group: Option<String>,

    /// Set by Lambda: the CloudWatch Logs stream.
    #[arg(long, env = "AWS_LAMBDA_LOG_STREAM_NAME", hide = true, global = true)]
    pub lambda_log_stream: Option<String>,
}

impl Config {
    /// Whether the Lambda runtime API is present, so the binary must serve invocations.
    pub fn in_lambda(&self) -> bool {
        self.lambda.lambda_runtime_api.is_some()
    }

    /// Whether to write EMF metric lines: METRICS, else on Lambda only.
    pub fn metrics_enabled(&self) -> bool {
        self.telemetry.metrics.unwrap_or_else(|| self.in_lambda())
    }

    /// The log format: LOG_FORMAT, else Lambda's AWS_LAMBDA_LOG_FORMAT, else by terminal.
    pub fn effective_log_format(&self, stdout_is_terminal: bool) -> LogFormat {
        if let Some(format) = self.telemetry.log_format {
            return format;
        }
        match self.lambda.lambda_log_format.as_deref() {
            Some(f) if f.eq_ignore_ascii_case("text") => LogFormat::Pretty,
            Some(_) => LogFormat::Json,
            None if stdout_is_terminal => LogFormat::Pretty,
            None => LogFormat::Json,
        }
    }

    /// The log filter: LOG_LEVEL, else Lambda's AWS_LAMBDA_LOG_LEVEL (FATAL is `error`), else `info`.
    pub fn effective_log_filter(&self) -> String {
        if let Some(filter) = &self.telemetry.log_level {
            return filter.clone();
        }
        match self
            .lambda
            .lambda_log_level
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("fatal") => "error".to_owned(),
            Some(level @ ("trace" | "debug" | "info" | "warn" | "error")) => level.to_owned(),
            _ => "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The defaults of every option as the `#[arg]` attributes give them, without reading
/// the environment or the command line (for tests and embedding).
impl Default for Config {
    fn default() -> Self {
        defaults()
    }
}

/// Each group on its own, with its `#[arg]` defaults.
macro_rules! default_from_clap {
    ($($group:ty),*) => {$(
        impl Default for $group {
            fn default() -> Self {
                defaults()
            }
        }
    )*};
}
default_from_clap!(
    ServerConfig,
    StoreConfig,
    WriteConfig,
    AuthConfig,
    DocsConfig,
    TelemetryConfig,
    LambdaEnv
);

/// `T` parsed from an empty command line with every `env` source removed: exactly the
/// defaults its `#[arg]` attributes declare.
fn defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("items-api"))
        .mut_args(|arg| arg.env(None::<&'static str>));
    let matches = command
        .try_get_matches_from(["items-api"])
        .expect("every option has a default or is optional");
    T::from_arg_matches(&matches).expect("the defaults are valid values")
}

/// The pinned ReDoc build the browser loads by default (the npm package's file, as served by jsDelivr).
pub const REDOC_CDN_URL: &str =
    "https://cdn.jsdelivr.net/npm/redoc@2.5.4/bundles/redoc.standalone.js";
/// Subresource Integrity hash of [`REDOC_CDN_URL`].
pub const REDOC_CDN_INTEGRITY: &str =
    "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5";

const DEFAULT_PORT: u16 = 8000;
const DEFAULT_METRICS_NAMESPACE: &str = "ItemsApi";
const DEFAULT_METRICS_SERVICE: &str = "items-api";
const DEFAULT_DATABASE_PATH: &str = "items.db";
/// The default of MAX_BODY_BYTES (the contract's 413 names it).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
const DEFAULT_STORE_TIMEOUT_MS: u64 = 3000;
/// Thirty seconds: a migration waits a minute before it moves anything, and each
/// process reads one small item twice a minute at most.
const DEFAULT_LAYOUT_REFRESH_S: u64 = 30;
/// Shards of a new or migrated table (docs/dynamodb.md, "Capacity plan", has the
/// figures this is chosen from).
pub const DEFAULT_SHARDS: u16 = 4;
// Defaults a production operator would pick: nginx's client_header_timeout and
// client_body_timeout are 60 s; this API's requests are small (64 KiB at most), so 10 s
// each leaves slow mobile clients room while freeing a stalled connection quickly.
const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// The default of BODY_READ_TIMEOUT_MS (the contract's 408 names it).
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 10_000;
// Below the 30 s Kubernetes and ECS give between SIGTERM and SIGKILL.
const DEFAULT_SHUTDOWN_TIMEOUT_MS: u64 = 20_000;
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
// The idempotency draft's and Stripe's choice: a day covers any client's retries.
const DEFAULT_IDEMPOTENCY_TTL_SECONDS: u64 = 24 * 60 * 60;
// nginx's large_client_header_buffers: 8 KiB per line; API Gateway allows 10 KiB of headers.
/// The default of MAX_URI_BYTES (the contract's 414 names it).
pub const DEFAULT_MAX_URI_BYTES: usize = 8 * 1024;
/// The default of MAX_HEADER_BYTES (the contract's 431 names it).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// The default of MAX_HEADERS (the contract's 431 names it).
pub const DEFAULT_MAX_HEADERS: usize = 64;
// The default of AWS's Parameters and Secrets Lambda extension (SECRETS_MANAGER_TTL,
// https://docs.aws.amazon.com/lambda/latest/dg/with-secrets-manager.html): a rotation
// reaches every execution environment within 5 minutes, for one GetSecretValue per
// environment per 5 minutes of writes.
const DEFAULT_TOKEN_CACHE_TTL_S: u64 = 300;
// A flood of wrong tokens costs each environment at most one extra GetSecretValue per
// 30 s: 2,880 a day ($0.015 at $0.05 per 10,000 calls), and 1,000 environments under
// attack make 33 a second against the 10,000 a second GetSecretValue quota
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html).
// A client handed a freshly rotated token is refused for at most 30 s by an environment
// the rotation has not reached yet.
const DEFAULT_TOKEN_REFRESH_MIN_S: u64 = 30;
/// Thirty seconds of clock skew: hosts synced by NTP (Lambda's are) differ by far less.
const DEFAULT_JWT_LEEWAY_S: u64 = 30;
/// 8 KiB: Cognito's tokens are 1 to 2 KiB, a few KiB with many groups.
const DEFAULT_JWT_MAX_BYTES: usize = 8 * 1024;
/// An hour: issuers publish a new key well before they sign with it (Cognito rotates
/// rarely), and an unknown key id reads the keys again anyway.
const DEFAULT_JWKS_MAX_AGE_S: u64 = 3600;
/// One read a minute at most for tokens with unknown key ids.
const DEFAULT_JWKS_REFRESH_MIN_S: u64 = 60;
/// Three seconds for the issuer to answer, within API Gateway's 29-second limit.
const DEFAULT_JWKS_TIMEOUT_MS: u64 = 3000;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn lambda_logging_controls_apply_unless_overridden() {
        let mut lambda = Config::default();
        lambda.lambda.lambda_log_format = Some("Text".to_owned());
        lambda.lambda.lambda_log_level = Some("FATAL".to_owned());
        assert_eq!(lambda.effective_log_format(false), LogFormat::Pretty);
        assert_eq!(lambda.effective_log_filter(), "error");
        let mut json = Config::default();
        json.lambda.lambda_log_format = Some("JSON".to_owned());
        json.lambda.lambda_log_level = Some("DEBUG".to_owned());
        assert_eq!(json.effective_log_format(true), LogFormat::Json);
        assert_eq!(json.effective_log_filter(), "debug");
        let mut explicit = lambda;
        explicit.telemetry.log_format = Some(LogFormat::Json);
        explicit.telemetry.log_level = Some("warn".to_owned());
        assert_eq!(explicit.effective_log_format(true), LogFormat::Json);
        assert_eq!(explicit.effective_log_filter(), "warn");
        assert_eq!(Config::default().effective_log_filter(), "info");
    }

    #[test]
    fn defaults_are_the_arg_attributes_and_read_no_environment() {
        let config = Config::default();
        assert_eq!(config.server.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(config.server.port, DEFAULT_PORT);
        assert_eq!(config.server.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(config.server.blocking_threads, 8);
        assert_eq!(
            config.store.database_path,
            PathBuf::from(DEFAULT_DATABASE_PATH)
        );
        assert_eq!(config.store.database_cache_kib, 1024);
        assert_eq!(config.writes.token_cache_ttl_s, DEFAULT_TOKEN_CACHE_TTL_S);
        assert_eq!(config.docs.redoc_script_url, REDOC_CDN_URL);
        assert_eq!(
            config.telemetry.metrics_namespace,
            DEFAULT_METRICS_NAMESPACE
        );
        assert_eq!(config.telemetry.log_buffer_lines, 1024);
        assert_eq!(config.lambda, LambdaEnv::default());
        // This test process runs with PATH and HOME set, never with
        // AWS_LAMBDA_RUNTIME_API: a default read from the environment would differ here.
        assert_eq!(config.lambda.lambda_runtime_api, None);
        assert!(!config.in_lambda());
        // Each group's own default is the same as the whole's.
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.store, StoreConfig::default());
        assert_eq!(config.writes, WriteConfig::default());
        assert_eq!(config.docs, DocsConfig::default());
        assert_eq!(config.telemetry, TelemetryConfig::default());
    }

    #[test]
    fn token_refresh_defaults_are_the_clis_and_zero_is_refused() {
        let cli = Cli::parse_from(["items-api"]);
        assert_eq!(
            cli.config.writes.token_cache_ttl_s,
            Config::default().writes.token_cache_ttl_s
        );
        assert_eq!(
            cli.config.writes.token_refresh_min_s,
            Config::default().writes.token_refresh_min_s
        );
        // 0 would read the secret on every write, or on every wrong token.
        for flag in ["--token-cache-ttl-s", "--token-refresh-min-s"] {
            assert!(
                Cli::try_parse_from(["items-api", flag, "0"]).is_err(),
                "{flag}"
            );
        }
    }

    #[test]
    fn cors_origins_split_on_commas() {
        let cli = Cli::parse_from([
            "items-api",
            "--cors-allow-origins",
            "https://a.example,https://b.example",
        ]);
        assert_eq!(
            cli.config.server.cors_allow_origins,
            ["https://a.example", "https://b.example"]
        );
    }
}
