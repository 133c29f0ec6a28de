//! Data protection with the national algorithms (密评, GB/T 39786): SM4-GCM encryption of personal
//! data at rest, HMAC-SM3 blind indexes for equality lookups on encrypted values, and the sealing
//! of page tokens. Every key is derived from one configured master key, so an operator manages one
//! secret, and each purpose has its own key.

use aes_gcm::{
    AesGcm, KeyInit,
    aead::{Aead, Payload, consts::U12},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sm3::Sm3;
use sm4::Sm4;

use crate::config::Secret;

type Sm4Gcm = AesGcm<Sm4, U12>;
type HmacSm3 = Hmac<Sm3>;

/// Version tag of the stored ciphertext format, so keys and algorithms can be rotated later.
const CIPHERTEXT_PREFIX: &str = "sm4gcm1:";
const NONCE_LEN: usize = 12;

/// The master key is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not configured.
    #[error("crypto.master_key is not set (SHEQU_CRYPTO__MASTER_KEY: 64 hex characters)")]
    Missing,
    /// Not 32 bytes of hex.
    #[error("crypto.master_key must be 64 hex characters (32 bytes)")]
    Malformed,
}

/// A stored value could not be decrypted: wrong key, or tampered or truncated data.
#[derive(Debug, thiserror::Error)]
#[error("ciphertext cannot be decrypted (wrong key or tampered data)")]
pub struct DecryptError;

/// The keys a service derives from the master key.
#[derive(Clone)]
pub struct Keys {
    /// Encrypts personal data columns.
    pub personal_data: FieldCipher,
    /// Blind indexes of personal data.
    pub blind_index: BlindIndex,
    /// Seals page tokens.
    pub page_tokens: FieldCipher,
    /// Chains the audit log (HMAC-SM3 key).
    pub audit_chain: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

impl Keys {
    /// Derives every purpose key from the configured master key.
    pub fn from_master(master: &Secret) -> Result<Keys, KeyError> {
        if master.is_empty() {
            return Err(KeyError::Missing);
        }
        let bytes = hex::decode(master.expose().trim()).map_err(|_| KeyError::Malformed)?;
        if bytes.len() != 32 {
            return Err(KeyError::Malformed);
        }
        let derive = |label: &str| -> [u8; 32] {
            let mut mac =
                <HmacSm3 as KeyInit>::new_from_slice(&bytes).expect("HMAC takes any key length");
            mac.update(label.as_bytes());
            mac.finalize().into_bytes().into()
        };
        Ok(Keys {
            personal_data: FieldCipher::new(&derive("shequ/personal-data/sm4gcm/v1")),
            blind_index: BlindIndex {
                key: derive("shequ/blind-index/hmac-sm3/v1"),
            },
            page_tokens: FieldCipher::new(&derive("shequ/page-token/sm4gcm/v1")),
            audit_chain: derive("shequ/audit-chain/hmac-sm3/v1"),
        })
    }

    /// A fresh random master key, hex encoded (for development set-ups and tests).
    pub fn generate_master() -> Secret {
        let mut bytes = [0_u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Secret::new(hex::encode(bytes))
    }
}

/// SM4-GCM authenticated encryption of short text values.
#[derive(Clone)]
pub struct FieldCipher {
    cipher: Sm4Gcm,
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldCipher([redacted])")
    }
}

impl FieldCipher {
    fn new(key: &[u8; 32]) -> Self {
        FieldCipher {
            cipher: Sm4Gcm::new_from_slice(&key[..16]).expect("SM4 key is 16 bytes"),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. the column name) so that a ciphertext
    /// copied into another column or row kind does not decrypt.
    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        self.seal(nonce, plaintext, context)
    }

    /// The stored form of `plaintext` encrypted under `nonce` (a fresh random one in production).
    fn seal(&self, nonce: [u8; NONCE_LEN], plaintext: &[u8], context: &str) -> String {
        let sealed = self
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("SM4-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{CIPHERTEXT_PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts a value produced by [`FieldCipher::encrypt`] with the same `context`.
    pub fn decrypt(&self, stored: &str, context: &str) -> Result<Vec<u8>, DecryptError> {
        let encoded = stored.strip_prefix(CIPHERTEXT_PREFIX).ok_or(DecryptError)?;
        let raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| DecryptError)?;
        if raw.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| DecryptError)?;
        self.cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| DecryptError)
    }

    /// Decrypts into a UTF-8 string.
    pub fn decrypt_string(&self, stored: &str, context: &str) -> Result<String, DecryptError> {
        String::from_utf8(self.decrypt(stored, context)?).map_err(|_| DecryptError)
    }
}

/// HMAC-SM3 of a value under a secret key: equal inputs give equal indexes, so a unique
/// constraint or lookup works on encrypted data without revealing it.
#[derive(Clone)]
pub struct BlindIndex {
    key: [u8; 32],
}

impl std::fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndex([redacted])")
    }
}

impl BlindIndex {
    /// Index of `value` within `context` (e.g. `secretaries.id_number`).
    pub fn of(&self, value: &str, context: &str) -> String {
        let mut mac =
            <HmacSm3 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::from_master(&Keys::generate_master()).unwrap()
    }

    fn fresh_keys() -> Keys {
        keys()
    }

