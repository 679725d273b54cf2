//! The composition root: configuration → store → state → service, written once and
//! used by every way the binary runs (the local server, Lambda, `invoke`) and by the
//! tests, which build the service through [`compose`] exactly as production does.
//!
//! `main.rs` only parses the command line and picks one of the entry points here.

use crate::api;
use crate::app::{App, build_app};
use crate::auth::{JwtSettings, JwtVerifier};
use crate::config::{AuthConfig, AuthMode, Config, DocumentFormat, TokenUse};
use crate::context::{AppState, Callers, TokenRefresh, TokenSource, WriteToken};
use crate::docs;
use crate::error::error_chain;
use crate::lambda;
use crate::secrets::SecretToken;
use crate::server::{self, ServerSettings};
use crate::store::{DynamoDbStore, SqliteStore, Store};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Any start-up failure, reported by `main` with its whole chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How the service receives its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// Over HTTP, from the local server (or a test).
    Http,
    /// As Lambda events, from the runtime or replayed by `invoke`:
    /// `/api/aws-info` then describes the Lambda environment.
    Lambda,
}

/// Builds the whole service for `config`, once: the AWS SDK when a table or secret is
/// configured, the item store (its connection warmed), the token source, the router.
pub async fn build(config: &Config, serving: Serving) -> Result<App, BoxError> {
    // Options that cannot work are refused before anything is opened or migrated.
    callers(&config.auth, serving)?;
    let needs_aws =
        config.store.items_table.is_some() || config.writes.api_token_secret_arn.is_some();
    let sdk = if needs_aws {
        Some(crate::aws::sdk_config(&config.store).await)
    } else {
        None
    };
    let store = open_store(config, sdk.as_ref())?;
    // Lambda's Init has the full CPU: open the store's connection here, not in the
    // first request. A failure is the first request's to report.
    if let Err(error) = store.warm_up().await {
        tracing::warn!(error = %error_chain(&error), "item store warm-up failed");
    }
    let token: Option<Box<dyn TokenSource>> = match (&config.writes.api_token_secret_arn, &sdk) {
        // Read when a write first needs it: a cold read pays no Secrets Manager call.
        (Some(arn), Some(sdk)) => Some(Box::new(SecretToken::new(sdk, arn))),
        _ => None,
    };
    compose(config, store, token, serving)
}

