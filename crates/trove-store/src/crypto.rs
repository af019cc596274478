//! Encryption at rest: a key ring and a versioned XChaCha20-Poly1305 envelope.
//!
//! Envelope: `0x01 | key id (u32 BE) | nonce (24 bytes) | ciphertext and tag`. The associated data binds
//! a ciphertext to its place (`table`, `column`, row id, org id), so a value copied into another row or
//! another org fails to decrypt instead of being read there. Keys are 32 random bytes; the ring has one
//! active key for writes and any number of older keys for reads until a rotation re-encrypts their rows.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngExt as _;
use trove_core::{AppError, AppResult};
use uuid::Uuid;
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 24;

/// Where a ciphertext lives; bound into the associated data.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    /// The table.
    pub table: &'a str,
    /// The column.
    pub column: &'a str,
    /// The row's id.
    pub row: Uuid,
    /// The owning org's id.
    pub org: Uuid,
}

impl Aad<'_> {
    fn bytes(&self, key_id: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(FORMAT_V1);
        out.extend_from_slice(&key_id.to_be_bytes());
        for part in [self.table.as_bytes(), self.column.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(self.row.as_bytes());
        out.extend_from_slice(self.org.as_bytes());
        out
    }
}

/// The encryption keys. `Debug` never shows key material.
#[derive(Clone)]
pub struct KeyRing {
    active: u32,
    keys: BTreeMap<u32, Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// Parses `id:base64key[,id:base64key…]`; the first key is the active one.
    pub fn parse(spec: &str) -> AppResult<Self> {
        let invalid = |m: String| AppError::invalid("TROVE_ENCRYPTION_KEYS", m);
        let mut keys = BTreeMap::new();
        let mut active = None;
        // Comment lines (key files start with one) go first: they may contain commas themselves.
        let items = spec
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty());
        for (index, item) in items.enumerate() {
            let (id, key) = item.split_once(':').ok_or_else(|| {
                invalid(format!(
                    "key {} must be written `id:base64` (e.g. `1:…`)",
                    index + 1
                ))
            })?;
            let id: u32 = id
                .trim()
                .parse()
                .map_err(|_| invalid(format!("key id `{}` is not a number", id.trim())))?;
            let bytes = Zeroizing::new(
                B64.decode(key.trim())
                    .map_err(|_| invalid(format!("key {id} is not valid base64")))?,
            );
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                invalid(format!(
                    "key {id} must be 32 bytes (44 base64 characters), got {}",
                    bytes.len()
                ))
            })?;
            if keys.insert(id, Zeroizing::new(key)).is_some() {
                return Err(invalid(format!("key id {id} appears twice")));
            }
            active.get_or_insert(id);
        }
        let active = active.ok_or_else(|| invalid("no key given".into()))?;
        Ok(Self { active, keys })
    }

    /// A ring with one new random key of the given id.
    pub fn generate(id: u32) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill(&mut key[..]);
        Self {
            active: id,
            keys: BTreeMap::from([(id, key)]),
        }
    }

    /// Adds a new random key and makes it active; returns its id.
    pub fn rotate(&mut self) -> u32 {
        let id = self.keys.keys().max().copied().unwrap_or(0) + 1;
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill(&mut key[..]);
        self.keys.insert(id, key);
        self.active = id;
        id
    }

    /// The ring in the text form [`KeyRing::parse`] reads, active key first.
    pub fn to_spec(&self) -> Zeroizing<String> {
        let mut out = String::new();
        let order = std::iter::once(self.active)
            .chain(self.keys.keys().copied().filter(|id| *id != self.active));
        for id in order {
            if let Some(key) = self.keys.get(&id) {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(&format!("{id}:{}", B64.encode(&key[..])));
            }
        }
        Zeroizing::new(out)
    }

    /// Loads a ring from a key file, creating the file (mode 0600) with a new key when it is missing.
    /// Returns the ring and whether the file was created.
    pub fn load_or_create_file(path: &Path) -> AppResult<(Self, bool)> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::parse(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let ring = Self::generate(1);
                ring.write_file(path)?;
                Ok((ring, true))
            }
            Err(e) => Err(AppError::internal(format!(
                "cannot read the key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Writes the ring to a file readable only by its owner, atomically.
    pub fn write_file(&self, path: &Path) -> AppResult<()> {
        use std::io::Write as _;
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write = || -> std::io::Result<()> {
            let mut file = options.open(&tmp)?;
            file.write_all(b"# Trove encryption keys: id:base64, the first is active. Keep this file secret and backed up.\n")?;
            file.write_all(self.to_spec().as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            AppError::internal(format!("cannot write the key file {}: {e}", path.display()))
        })
    }

    /// The id of the key used for new writes.
    pub fn active_id(&self) -> u32 {
        self.active
    }

    /// The same keys with another one active, or `None` when the ring lacks it.
    pub fn with_active(&self, id: u32) -> Option<Self> {
        self.keys.contains_key(&id).then(|| Self {
            active: id,
            keys: self.keys.clone(),
        })
    }

    /// Whether the ring holds a key of this id.
    pub fn has(&self, id: u32) -> bool {
        self.keys.contains_key(&id)
    }

    /// Encrypts with the active key.
    pub fn encrypt(&self, plaintext: &[u8], aad: Aad<'_>) -> AppResult<Vec<u8>> {
        let key = &self.keys[&self.active];
        let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(**key));
        let mut nonce = [0u8; 24];
        rand::rng().fill(&mut nonce[..]);
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad.bytes(self.active),
                },
            )
            .map_err(|_| AppError::internal("encryption failed"))?;
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.active.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The key id an envelope was sealed with.
    pub fn key_id_of(envelope: &[u8]) -> Option<u32> {
        if envelope.len() < HEADER_LEN || envelope[0] != FORMAT_V1 {
            return None;
        }
        Some(u32::from_be_bytes([
            envelope[1],
            envelope[2],
            envelope[3],
            envelope[4],
        ]))
    }

    /// Decrypts an envelope, checking that it belongs where `aad` says.
    pub fn decrypt(&self, envelope: &[u8], aad: Aad<'_>) -> AppResult<Vec<u8>> {
        let key_id = Self::key_id_of(envelope)
            .ok_or_else(|| AppError::internal("encrypted value has an unknown format"))?;
        let key = self.keys.get(&key_id).ok_or_else(|| {
            AppError::internal(format!(
                "encrypted value needs key {key_id}, which is not in TROVE_ENCRYPTION_KEYS"
            ))
        })?;
        let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(**key));
        cipher
            .decrypt(
                &nonce_of(envelope),
                Payload {
                    msg: &envelope[HEADER_LEN..],
                    aad: &aad.bytes(key_id),
                },
            )
            .map_err(|_| AppError::internal("encrypted value failed authentication"))
    }
}

