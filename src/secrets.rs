//! The bearer token from AWS Secrets Manager, read when a write first needs it (a cold
//! read never waits for it) and again when `context::DeferredToken` says: after
//! TOKEN_CACHE_TTL_S, or early on a token that does not match.

use crate::context::TokenSource;
use aws_sdk_secretsmanager::Client;

/// Why the token could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret {arn} from AWS Secrets Manager")]
    Read {
        arn: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("secret {arn} holds no text (a SecretString is required)")]
    NotText { arn: String },
    #[error("secret {arn} is empty")]
    Empty { arn: String },
}

/// The token in one secret; the client is built at start-up (no I/O), the secret read
/// on first use and on each refresh.
#[derive(Debug)]
pub struct SecretToken {
    client: Client,
    arn: String,
}

impl SecretToken {
    /// The token in secret `arn`, read with `sdk`'s settings.
    pub fn new(sdk: &aws_config::SdkConfig, arn: &str) -> Self {
        Self {
            client: Client::new(sdk),
            arn: arn.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl TokenSource for SecretToken {
    async fn read(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let token = read_token(&self.client, &self.arn).await?;
        tracing::info!("bearer token read from AWS Secrets Manager");
        Ok(token)
    }
}

/// Reads the text of the secret's AWSCURRENT version (no stage named), so a new value
/// takes effect once PutSecretValue, or a rotation's last step, labels it AWSCURRENT.
/// The secret the SAM template generates is the token itself; surrounding whitespace is
/// dropped.
async fn read_token(client: &Client, arn: &str) -> Result<String, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            arn: arn.to_owned(),
            source: aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                .to_string()
                .into(),
        })?;
    let text = output.secret_string().ok_or_else(|| SecretError::NotText {
        arn: arn.to_owned(),
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(SecretError::Empty {
            arn: arn.to_owned(),
        });
    }
    Ok(token.to_owned())
}