/// The item store `config` names: the DynamoDB table when one is set, else the SQLite
/// file (or `:memory:`).
pub fn open_store(
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<Arc<dyn Store>, BoxError> {
    let store = &config.store;
    if let Some(table) = &store.items_table {
        let sdk =
            sdk.ok_or("ITEMS_TABLE is set: the DynamoDB store needs the AWS SDK's settings")?;
        tracing::info!(table, "DynamoDB item store");
        let client = aws_sdk_dynamodb::Client::new(sdk);
        let refresh = Duration::from_secs(store.dynamodb_layout_refresh_s);
        return Ok(Arc::new(
            DynamoDbStore::new(client, table).with_layout_refresh(refresh),
        ));
    }
    let sqlite = SqliteStore::open_with(
        &store.database_path,
        store.database_max_bytes,
        Some(store.database_cache_kib),
    )?;
    tracing::info!(path = %store.database_path.display(), "SQLite item store open");
    Ok(Arc::new(sqlite))
}

/// The service over `store`: the state `config` describes (write policy, bearer token
/// or `token` source, the runtime when `serving` Lambda events) behind the router and
/// its layers.
pub fn compose(
    config: &Config,
    store: Arc<dyn Store>,
    token: Option<Box<dyn TokenSource>>,
    serving: Serving,
) -> Result<App, BoxError> {
    let mut state = AppState::new(&config.writes, store);
    state.callers = callers(&config.auth, serving)?;
    if serving == Serving::Lambda {
        state = state.with_runtime(lambda::environment(
            config.lambda.aws_region.clone(),
            config.lambda.aws_execution_env.clone(),
        ));
    }
    if let Some(source) = token {
        state = state.with_deferred_token(source, TokenRefresh::new(&config.writes));
    }
    match &state.callers {
        Callers::SharedToken if config.auth.jwt_issuer.is_some() => tracing::warn!(
            "JWT_ISSUER is set but AUTH_MODE is token: bearer JWTs are not checked, the shared token is"
        ),
        Callers::SharedToken => tracing::info!(auth_mode = "token", "callers: the shared token"),
        Callers::Jwt(_) => tracing::info!(
            auth_mode = "jwt",
            issuer = config.auth.jwt_issuer.as_deref().unwrap_or_default(),
            audience = config.auth.jwt_audience.as_deref().unwrap_or_default(),
            "callers: users with JWTs this service verifies"
        ),
        Callers::Gateway => tracing::info!(
            auth_mode = "gateway",
            "callers: users API Gateway's authorizer verified"
        ),
    }
    match (&state.callers, &state.write_token) {
        (Callers::SharedToken, WriteToken::Open) => tracing::warn!(
            "API_TOKEN is not set: anyone who can reach the server can create, replace and delete items"
        ),
        (Callers::SharedToken, _) | (_, WriteToken::Open) => {}
        (_, _) => tracing::warn!(
            "AUTH_MODE is not token: the shared token (API_TOKEN, API_TOKEN_SECRET_ARN) is not used"
        ),
    }
    Ok(build_app(config, state)?)
}

/// How callers are known, from the `Users` options. `gateway` only where requests come
/// as Lambda events: a local port has no authorizer, and must not trust a client to
/// say who it is.
pub fn callers(config: &AuthConfig, serving: Serving) -> Result<Callers, BoxError> {
    match config.auth_mode {
        AuthMode::Token => Ok(Callers::SharedToken),
        AuthMode::Gateway if serving == Serving::Http => Err(
            "AUTH_MODE=gateway takes the caller from API Gateway's authorizer in the Lambda \
             event, which a local server has none of; use AUTH_MODE=jwt to verify tokens here"
                .into(),
        ),
        AuthMode::Gateway => Ok(Callers::Gateway),
        AuthMode::Jwt => {
            let issuer = config
                .jwt_issuer
                .clone()
                .ok_or("AUTH_MODE=jwt needs JWT_ISSUER (the issuer whose tokens it accepts)")?;
            let audience = config.jwt_audience.clone().ok_or(
                "AUTH_MODE=jwt needs JWT_AUDIENCE (the audience or client id tokens are for)",
            )?;
            let verifier = JwtVerifier::new(JwtSettings {
                issuer,
                audience,
                jwks_url: config.jwt_jwks_url.clone(),
                token_use: match config.jwt_token_use {
                    TokenUse::Access => "access",
                    TokenUse::Id => "id",
                },
                leeway: Duration::from_secs(config.jwt_leeway_s),
                max_bytes: config.jwt_max_bytes,
                max_age: Duration::from_secs(config.jwks_max_age_s),
                refresh_min: Duration::from_secs(config.jwks_refresh_min_s),
                timeout: Duration::from_millis(config.jwks_timeout_ms),
            })?;
            Ok(Callers::Jwt(verifier))
        }
    }
}

/// Serves HTTP on the configured address until the future `shutdown` makes resolves,
/// then lets in-flight requests finish within the shutdown timeout. `shutdown` is
/// called once the port is bound, so a signal during start-up still ends the process
/// as it would any other.
pub async fn serve<F>(config: &Config, shutdown: impl FnOnce() -> F) -> Result<(), BoxError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let app = build(config, Serving::Http).await?;
    let address = SocketAddr::new(config.server.host, config.server.port);
    let listener = tokio::net::TcpListener::bind(address).await?;
    let shutdown = shutdown();
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    tracing::info!(%address, docs = %format!("{url}/docs/"), "listening on {url} (docs: {url}/docs/)");
    let settings = ServerSettings::new(&config.server);
    server::serve(listener, app, settings, shutdown).await?;
    tracing::info!("shut down");
    Ok(())
}

/// Serves the Lambda runtime's invocations until the environment is shut down.
pub async fn run_lambda(config: &Config) -> Result<(), BoxError> {
    let app = build(config, Serving::Lambda).await?;
    tracing::info!("serving Lambda invocations");
    lambda::run(app).await
}

/// Runs one Lambda event (its JSON text) through the service, as Lambda would, and
/// returns the Lambda response.
pub async fn invoke(config: &Config, event: &str) -> Result<serde_json::Value, BoxError> {
    let app = build(config, Serving::Lambda).await?;
    let function = lambda::function_config(config);
    Ok(lambda::invoke(app, event, function).await?)
}

/// Creates the DynamoDB table `ITEMS_TABLE` names, sharded `shards` ways (for
/// emulators and tables made by hand; on AWS the SAM template creates it).
pub async fn create_table(config: &Config, shards: u16) -> Result<String, BoxError> {
    let table = config
        .store
        .items_table
        .as_deref()
        .ok_or("set ITEMS_TABLE to the table to create")?;
    let sdk = crate::aws::sdk_config(&config.store).await;
    DynamoDbStore::create_table(&aws_sdk_dynamodb::Client::new(&sdk), table, shards).await?;
    Ok(table.to_owned())
}

