//! The server's secret key, and secrets sealed with it at rest (data-source passwords).
//!
//! The key is 32 bytes: `VERDICT_SECRET_KEY` (64 hex digits, or base64) when set,
//! otherwise the file `secret-key` in the data directory, created with mode 0600 on first
//! start. Several instances on one PostgreSQL database must be given the same key.
//!
//! A sealed secret is `v1:<key id>:<base64 of nonce ‖ ciphertext>`: ChaCha20-Poly1305
//! with a random 96-bit nonce, the associated data naming what the secret belongs to (a
//! sealed password copied onto another row does not open). The key id (the first 8 hex
//! digits of the key's SHA-256) lets a server with another key say so plainly.

use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::Digest;

/// The environment variable that holds the key.
pub const KEY_ENV: &str = "VERDICT_SECRET_KEY";
/// The key file's name in the data directory.
pub const KEY_FILE: &str = "secret-key";

/// Why a key cannot be had, or a secret cannot be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a secret key ({KEY_ENV} or the `{KEY_FILE}` file) is 32 bytes as 64 hex digits or base64 ({0})")]
    BadKey(String),
    #[error("cannot read or create the secret key file `{0}`: {1}")]
    KeyFile(String, String),
    #[error(
        "the secret was sealed with key {sealed} but this server's key is {ours}; start the server with the key it was stored with ({KEY_ENV} or the `{KEY_FILE}` file)"
    )]
    OtherKey { sealed: String, ours: String },
    #[error("the sealed secret is damaged or belongs to another object")]
    Damaged,
    #[error("the sealed secret has an unknown format")]
    Format,
}

/// A 32-byte key.
#[derive(Clone)]
pub struct SecretKey {
    key: Key,
    id: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

impl SecretKey {
    fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        let id = hex::encode(sha2::Sha256::digest(bytes))
            .get(..8)
            .unwrap_or_default()
            .to_string();
        SecretKey {
            key: Key::from(bytes),
            id,
        }
    }

    /// A key from its text: 64 hex digits, or base64 (standard or URL-safe) of 32 bytes.
    pub fn from_text(text: &str) -> Result<SecretKey, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| SecretError::BadKey(e.to_string()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .map_err(|_| SecretError::BadKey("neither hex nor base64".into()))?
        };
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| SecretError::BadKey(format!("{} bytes", b.len())))?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// A new random key.
    pub fn random() -> SecretKey {
        let mut bytes = [0u8; 32];
        // INVARIANT: the OS random source is there on every platform the server runs on;
        // should it fail, the zero key is replaced by SHA-256 of the time and address,
        // never used as is.
        if getrandom::fill(&mut bytes).is_err() {
            let seed = format!("{:?}{:p}", std::time::SystemTime::now(), &bytes);
            bytes.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes()));
        }
        SecretKey::from_bytes(bytes)
    }

    /// The key of `VERDICT_SECRET_KEY`, if set.
    pub fn from_env() -> Result<Option<SecretKey>, SecretError> {
        match std::env::var(KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => SecretKey::from_text(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// The key in `dir/secret-key`, created (mode 0600) when missing.
    pub fn load_or_create(dir: &Path) -> Result<SecretKey, SecretError> {
        let path = dir.join(KEY_FILE);
        let shown = path.display().to_string();
        let fail = |e: std::io::Error| SecretError::KeyFile(shown.clone(), e.to_string());
        match std::fs::read_to_string(&path) {
            Ok(text) => SecretKey::from_text(&text)
                .map_err(|e| SecretError::KeyFile(shown.clone(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(fail)?;
                let key = SecretKey::random();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                match options.open(&path) {
                    Ok(mut file) => {
                        use std::io::Write;
                        file.write_all(format!("{}\n", hex::encode(key.key)).as_bytes())
                            .map_err(fail)?;
                        file.sync_all().map_err(fail)?;
                        Ok(key)
                    }
                    // Another instance created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        SecretKey::load_or_create(dir)
                    }
                    Err(e) => Err(fail(e)),
                }
            }
            Err(e) => Err(fail(e)),
        }
    }

    /// The key from the environment, else from the key file in `dir`.
    pub fn for_server(dir: &Path) -> Result<SecretKey, SecretError> {
        match SecretKey::from_env()? {
            Some(key) => Ok(key),
            None => SecretKey::load_or_create(dir),
        }
    }

    /// The key's id: the first 8 hex digits of its SHA-256.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plaintext` sealed for the object named by `context`.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; 12];
        if getrandom::fill(&mut nonce).is_err() {
            // See `random`: a unique nonce from the time and a counter instead.
            static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let seed = format!("{:?}{n}", std::time::SystemTime::now());
            let digest = sha2::Sha256::digest(seed.as_bytes());
            nonce.copy_from_slice(digest.get(..12).unwrap_or(&[0u8; 12]));
        }
        let cipher = ChaCha20Poly1305::new(&self.key);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Damaged)?;
        let mut all = nonce.to_vec();
        all.extend(sealed);
        Ok(format!(
            "v1:{}:{}",
            self.id,
            base64::engine::general_purpose::STANDARD.encode(all)
        ))
    }

    /// Opens a secret sealed by [`seal`](Self::seal) for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some("v1"), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretError::Format);
        };
        if id != self.id {
            return Err(SecretError::OtherKey {
                sealed: id.to_string(),
                ours: self.id.clone(),
            });
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| SecretError::Format)?;
        if bytes.len() < 12 + 16 {
            return Err(SecretError::Format);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = ChaCha20Poly1305::new(&self.key)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Damaged)?;
        String::from_utf8(plain).map_err(|_| SecretError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let key = SecretKey::from_text(&"ab".repeat(32)).unwrap();
        let sealed = key.seal("hunter2", "org|ds1").unwrap();
        assert!(sealed.starts_with(&format!("v1:{}:", key.id())));
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            key.seal("hunter2", "org|ds1").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(key.open(&sealed, "org|ds1").unwrap(), "hunter2");
        assert_eq!(key.open(&sealed, "org|ds2"), Err(SecretError::Damaged));
        let other = SecretKey::random();
        assert!(matches!(
            other.open(&sealed, "org|ds1"),
            Err(SecretError::OtherKey { .. })
        ));
        // A forged id with the other key still fails authentication.
        let forged = sealed.replacen(key.id(), other.id(), 1);
        assert_eq!(other.open(&forged, "org|ds1"), Err(SecretError::Damaged));
        for bad in ["", "v1:", "v2:x:y", &format!("v1:{}:!!", key.id())] {
            assert!(key.open(bad, "org|ds1").is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_read_strictly_and_files_created_private() {
        assert!(SecretKey::from_text("short").is_err());
        assert!(SecretKey::from_text(&"zz".repeat(32)).is_err());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(SecretKey::from_text(&b64).is_ok());
        let dir = std::env::temp_dir().join(format!("verdict-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = SecretKey::load_or_create(&dir).unwrap();
        let again = SecretKey::load_or_create(&dir).unwrap();
        assert_eq!(first.id(), again.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
