//! Secrets at rest: the platform key, and the sealing of the secret values a store keeps.
//!
//! The SQL stores seal secrets as they write them and open them as they read them, so
//! [`Platform`](crate::Platform) code only ever sees plaintext and a dump of the database, a
//! backup of its file or a replica holds none. A store opened without a key keeps plaintext
//! (and refuses to hand out a sealed value it cannot open).
//!
//! # What is sealed
//!
//! | where | what |
//! |---|---|
//! | service and deployment specs ([`SecretDoc::ServiceSpec`]) | `env[*].value` of every variable with `secret: true`: generated database passwords, secret values of templates, anything a caller marks secret |
//! | template-instance outputs ([`SecretDoc::InstanceOutputs`]) | `[*].value` of every output with `secret: true` (the platform stores those redacted already; an embedder's own may not be) |
//! | platform settings ([`SecretDoc::Setting`], [`SECRET_SETTINGS`]) | `alerts.<org>`: the webhook's signing secret at `/webhook/secret` |
//!
//! API tokens, invitation tokens and passwords are never stored at all (only their hashes);
//! the runtime setting names certificate files, it holds no key material; domain verification
//! tokens are public by design (they are published in DNS or served over HTTP).
//!
//! # Format
//!
//! A sealed value replaces the plaintext string in its JSON document, so the document keeps its
//! shape (and the columns their JSON checks):
//!
//! ```text
//! caas:enc:v1:<base64url, no padding, of nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)>
//! ```
//!
//! `v1` is XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) under the 32-byte platform
//! key, with a fresh random 192-bit nonce per value (random nonces of that size never collide
//! in practice) and, as associated data, where the value belongs: `caas:v1:` followed by the
//! organization and variable (`org/<id>/env/<KEY>`), output (`org/<id>/output/<name>`) or
//! setting field (`setting/<key><pointer>`). A sealed value copied into another
//! organization's row, another variable or another setting does not open. A plaintext value
//! that happens to start with the prefix is still sealed when written (the model's values are
//! always plaintext); only rows left by a store without a key are told apart by the prefix.
//!
//! # The key check
//!
//! A store keeps a key check: the [`KEY_CHECK`] text sealed under its key, and the key's
//! [id](SecretKey::id) (a fingerprint that does not reveal the key). The first store opened
//! with a key writes it; every later one must open it, or start-up fails with
//! [`wrong_key`]'s error instead of writing values no one can read.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::model::{InstanceOutput, ServiceSpec};

/// What every sealed value starts with (format version 1: XChaCha20-Poly1305).
pub const SEALED_PREFIX: &str = "caas:enc:v1:";
/// Length of a platform key in bytes.
pub const KEY_LEN: usize = 32;
/// The text a store's key check seals.
pub const KEY_CHECK: &str = "caas secret key check v1";
/// Settings that hold secrets: a key prefix, and the JSON pointers of the secret strings in
/// the settings whose key starts with it.
pub const SECRET_SETTINGS: &[(&str, &[&str])] = &[("alerts.", &["/webhook/secret"])];

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_CHECK_CONTEXT: &str = "key-check";
const SERVICE: &str = "secrets";

/// The platform key secrets are sealed under: 32 random bytes. Its `Debug` shows only its
/// [id](Self::id); its bytes are wiped from memory when it is dropped.
#[derive(Clone)]
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
    bytes: Zeroizing<[u8; KEY_LEN]>,
    id: String,
}