/// Moves the DynamoDB table `ITEMS_TABLE` names to `shards` shards per owner, online.
pub async fn migrate(
    config: &Config,
    shards: u16,
) -> Result<crate::store::dynamodb::migrate::Report, BoxError> {
    let table = config
        .store
        .items_table
        .as_deref()
        .ok_or("set ITEMS_TABLE to the table to migrate")?;
    let sdk = crate::aws::sdk_config(&config.store).await;
    let refresh = Duration::from_secs(config.store.dynamodb_layout_refresh_s);
    let store =
        DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&sdk), table).with_layout_refresh(refresh);
    Ok(crate::store::dynamodb::migrate::migrate(&store, shards, refresh * 2).await?)
}

/// The document the code generates, as the server serves it (`/openapi.yaml` or
/// `/openapi.json` without the per-request `servers`).
pub fn openapi_text(format: DocumentFormat) -> Result<String, BoxError> {
    let document = serde_json::to_value(api::openapi())?;
    Ok(match format {
        DocumentFormat::Json => serde_json::to_string_pretty(&document)? + "\n",
        DocumentFormat::Yaml => docs::to_yaml(&document),
    })
}

/// Compares the generated document with `file` as data (comments, key order and
/// quoting aside): each JSON path that differs, none when they agree.
pub fn openapi_drift(file: &Path) -> Result<Vec<String>, BoxError> {
    let expected = read_document(file)?;
    let generated = serde_json::to_value(api::openapi())?;
    Ok(docs::drift::differences(&expected, &generated))
}

/// Rewrites `file` with the document the code generates (see [`blessed`]).
pub fn openapi_bless(file: &Path) -> Result<(), BoxError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let blessed = blessed(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    write_whole(file, &blessed).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(())
}

/// Writes `text` to `file` at once: beside it first, then renamed over it, so no
/// reader (a test running meanwhile) ever sees half a document.
pub fn write_whole(file: &Path, text: &str) -> std::io::Result<()> {
    let mut partial = file.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, file)
}

/// The document the code generates, written by the emitter the server uses, with
/// `existing`'s leading comment and key order (new keys come last): what `--bless`
/// writes, so `git diff` shows exactly what the code would change.
pub fn blessed(existing: &str) -> Result<String, BoxError> {
    let like: serde_json::Value =
        yaml_serde::from_str(existing).map_err(|e| format!("not YAML: {e}"))?;
    let mut generated = serde_json::to_value(api::openapi())?;
    docs::drift::order_like(&mut generated, &like);
    let header: String = existing
        .lines()
        .take_while(|line| line.starts_with('#') || line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    Ok(header + &docs::to_yaml(&generated))
}

fn read_document(file: &Path) -> Result<serde_json::Value, BoxError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    Ok(yaml_serde::from_str(&text).map_err(|e| format!("{} is not YAML: {e}", file.display()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract is kept in the emitter's form, so a bless shows only real drift.
    #[test]
    fn openapi_yaml_is_what_bless_writes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("openapi.yaml is readable");
        let expected = blessed(&text).expect("openapi.yaml is YAML");
        if let Some((line, (file, bless))) = text
            .lines()
            .zip(expected.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            panic!(
                "openapi.yaml is not in the form `make openapi-bless` writes (its data is \
                 fine if the drift test passes): run it and review `git diff openapi.yaml`.\n\
                 First difference, line {}:\n  the file: {file}\n  blessed:  {bless}",
                line + 1
            );
        }
        assert_eq!(
            text, expected,
            "openapi.yaml ends differently from what bless writes"
        );
        // The file's own key order is kept: a key moved last stays last.
        let moved = text.replacen("openapi: \"3.1.0\"\ninfo:", "info:", 1) + "openapi: \"3.1.0\"\n";
        assert_ne!(moved, text);
        assert_eq!(blessed(&moved).expect("YAML"), moved);
    }

    /// ITEMS_TABLE names DynamoDB: without the SDK's settings that is an error, never
    /// a quiet fall-back to the SQLite file.
    #[test]
    fn a_table_without_the_sdk_is_refused_not_replaced_by_sqlite() {
        let mut config = Config::default();
        config.store.items_table = Some("items".to_owned());
        config.store.database_path = ":memory:".into();
        let error = open_store(&config, None).expect_err("no SDK settings");
        assert!(error.to_string().contains("ITEMS_TABLE is set"), "{error}");
        config.store.items_table = None;
        assert_eq!(
            open_store(&config, None).expect("SQLite").backend(),
            "sqlite"
        );
    }
}