    #[test]
    fn encrypted_values_round_trip_and_do_not_contain_the_plaintext() {
        let keys = keys();
        let stored = keys
            .personal_data
            .encrypt(b"11010519491231002X", "secretaries.id_number");
        assert!(!stored.contains("11010519491231002X"));
        assert_eq!(
            keys.personal_data
                .decrypt_string(&stored, "secretaries.id_number")
                .unwrap(),
            "11010519491231002X"
        );
    }

    #[test]
    fn the_same_value_encrypts_differently_each_time() {
        let keys = keys();
        let a = keys
            .personal_data
            .encrypt(b"13800138000", "secretaries.phone_number");
        let b = keys
            .personal_data
            .encrypt(b"13800138000", "secretaries.phone_number");
        assert_ne!(a, b);
    }

    #[test]
    fn a_ciphertext_moved_to_another_column_or_tampered_with_does_not_decrypt() {
        let keys = keys();
        let stored = keys
            .personal_data
            .encrypt(b"13800138000", "secretaries.phone_number");
        assert!(
            keys.personal_data
                .decrypt(&stored, "secretaries.id_number")
                .is_err()
        );
        let mut tampered = stored.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            keys.personal_data
                .decrypt(
                    std::str::from_utf8(&tampered).unwrap(),
                    "secretaries.phone_number"
                )
                .is_err()
        );
        assert!(
            fresh_keys()
                .personal_data
                .decrypt(&stored, "secretaries.phone_number")
                .is_err(),
            "another key"
        );
    }

    #[test]
    fn blind_indexes_are_deterministic_per_key_and_context() {
        let keys = keys();
        let a = keys
            .blind_index
            .of("11010519491231002X", "secretaries.id_number");
        assert_eq!(
            a,
            keys.blind_index
                .of("11010519491231002X", "secretaries.id_number")
        );
        assert_ne!(
            a,
            keys.blind_index
                .of("11010519491231002X", "candidates.id_number")
        );
        assert_ne!(
            a,
            fresh_keys()
                .blind_index
                .of("11010519491231002X", "secretaries.id_number")
        );
    }

    #[test]
    fn a_missing_or_short_master_key_is_refused() {
        assert!(matches!(
            Keys::from_master(&Secret::default()),
            Err(KeyError::Missing)
        ));
        assert!(matches!(
            Keys::from_master(&Secret::new("abcd")),
            Err(KeyError::Malformed)
        ));
    }

    /// GB/T 32907-2016 Appendix A, example 1: one block under the standard's key.
    #[test]
    fn sm4_matches_the_gb_t_32907_test_vector() {
        use sm4::cipher::{Block, BlockCipherEncrypt, KeyInit as _};
        let key = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        // The cipher type the SM4-GCM construction is built on (`Sm4Gcm = AesGcm<Sm4, _>`).
        let cipher = Sm4::new_from_slice(&key).unwrap();
        let plaintext = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        let mut block = Block::<Sm4>::try_from(&plaintext[..]).unwrap();
        cipher.encrypt_block(&mut block);
        assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
    }

    /// RFC 8998 Appendix A.1 (SM4-GCM, the TLS 1.3 ShangMi suites): the stored form of a value
    /// is `sm4gcm1:` and base64url of nonce, ciphertext and tag of SM4 in GCM mode. A wrong block
    /// cipher or a wrong mode gives other bytes; a round trip alone would not notice.
    #[test]
    fn sm4_gcm_matches_the_rfc_8998_test_vector() {
        let mut key = [0_u8; 32];
        key[..16].copy_from_slice(&hex::decode("0123456789abcdeffedcba9876543210").unwrap());
        let cipher = FieldCipher::new(&key);
        let nonce: [u8; NONCE_LEN] = hex::decode("00001234567800000000abcd")
            .unwrap()
            .try_into()
            .unwrap();
        let plaintext = hex::decode(
            "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd\
             eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
        )
        .unwrap();
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
        // The AAD is the context string; the vector's AAD is not UTF-8, so it goes through the
        // cipher type itself, then the same through `seal` with a text context.
        let sealed = cipher
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(
            hex::encode(&sealed),
            "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735\
             d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d\
             83de3541e4c2b58177e065a9bf7b62ec"
        );
        // `seal` is that construction: nonce, then ciphertext and tag.
        let context = "secretaries.id_number";
        let stored = cipher.seal(nonce, &plaintext, context);
        let raw = URL_SAFE_NO_PAD
            .decode(stored.strip_prefix("sm4gcm1:").unwrap())
            .unwrap();
        assert_eq!(raw[..NONCE_LEN], nonce);
        let expected = cipher
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: &plaintext,
                    aad: context.as_bytes(),
                },
            )
            .unwrap();
        assert_eq!(raw[NONCE_LEN..], expected[..]);
        // Under another AAD only the tag differs: the ciphertext is the vector's, CTR under SM4.
        assert_eq!(raw[NONCE_LEN..NONCE_LEN + 64], sealed[..64]);
        assert_eq!(cipher.decrypt(&stored, context).unwrap(), plaintext);
    }

    #[test]
    fn sm3_matches_the_gb_t_32905_test_vector() {
        use sm3::Digest;
        assert_eq!(
            hex::encode(Sm3::digest(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }
}
