//! An in-memory [`SecretStore`] for tests.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Backend, SecretStore, StoreError};
use crate::secret::Secret;

#[derive(Debug, Default)]
pub struct MemoryStore {
    secrets: Mutex<HashMap<String, Secret>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn secrets(&self) -> std::sync::MutexGuard<'_, HashMap<String, Secret>> {
        // A panic while holding this lock cannot leave the map half-updated.
        self.secrets.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SecretStore for MemoryStore {
    fn backend(&self) -> Backend {
        Backend::Memory
    }

    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self.secrets().get(key).cloned())
    }

    fn set(&self, key: &str, secret: &Secret) -> Result<(), StoreError> {
        self.secrets().insert(key.to_owned(), secret.clone());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.secrets().remove(key);
        Ok(())
    }
}
