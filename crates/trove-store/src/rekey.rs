//! Re-encryption of stored values under the active key.