impl SecretKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Self {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&key);
        Self::from_bytes(*bytes)
    }

    /// The key made of these bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let mut digest = Sha256::new();
        digest.update(b"caas secret key id v1\0");
        digest.update(bytes.as_slice());
        let id = hex::encode(&digest.finalize()[..8]);
        Self {
            cipher: XChaCha20Poly1305::new(bytes.as_slice().into()),
            bytes,
            id,
        }
    }

    /// Reads a key written as text (what a key file holds): 64 hexadecimal digits, or the
    /// base64 (standard or URL-safe, padded or not) of 32 bytes; surrounding whitespace is
    /// ignored. Errors: `InvalidInput` on `secret_key` (never quoting the text).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let decoded: Option<Zeroizing<Vec<u8>>> =
            if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(text).ok().map(Zeroizing::new)
            } else {
                [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                    .iter()
                    .find_map(|engine| engine.decode(text).ok())
                    .map(Zeroizing::new)
            };
        match decoded {
            Some(bytes) if bytes.len() == KEY_LEN => {
                let mut key = [0u8; KEY_LEN];
                key.copy_from_slice(&bytes);
                let parsed = Self::from_bytes(key);
                // `from_bytes` took a copy; wipe this one.
                zeroize::Zeroize::zeroize(&mut key);
                Ok(parsed)
            }
            Some(bytes) => Err(Error::invalid(
                "secret_key",
                format!(
                    "a key is {KEY_LEN} bytes; this text decodes to {}",
                    bytes.len()
                ),
            )),
            None => Err(Error::invalid(
                "secret_key",
                format!(
                    "expected {KEY_LEN} bytes written as {} hexadecimal digits or in base64",
                    2 * KEY_LEN
                ),
            )),
        }
    }

    /// The key as text, 64 lowercase hexadecimal digits (what a key file holds).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_slice()))
    }

    /// A fingerprint naming the key in messages and in the store's key check: 16 hexadecimal
    /// digits of a SHA-256 of the key (it does not help anyone find the key).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` for the place `context` names (see the module docs): a fresh random
    /// nonce, XChaCha20-Poly1305, the [`SEALED_PREFIX`] format. Errors: `Backend` (a value
    /// too large for the cipher, beyond 256 GiB).
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(context);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::backend(SERVICE, format!("cannot seal a value of {context}")))?;
        let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
    }

    /// Opens a value [`seal`](Self::seal)ed for `context`. Errors: `Backend` when the value is
    /// not in the sealed format, was sealed under another key or for another place, or was
    /// altered (the message names the place, never the value).
    pub fn open(&self, sealed: &str, context: &str) -> Result<String> {
        let unreadable = |why: &str| {
            Error::backend(
                SERVICE,
                format!("cannot open the sealed value of {context}: {why}"),
            )
        };
        let body = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or_else(|| unreadable("not a sealed value"))?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| unreadable("not base64"))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(unreadable("too short"));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let aad = associated_data(context);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| unreadable("sealed under another key, for another place, or altered"))?;
        String::from_utf8(plain).map_err(|_| unreadable("not UTF-8"))
    }

    /// The key check a store keeps: [`KEY_CHECK`] sealed under this key. Errors: as
    /// [`seal`](Self::seal).
    pub fn key_check(&self) -> Result<String> {
        self.seal(KEY_CHECK, KEY_CHECK_CONTEXT)
    }

    /// Whether this key opens a store's key check.
    pub fn opens_key_check(&self, check: &str) -> bool {
        self.open(check, KEY_CHECK_CONTEXT)
            .is_ok_and(|text| text == KEY_CHECK)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish()
    }
}

fn associated_data(context: &str) -> String {
    format!("caas:v1:{context}")
}

/// Whether a stored string is a sealed value (starts with [`SEALED_PREFIX`]).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// The error of a store opened with a key that does not open its key check; the same words
/// for every store. `InvalidInput` on `secret_key`.
pub fn wrong_key(stored_key_id: &str, key: &SecretKey) -> Error {
    Error::invalid(
        "secret_key",
        format!(
            "this key (id {}) does not open the store's secrets, which are sealed under the key \
             with id {stored_key_id}: give the key they were sealed with (after an interrupted \
             rotation, the new key)",
            key.id()
        ),
    )
}

/// The JSON pointers of the secret strings of the setting `key` (empty for most settings).
pub fn secret_pointers(key: &str) -> &'static [&'static str] {
    SECRET_SETTINGS
        .iter()
        .find(|(prefix, _)| key.starts_with(prefix))
        .map_or(&[], |(_, pointers)| pointers)
}