fn nonce_of(envelope: &[u8]) -> XNonce {
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&envelope[5..HEADER_LEN]);
    XNonce::from(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad(row: Uuid) -> Aad<'static> {
        Aad {
            table: "audit_log",
            column: "detail",
            row,
            org: Uuid::nil(),
        }
    }

    #[test]
    fn round_trip_and_binding() {
        let ring = KeyRing::generate(1);
        let row = Uuid::now_v7();
        let sealed = ring.encrypt(b"hello", aad(row)).unwrap();
        assert_eq!(ring.decrypt(&sealed, aad(row)).unwrap(), b"hello");
        assert!(
            ring.decrypt(&sealed, aad(Uuid::now_v7())).is_err(),
            "moved to another row"
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(ring.decrypt(&tampered, aad(row)).is_err());
    }

    #[test]
    fn rotation_keeps_old_keys_readable() {
        let mut ring = KeyRing::generate(1);
        let row = Uuid::now_v7();
        let old = ring.encrypt(b"v1", aad(row)).unwrap();
        assert_eq!(ring.rotate(), 2);
        let new = ring.encrypt(b"v2", aad(row)).unwrap();
        assert_eq!(KeyRing::key_id_of(&old), Some(1));
        assert_eq!(KeyRing::key_id_of(&new), Some(2));
        let reparsed = KeyRing::parse(&ring.to_spec()).unwrap();
        let dir = std::env::temp_dir().join(format!("trove-keys-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        ring.write_file(&dir.join("keys")).unwrap();
        let (from_file, created) = KeyRing::load_or_create_file(&dir.join("keys")).unwrap();
        assert!(!created);
        assert_eq!(from_file.active_id(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(reparsed.active_id(), 2);
        assert_eq!(reparsed.decrypt(&old, aad(row)).unwrap(), b"v1");
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        assert!(KeyRing::parse("").is_err());
        assert!(KeyRing::parse("1:notbase64!").is_err());
        assert!(KeyRing::parse("x:AAAA").is_err());
        let short = format!("1:{}", B64.encode([0u8; 16]));
        let err = KeyRing::parse(&short).unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
        assert!(!format!("{:?}", KeyRing::generate(3)).contains('='));
    }
}
