//! Key secrets: how they are made and how they are stored.
//!
//! A secret is `lsk_` followed by 32 random bytes in unpadded base64url: 256 bits, so
//! a hash without salt or stretching is enough (nobody guesses a 256-bit value, and a
//! fast hash keeps every request cheap). The store keeps only the SHA-256 hex of the
//! secret; the secret is shown once, by `leadscore keys create`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Ingestion only (`/v1/...`); no access to `/api/v1/`.
    Write,
    /// Read the REST API.
    Read,
    /// Everything: ingestion, reading, changing and erasing.
    Admin,
}

impl Role {
    /// The role named `text` (`write`, `read`, `admin`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "write" => Some(Role::Write),
            "read" => Some(Role::Read),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Write => "write",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }
}

/// A new random secret: `lsk_<base64url of 32 random bytes>`.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("lsk_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A new short public key id: `k_` and 12 hex digits.
pub fn new_id() -> String {
    let bytes: [u8; 6] = rand::random();
    let mut id = String::from("k_");
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The hex SHA-256 of a secret: what the store keeps and looks keys up by.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_has_prefix_and_256_bits() {
        let secret = new_secret();
        let body = secret.strip_prefix("lsk_").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Write, Role::Read, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