/// A stored JSON document that may hold secrets, and whose it is (the place each secret is
/// bound to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretDoc<'a> {
    /// A service's or deployment's spec ([`ServiceSpec`]) of this organization.
    ServiceSpec(OrgId),
    /// A template instance's outputs (`[InstanceOutput]`) of this organization.
    InstanceOutputs(OrgId),
    /// The platform setting with this key.
    Setting(&'a str),
}

/// Calls `f` with the place and the string of every secret value of `doc` in `value`.
fn each_secret(
    doc: SecretDoc<'_>,
    value: &mut Value,
    mut f: impl FnMut(&str, &mut String) -> Result<()>,
) -> Result<()> {
    match doc {
        SecretDoc::ServiceSpec(org) => {
            let Some(env) = value.get_mut("env").and_then(Value::as_array_mut) else {
                return Ok(());
            };
            for var in env {
                secret_entry(var, "key", |name, s| f(&format!("org/{org}/env/{name}"), s))?;
            }
        }
        SecretDoc::InstanceOutputs(org) => {
            let Some(outputs) = value.as_array_mut() else {
                return Ok(());
            };
            for output in outputs {
                secret_entry(output, "name", |name, s| {
                    f(&format!("org/{org}/output/{name}"), s)
                })?;
            }
        }
        SecretDoc::Setting(key) => {
            for pointer in secret_pointers(key) {
                if let Some(Value::String(s)) = value.pointer_mut(pointer) {
                    f(&format!("setting/{key}{pointer}"), s)?;
                }
            }
        }
    }
    Ok(())
}

