//! The bearer token from AWS Secrets Manager, read once per cold start.

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

/// Reads the secret's text. The secret the SAM template generates is the token itself;
/// surrounding whitespace is dropped.
pub async fn read_token(sdk: &aws_config::SdkConfig, arn: &str) -> Result<String, SecretError> {
    let output = Client::new(sdk)
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
