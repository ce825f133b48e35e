//! The bridge to `azure_core` credentials.

use std::sync::Arc;
use std::time::SystemTime;

use crate::{AccessToken, Error, Result, Secret, TokenCredential};

/// An `azure_core` credential seen as this crate's [`TokenCredential`].
#[derive(Debug)]
pub(crate) struct AzureCredential(pub(crate) Arc<dyn azure_core::credentials::TokenCredential>);

#[async_trait::async_trait]
impl TokenCredential for AzureCredential {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken> {
        let token = self.0.get_token(scopes, None).await.map_err(|error| {
            // azure_core's messages describe the identity source, never the token.
            Error::authentication(format!("Azure AD credential failed: {error}"))
        })?;
        let expires_on = SystemTime::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(
                u64::try_from(token.expires_on.unix_timestamp()).unwrap_or(0),
            ))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(AccessToken {
            token: Secret::new(token.token.secret()),
            expires_on,
        })
    }
}
