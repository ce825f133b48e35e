//! Registry operations: repository metadata and permissions.

use crate::names::validate_repository;
use crate::{ContainerRegistryClient, Error, PropertiesUpdate, RepositoryProperties, Result};

impl ContainerRegistryClient {
    /// The metadata and permissions of `repository`; [`Error::NotFound`] when it does not
    /// exist.
    pub async fn get_repository_properties(
        &self,
        repository: &str,
    ) -> Result<RepositoryProperties> {
        validate_repository(repository)?;
        let operation = self
            .pipeline
            .operation("get_repository_properties", Some(repository));
        let response = operation
            .run(|client| async move {
                client
                    .get_repository_properties()
                    .name(repository)
                    .api_version(acr_rest::API_VERSION)
                    .send()
                    .await
            })
            .await?;
        Ok(response.into_inner().into())
    }

    /// Changes the permissions of `repository` set in `update`, and returns its new
    /// properties.
    pub async fn update_repository_properties(
        &self,
        repository: &str,
        update: &PropertiesUpdate,
    ) -> Result<RepositoryProperties> {
        validate_repository(repository)?;
        let body = update.to_repository_wire();
        let operation = self
            .pipeline
            .operation("update_repository_properties", Some(repository));
        let response = operation
            .run(|client| async move {
                client
                    .update_repository_properties()
                    .name(repository)
                    .api_version(acr_rest::API_VERSION)
                    .body(body)
                    .send()
                    .await
            })
            .await?;
        Ok(response.into_inner().into())
    }

    /// Deletes `repository` with all its manifests and tags. A repository that does not
    /// exist is already deleted: that is success.
    pub async fn delete_repository(&self, repository: &str) -> Result<()> {
        validate_repository(repository)?;
        let operation = self
            .pipeline
            .operation("delete_repository", Some(repository));
        let outcome = operation
            .run(|client| async move {
                client
                    .delete_repository()
                    .name(repository)
                    .api_version(acr_rest::API_VERSION)
                    .send()
                    .await
            })
            .await;
        match outcome {
            Ok(_) | Err(Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }
}
