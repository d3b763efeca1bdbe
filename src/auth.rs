//! Passwords and tokens.
//!
//! Passwords are hashed with argon2id (19 MiB, 2 passes, 1 lane: the OWASP minimum,
//! about 30-60 ms on a Raspberry Pi 4) on a blocking thread, never on an actor thread.
//! Tokens are 32 random bytes in hex; only their SHA-256 is stored, so neither the data
//! directory nor a backup holds a usable token. Looking a token up by its hash means a
//! token is never compared byte by byte against a secret.

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::{now_ms, Store, TokenRecord};

/// The argon2id instance used for every password.
fn hasher() -> Result<Argon2<'static>> {
    crate::memory::pin_mmap_threshold();
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| Error::Internal(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password (blocking: call from `web::block`).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

/// Checks a password against its stored hash (blocking: call from `web::block`).
pub fn verify_password(password: &str, stored: &str) -> Result<bool> {
    let parsed =
        PasswordHash::new(stored).map_err(|e| Error::Internal(format!("stored hash: {e}")))?;
    Ok(hasher()?
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// A dummy hash to verify against when the user does not exist, so a login for an
/// unknown name takes as long as one for a known name.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$uJ8Yt5PjZzJ2dsWN2QeOeRMnsYnWxV8pDS3lP+Qs1Ys"
}

/// A fresh random token (64 hex chars: URL- and subprotocol-safe).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the store keys a token by.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Most bytes of a User-Agent kept with a token.
const MAX_AGENT: usize = 256;

/// Issues and stores a token for `user`; `agent` is the User-Agent it was asked with
/// (shown in the user's session list).
pub async fn issue_token(store: &Store, user: &str, ttl_secs: u64, agent: &str) -> Result<String> {
    let token = new_token();
    let now = now_ms();
    let mut agent = agent.to_string();
    if agent.len() > MAX_AGENT {
        let mut cut = MAX_AGENT;
        while !agent.is_char_boundary(cut) {
            cut -= 1;
        }
        agent.truncate(cut);
    }
    let record = TokenRecord {
        user: user.to_string(),
        expires_ms: now.saturating_add(ttl_secs.saturating_mul(1000)),
        created_ms: now,
        last_seen_ms: now,
        agent,
    };
    store.put_token(&token_hash(&token), &record).await?;
    Ok(token)
}

/// The user a token belongs to, if it is known and not expired; notes the use
/// (`last_seen`, at most once a minute).
pub fn check_token(store: &Store, token: &str) -> Result<String> {
    if token.is_empty() || token.len() > 512 {
        return Err(Error::Unauthorized);
    }
    let hash = token_hash(token);
    match store.token(&hash)? {
        Some(rec) if rec.expires_ms > now_ms() => {
            if let Err(e) = store.touch_token(&hash, &rec) {
                tracing::warn!(error = %e, "last_seen not updated");
            }
            Ok(rec.user)
        }
        _ => Err(Error::Unauthorized),
    }
}

/// Password rules: 8-256 bytes.
pub fn valid_password(password: &str) -> bool {
    (8..=256).contains(&password.len())
}

/// A password for `chatnode user add` without `--password-stdin`: 20 characters of
/// `[a-z0-9]` minus look-alikes (over 100 random bits), easy to read off a terminal.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Display-name rules: 1-64 characters (after trimming spaces), no control characters.
pub fn valid_display_name(name: &str) -> bool {
    (1..=64).contains(&name.chars().count()) && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() -> Result<()> {
        let h = hash_password("correct horse")?;
        assert!(verify_password("correct horse", &h)?);
        assert!(!verify_password("wrong horse", &h)?);
        assert!(PasswordHash::new(dummy_hash()).is_ok());
        Ok(())
    }

    #[test]
    fn display_names_and_generated_passwords() {
        assert!(valid_display_name("Ann"));
        assert!(valid_display_name(&"é".repeat(64)));
        assert!(!valid_display_name(&"a".repeat(65)));
        assert!(!valid_display_name(""));
        assert!(!valid_display_name("a\nb"));
        assert!(!valid_display_name("a\u{7f}"));
        let p = generate_password();
        assert_eq!(p.len(), 20);
        assert!(valid_password(&p));
        assert_ne!(p, generate_password());
    }

    #[test]
    fn tokens_are_hex_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