/// An `{ <name_field>, "value", "secret": true }` object: `f(name, value)`.
fn secret_entry(
    entry: &mut Value,
    name_field: &str,
    f: impl FnOnce(&str, &mut String) -> Result<()>,
) -> Result<()> {
    let Some(obj) = entry.as_object_mut() else {
        return Ok(());
    };
    if obj.get("secret") != Some(&Value::Bool(true)) {
        return Ok(());
    }
    let name = obj
        .get(name_field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match obj.get_mut("value") {
        Some(Value::String(s)) => f(&name, s),
        _ => Ok(()),
    }
}

/// Whether `value` holds a secret of `doc` in plaintext (what the start-up step seals).
pub fn has_plaintext(doc: SecretDoc<'_>, value: &Value) -> bool {
    let mut found = false;
    // `each_secret` walks mutably; a copy keeps the signature of a question.
    let mut copy = value.clone();
    let _ = each_secret(doc, &mut copy, |_, s| {
        found |= !is_sealed(s);
        Ok(())
    });
    found
}

/// What a store does with secret values: seals them under a key, or keeps them as given
/// ([`Sealer::plaintext`], the default).
#[derive(Debug, Clone, Default)]
pub struct Sealer {
    key: Option<SecretKey>,
}

impl Sealer {
    /// Keeps secrets in plaintext; refuses to open sealed ones.
    pub fn plaintext() -> Self {
        Self { key: None }
    }

    /// Seals secrets under `key`.
    pub fn new(key: SecretKey) -> Self {
        Self { key: Some(key) }
    }

    /// The key, when secrets are sealed.
    pub fn key(&self) -> Option<&SecretKey> {
        self.key.as_ref()
    }

    /// What a rotation from this sealer's key to `new_key` works with: the key in use, and
    /// the sealer of the new one. Shared by the stores, so every one refuses alike.
    /// Errors: `InvalidInput` on `secret_key` (no key to rotate) or on `new_key` (it is the
    /// key in use).
    pub fn rotation_to(&self, new_key: SecretKey) -> Result<(SecretKey, Sealer)> {
        let Some(old_key) = self.key.clone() else {
            return Err(Error::invalid(
                "secret_key",
                "this store has no secret key to rotate: open it with with_secret_key first",
            ));
        };
        if old_key.id() == new_key.id() {
            return Err(Error::invalid("new_key", "is the key already in use"));
        }
        Ok((old_key, Sealer::new(new_key)))
    }

    /// Seals every secret value of `doc` in `value` (without a key, leaves them). Returns how
    /// many it sealed. Errors: as [`SecretKey::seal`].
    pub fn seal_json(&self, doc: SecretDoc<'_>, value: &mut Value) -> Result<usize> {
        let Some(key) = &self.key else {
            return Ok(0);
        };
        let mut n = 0;
        each_secret(doc, value, |context, s| {
            *s = key.seal(s, context)?;
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    /// Seals the secret values of `doc` still in plaintext, leaving sealed ones (the
    /// start-up step for rows a store without a key wrote). Returns how many it sealed.
    /// Errors: as [`SecretKey::seal`].
    pub fn seal_plaintext_json(&self, doc: SecretDoc<'_>, value: &mut Value) -> Result<usize> {
        let Some(key) = &self.key else {
            return Ok(0);
        };
        let mut n = 0;
        each_secret(doc, value, |context, s| {
            if !is_sealed(s) {
                *s = key.seal(s, context)?;
                n += 1;
            }
            Ok(())
        })?;
        Ok(n)
    }

    /// Opens every sealed secret value of `doc` in `value`; plaintext ones (rows a store
    /// without a key wrote) are left as they are. Returns how many it opened. Errors: `Backend`
    /// naming the place of a value that does not open, or of a sealed value when there is no
    /// key.
    pub fn open_json(&self, doc: SecretDoc<'_>, value: &mut Value) -> Result<usize> {
        let mut n = 0;
        each_secret(doc, value, |context, s| {
            if is_sealed(s) {
                let Some(key) = &self.key else {
                    return Err(Error::backend(
                        SERVICE,
                        format!(
                            "the value of {context} is encrypted, and this store was opened \
                             without its secret key"
                        ),
                    ));
                };
                *s = key.open(s, context)?;
                n += 1;
            }
            Ok(())
        })?;
        Ok(n)
    }

    /// Opens the secrets of `doc` with this sealer and seals them again with `to` (key
    /// rotation). Returns how many values `to` sealed. Errors: as [`Self::open_json`] and
    /// [`Self::seal_json`].
    pub fn reseal_json(&self, to: &Sealer, doc: SecretDoc<'_>, value: &mut Value) -> Result<usize> {
        self.open_json(doc, value)?;
        to.seal_json(doc, value)
    }

    /// A spec as stored: its JSON with secret env values sealed. Errors: `Backend`.
    pub fn seal_spec(&self, org: OrgId, spec: &ServiceSpec) -> Result<Value> {
        let mut value = to_json(spec)?;
        self.seal_json(SecretDoc::ServiceSpec(org), &mut value)?;
        Ok(value)
    }

    /// A stored spec, its secret env values opened. Errors: `Backend` (see
    /// [`Self::open_json`]; a document that is not a spec).
    pub fn open_spec(&self, org: OrgId, mut value: Value) -> Result<ServiceSpec> {
        self.open_json(SecretDoc::ServiceSpec(org), &mut value)?;
        from_json(value, "service spec")
    }

    /// Template-instance outputs as stored: secret values sealed. Errors: `Backend`.
    pub fn seal_outputs(&self, org: OrgId, outputs: &[InstanceOutput]) -> Result<Value> {
        let mut value = to_json(outputs)?;
        self.seal_json(SecretDoc::InstanceOutputs(org), &mut value)?;
        Ok(value)
    }

    /// Stored template-instance outputs, secret values opened. Errors: `Backend`.
    pub fn open_outputs(&self, org: OrgId, mut value: Value) -> Result<Vec<InstanceOutput>> {
        self.open_json(SecretDoc::InstanceOutputs(org), &mut value)?;
        from_json(value, "template instance outputs")
    }

    /// A setting as stored: the secret fields of its key sealed. Errors: `Backend`.
    pub fn seal_setting(&self, key: &str, value: &Value) -> Result<Value> {
        let mut value = value.clone();
        self.seal_json(SecretDoc::Setting(key), &mut value)?;
        Ok(value)
    }

    /// A stored setting, its secret fields opened. Errors: `Backend`.
    pub fn open_setting(&self, key: &str, mut value: Value) -> Result<Value> {
        self.open_json(SecretDoc::Setting(key), &mut value)?;
        Ok(value)
    }
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::backend_source(SERVICE, "cannot serialize a value to JSON", e))
}

fn from_json<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    serde_json::from_value(value)
        .map_err(|e| Error::backend_source(SERVICE, format!("stored {what} is unreadable"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EnvVar;
    use crate::validate::ImageRef;

    fn spec() -> ServiceSpec {
        let mut spec = ServiceSpec::new(ImageRef::parse("caas/busybox").unwrap());
        spec.env.push(EnvVar::plain("MODE", "production").unwrap());
        spec.env
            .push(EnvVar::secret("PASSWORD", "hunter2-hunter2").unwrap());
        spec
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_its_place() {
        let key = SecretKey::generate();
        let sealed = key.seal("hunter2", "org/a/env/PASSWORD").unwrap();
        assert!(is_sealed(&sealed), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open(&sealed, "org/a/env/PASSWORD").unwrap(), "hunter2");
        // A fresh nonce per value: the same plaintext never seals the same way twice.
        assert_ne!(sealed, key.seal("hunter2", "org/a/env/PASSWORD").unwrap());
        assert!(
            key.open(&sealed, "org/b/env/PASSWORD").is_err(),
            "another place"
        );
        assert!(
            SecretKey::generate()
                .open(&sealed, "org/a/env/PASSWORD")
                .is_err()
        );
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        let e = key.open(&altered, "org/a/env/PASSWORD").unwrap_err();
        assert!(
            e.is_backend() && e.to_string().contains("org/a/env/PASSWORD"),
            "{e}"
        );
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn keys_read_from_hex_or_base64_and_never_show_their_bytes() {
        let key = SecretKey::generate();
        let hex_text = key.to_hex();
        assert_eq!(hex_text.len(), 64);
        let again = SecretKey::parse(&format!("  {}\n", hex_text.as_str())).unwrap();
        assert_eq!(again.id(), key.id());
        let b64 = STANDARD.encode(hex::decode(hex_text.as_str()).unwrap());
        assert_eq!(SecretKey::parse(&b64).unwrap().id(), key.id());
        assert_ne!(SecretKey::generate().id(), key.id());
        let debug = format!("{key:?}");
        assert!(
            debug.contains(key.id()) && !debug.contains(hex_text.as_str()),
            "{debug}"
        );
        for bad in ["", "abc", &"0".repeat(63), &STANDARD.encode([1u8; 16])] {
            let e = SecretKey::parse(bad).unwrap_err();
            assert_eq!(e.field(), Some("secret_key"), "{bad}");
        }
    }

    #[test]
    fn a_key_check_opens_only_with_its_key() {
        let key = SecretKey::generate();
        let check = key.key_check().unwrap();
        assert!(key.opens_key_check(&check));
        assert!(!SecretKey::generate().opens_key_check(&check));
        assert!(!key.opens_key_check("caas:enc:v1:AAAA"));
        let e = wrong_key(key.id(), &SecretKey::generate());
        assert_eq!(e.field(), Some("secret_key"));
        assert!(e.to_string().contains(key.id()), "{e}");
    }

    #[test]
    fn only_secret_env_values_are_sealed_and_they_open_back() {
        let org = OrgId::new();
        let sealer = Sealer::new(SecretKey::generate());
        let stored = sealer.seal_spec(org, &spec()).unwrap();
        let text = stored.to_string();
        assert!(
            !text.contains("hunter2") && text.contains(SEALED_PREFIX),
            "{text}"
        );
        assert!(text.contains("production"), "plain values stay: {text}");
        assert!(!has_plaintext(SecretDoc::ServiceSpec(org), &stored));
        assert_eq!(sealer.open_spec(org, stored.clone()).unwrap(), spec());
        // Bound to the organization.
        assert!(sealer.open_spec(OrgId::new(), stored.clone()).is_err());
        // Without the key: no ciphertext handed out as if it were the value.
        let e = Sealer::plaintext().open_spec(org, stored).unwrap_err();
        assert!(e.to_string().contains("without its secret key"), "{e}");
        // A store without a key keeps plaintext, which a keyed store still reads.
        let plain = Sealer::plaintext().seal_spec(org, &spec()).unwrap();
        assert!(has_plaintext(SecretDoc::ServiceSpec(org), &plain));
        assert_eq!(sealer.open_spec(org, plain).unwrap(), spec());
    }

    #[test]
    fn a_value_that_looks_sealed_is_still_sealed_when_written() {
        let org = OrgId::new();
        let sealer = Sealer::new(SecretKey::generate());
        let mut s = spec();
        s.env
            .push(EnvVar::secret("TRICK", format!("{SEALED_PREFIX}AAAA")).unwrap());
        let stored = sealer.seal_spec(org, &s).unwrap();
        assert_eq!(sealer.open_spec(org, stored).unwrap(), s);
    }

    #[test]
    fn the_start_up_step_seals_plaintext_only_and_rotation_reseals_everything() {
        let org = OrgId::new();
        let old = Sealer::new(SecretKey::generate());
        let new = Sealer::new(SecretKey::generate());
        let mut mixed = Sealer::plaintext().seal_spec(org, &spec()).unwrap();
        assert_eq!(
            old.seal_plaintext_json(SecretDoc::ServiceSpec(org), &mut mixed)
                .unwrap(),
            1
        );
        let once = mixed.clone();
        assert_eq!(
            old.seal_plaintext_json(SecretDoc::ServiceSpec(org), &mut mixed)
                .unwrap(),
            0
        );
        assert_eq!(mixed, once, "idempotent");
        assert_eq!(
            old.reseal_json(&new, SecretDoc::ServiceSpec(org), &mut mixed)
                .unwrap(),
            1
        );
        assert!(old.open_spec(org, mixed.clone()).is_err());
        assert_eq!(new.open_spec(org, mixed).unwrap(), spec());
    }

    #[test]
    fn secret_outputs_and_webhook_secrets_are_sealed() {
        let org = OrgId::new();
        let sealer = Sealer::new(SecretKey::generate());
        let outputs = vec![
            InstanceOutput {
                name: "url".into(),
                value: "https://example.com".into(),
                secret: false,
            },
            InstanceOutput {
                name: "password".into(),
                value: "s3cret-output".into(),
                secret: true,
            },
        ];
        let stored = sealer.seal_outputs(org, &outputs).unwrap();
        let text = stored.to_string();
        assert!(!text.contains("s3cret-output") && text.contains("https://example.com"));
        assert_eq!(sealer.open_outputs(org, stored).unwrap(), outputs);

        let key = format!("alerts.{org}");
        let setting = serde_json::json!({"rules": [], "webhook": {"url": "https://h.example", "secret": "whsec-0123456789abcdef"}});
        let stored = sealer.seal_setting(&key, &setting).unwrap();
        assert!(!stored.to_string().contains("whsec"), "{stored}");
        assert!(!has_plaintext(SecretDoc::Setting(&key), &stored));
        assert_eq!(sealer.open_setting(&key, stored.clone()).unwrap(), setting);
        assert!(
            sealer.open_setting("alerts.other", stored).is_err(),
            "bound to its key"
        );
        let runtime = serde_json::json!({"backend": "docker", "secret": "not one of ours"});
        assert_eq!(sealer.seal_setting("runtime", &runtime).unwrap(), runtime);
    }
}
