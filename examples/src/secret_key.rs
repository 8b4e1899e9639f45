//! The platform key secrets are encrypted under at rest (see `caas_core::secrets`): its file,
//! opening the store with it, and the `rotate-secret-key` subcommand.
//!
//! The key file holds 32 random bytes as 64 hexadecimal digits (base64 is read too). Without
//! `--secret-key-file` (`CAAS_SECRET_KEY_FILE`) it is `secret.key` in the data directory,
//! created with mode 0600 on first start; a file the operator names must exist. A key file
//! that group or others may read or write is refused, and so is a key that does not open the
//! store's secrets: the server never starts writing values nobody could read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use caas_core::Store;
use caas_core::secrets::SecretKey;

/// The default key file's name in the data directory.
pub(crate) const DEFAULT_KEY_FILE: &str = "secret.key";

/// Where the key is, and whether the operator named it.
#[derive(Debug, Clone)]
pub(crate) struct KeyFile {
    pub(crate) path: PathBuf,
    /// Named by `--secret-key-file`: it must exist, and rotation leaves it alone.
    pub(crate) given: bool,
}

impl KeyFile {
    /// `--secret-key-file` when given, else `secret.key` in `data_dir`.
    pub(crate) fn new(given: Option<&Path>, data_dir: &Path) -> Self {
        match given {
            Some(path) => Self {
                path: path.to_path_buf(),
                given: true,
            },
            None => Self {
                path: data_dir.join(DEFAULT_KEY_FILE),
                given: false,
            },
        }
    }

    /// The key, creating the default file (mode 0600, a fresh random key) when it is missing.
    /// Returns whether it was created. Errors: a missing file the operator named, a file
    /// others may read, a file that holds no key, I/O.
    pub(crate) fn load_or_create(&self) -> anyhow::Result<(SecretKey, bool)> {
        if !self.given && !self.path.exists() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the directory {}", dir.display()))?;
            }
            let key = SecretKey::generate();
            write_new_key_file(&self.path, &key)?;
            return Ok((key, true));
        }
        Ok((read_key_file(&self.path)?, false))
    }
}

/// Reads a key file. Errors: missing, not a regular file, readable or writable by group or
/// others, or not holding a key — each naming the file and what to do.
pub(crate) fn read_key_file(path: &Path) -> anyhow::Result<SecretKey> {
    let meta = std::fs::metadata(path).with_context(|| {
        format!(
            "reading the secret key file {} (create one with `openssl rand -hex 32 > {0}; chmod 600 {0}`, \
             or leave --secret-key-file unset to use {DEFAULT_KEY_FILE} in the data directory)",
            path.display()
        )
    })?;
    if !meta.is_file() {
        bail!(
            "the secret key file {} is not a regular file",
            path.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "the secret key file {} may be read or written by group or others (mode {mode:03o}); \
                 refusing to use it: make it private with `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the secret key file {}", path.display()))?,
    );
    SecretKey::parse(&text)
        .with_context(|| format!("the secret key file {} holds no key", path.display()))
}

/// Writes `key` to a new file with mode 0600 (never replacing one). Errors: the file exists,
/// I/O.
pub(crate) fn write_new_key_file(path: &Path, key: &SecretKey) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating the secret key file {}", path.display()))?;
    writeln!(file, "{}", key.to_hex().as_str())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing the secret key file {}", path.display()))?;
    sync_dir(path);
    Ok(())
}

