use gatehouse_domain::SshKeyId;
use gatehouse_store::SshKeyRecord;

use crate::{Access, AccessError, Principal, Result, fingerprint};

/// The most keys one person may register.
const MAX_KEYS: usize = 50;

impl Access {
    /// Registers a public key for `who`'s native SSH logins. `public_key` is
    /// already normalised OpenSSH format (the front end parsed it); `name`
    /// is their label for it.
    pub async fn add_ssh_key(
        &self,
        who: &Principal,
        name: &str,
        public_key: &str,
    ) -> Result<SshKeyRecord> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(AccessError::Invalid(
                "key name must be 1–64 printable characters".into(),
            ));
        }
        let fingerprint = fingerprint(public_key)
            .ok_or_else(|| AccessError::Invalid("not an OpenSSH public key".into()))?;
        if self.store.ssh_keys_of(who.user_id).await?.len() >= MAX_KEYS {
            return Err(AccessError::Invalid(format!(
                "at most {MAX_KEYS} keys per user"
            )));
        }
        Ok(self
            .store
            .add_ssh_key(who.user_id, name, public_key, &fingerprint)
            .await?)
    }

    /// `who`'s registered keys.
    pub async fn ssh_keys(&self, who: &Principal) -> Result<Vec<SshKeyRecord>> {
        Ok(self.store.ssh_keys_of(who.user_id).await?)
    }

    /// Removes one of `who`'s keys; `NotFound` if it is not theirs.
    pub async fn remove_ssh_key(&self, who: &Principal, id: SshKeyId) -> Result<()> {
        if self.store.delete_ssh_key(who.user_id, id).await? {
            Ok(())
        } else {
            Err(AccessError::NotFound(format!("key {id}")))
        }
    }
}