/// Replaces the file at `path` with `key`, atomically: a temporary file (mode 0600) in the
/// same directory renamed over it, so a crash leaves the old key or the new one.
fn replace_key_file(path: &Path, key: &SecretKey) -> anyhow::Result<()> {
    let temp = path.with_extension(format!("new-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    write_new_key_file(&temp, key)?;
    std::fs::rename(&temp, path)
        .with_context(|| format!("replacing the secret key file {}", path.display()))?;
    sync_dir(path);
    Ok(())
}

/// Makes a file's creation or rename durable (best effort: not every file system allows it).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// A SQL store, before it is handed to the platform as `Arc<dyn Store>`.
pub(crate) enum SqlStore {
    /// The embedded default.
    Sqlite(caas_sqlite::SqliteStore),
    /// With `DATABASE_URL`.
    Postgres(caas_postgres::PgStore),
}

impl SqlStore {
    async fn with_secret_key(self, key: SecretKey) -> caas_core::Result<Self> {
        Ok(match self {
            Self::Sqlite(s) => Self::Sqlite(s.with_secret_key(key).await?),
            Self::Postgres(s) => Self::Postgres(s.with_secret_key(key).await?),
        })
    }

    async fn rotate_secret_key(&self, key: SecretKey) -> caas_core::Result<u64> {
        match self {
            Self::Sqlite(s) => s.rotate_secret_key(key).await,
            Self::Postgres(s) => s.rotate_secret_key(key).await,
        }
    }

    fn into_dyn(self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => Arc::new(s),
            Self::Postgres(s) => Arc::new(s),
        }
    }
}

/// Opens `store` with `key`, read from `file`. Errors name the key file.
async fn unlock(store: SqlStore, file: &Path, key: SecretKey) -> anyhow::Result<SqlStore> {
    store.with_secret_key(key).await.map_err(|e| {
        if let caas_core::Error::InvalidInput { field, reason } = &e
            && field == "secret_key"
        {
            anyhow::anyhow!(
                "the secret key in {} cannot be used with this store: {reason}",
                file.display()
            )
        } else {
            anyhow::Error::new(e).context(format!(
                "opening the store's secrets with the key in {}",
                file.display()
            ))
        }
    })
}

/// The store, its secrets sealed under the key of `file` (created on first start).
pub(crate) async fn open_sealed(store: SqlStore, file: &KeyFile) -> anyhow::Result<Arc<dyn Store>> {
    let (key, created) = file.load_or_create()?;
    let id = key.id().to_string();
    match unlock(store, &file.path, key).await {
        Ok(store) => {
            if created {
                tracing::info!(file = %file.path.display(), key = %id, "created the secret key file: back it up, secrets cannot be read without it");
            } else {
                tracing::info!(file = %file.path.display(), key = %id, "secrets are encrypted at rest");
            }
            Ok(store.into_dyn())
        }
        Err(e) if created => {
            // A key made just now cannot be the one the store's secrets are sealed under: do
            // not leave it where the right one belongs.
            let _ = std::fs::remove_file(&file.path);
            Err(e.context(format!(
                "{} did not exist, so a new key was generated; restore the key file this \
                 store's secrets were sealed with",
                file.path.display()
            )))
        }
        Err(e) => Err(e),
    }
}

/// `caas-server rotate-secret-key --new-key-file <path>`: re-encrypts every secret of the
/// store under the key of `new_file` (a fresh one is written there when it is missing), in
/// one transaction. The default key file is then replaced by the new key; a key file the
/// operator named is left alone, and the new file must be given from then on.
pub(crate) async fn rotate(
    current: &KeyFile,
    new_file: &Path,
    open: impl AsyncFnOnce() -> anyhow::Result<SqlStore>,
) -> anyhow::Result<()> {
    if !current.path.exists() {
        bail!(
            "there is no secret key file at {} to rotate from",
            current.path.display()
        );
    }
    let (old, _) = current.load_or_create()?;
    if new_file.exists() && read_key_file(new_file)?.id() == old.id() {
        bail!(
            "{} holds the key already in use ({})",
            new_file.display(),
            current.path.display()
        );
    }
    let old_id = old.id().to_string();
    // The store opens with the current key before a new key file is written.
    let store = unlock(open().await?, &current.path, old).await?;
    let new = if new_file.exists() {
        read_key_file(new_file)?
    } else {
        let key = SecretKey::generate();
        write_new_key_file(new_file, &key)?;
        println!(
            "Wrote a new secret key (id {}) to {}",
            key.id(),
            new_file.display()
        );
        key
    };
    let new_id = new.id().to_string();
    let resealed = store
        .rotate_secret_key(new.clone())
        .await
        .context("re-encrypting the secrets under the new key (nothing was changed)")?;
    println!("Re-encrypted {resealed} secret values under the key {new_id} (was {old_id}).");
    if current.given {
        println!(
            "Start the server with --secret-key-file {} (or CAAS_SECRET_KEY_FILE) from now on; \
             {} no longer opens the store.",
            new_file.display(),
            current.path.display()
        );
    } else {
        replace_key_file(&current.path, &new).with_context(|| {
            format!(
                "the store now uses the key in {}, but installing it as {} failed: copy it \
                 there (mode 0600) or start with --secret-key-file {0}",
                new_file.display(),
                current.path.display()
            )
        })?;
        println!(
            "{} now holds the new key; {} may be deleted.",
            current.path.display(),
            new_file.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::new(None, &dir.path().join("data"));
        assert_eq!(file.path, dir.path().join("data").join("secret.key"));
        let (key, created) = file.load_or_create().unwrap();
        assert!(created);
        let text = std::fs::read_to_string(&file.path).unwrap();
        assert_eq!(text.trim().len(), 64, "hex");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = file.load_or_create().unwrap();
        assert!(!created);
        assert_eq!(again.id(), key.id());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused_and_a_named_file_must_exist() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_new_key_file(&path, &SecretKey::generate()).unwrap();
        for mode in [0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = format!("{:#}", read_key_file(&path).unwrap_err());
            assert!(
                e.contains(path.to_str().unwrap()) && e.contains("chmod 600"),
                "{e}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        read_key_file(&path).unwrap();

        let missing = KeyFile::new(Some(&dir.path().join("missing")), dir.path());
        let e = format!("{:#}", missing.load_or_create().unwrap_err());
        assert!(e.contains("missing"), "{e}");
        assert!(
            !dir.path().join("missing").exists(),
            "a named file is never created"
        );

        std::fs::write(dir.path().join("junk"), "not a key").unwrap();
        std::fs::set_permissions(
            dir.path().join("junk"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let e = format!("{:#}", read_key_file(&dir.path().join("junk")).unwrap_err());
        assert!(
            e.contains("holds no key") && !e.contains("not a key"),
            "{e}"
        );
    }

    #[test]
    fn a_key_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        write_new_key_file(&path, &SecretKey::generate()).unwrap();
        assert!(
            write_new_key_file(&path, &SecretKey::generate()).is_err(),
            "never overwritten"
        );
        let new = SecretKey::generate();
        replace_key_file(&path, &new).unwrap();
        assert_eq!(read_key_file(&path).unwrap().id(), new.id());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
    }
}
