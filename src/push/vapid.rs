//! The node's VAPID identity (RFC 8292): one P-256 key pair made on first start and kept
//! in the store, and the `Authorization: vapid t=JWT, k=KEY` header it signs.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use web_push_native::jwt_simple::{
    self,
    algorithms::{ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair},
    claims::Claims,
};

use crate::error::{Error, Result};
use crate::store::{now_ms, push::VapidKeyRecord, Store};

/// How long a signed JWT is valid: RFC 8292 allows at most 24 h; 12 h leaves room for
/// clock skew on either side.
const JWT_VALID_SECS: u64 = 12 * 3600;

/// The VAPID key pair; `Debug` never shows the private half.
#[derive(Clone)]
pub struct Vapid {
    key: Arc<ES256KeyPair>,
    public: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Vapid {
    /// The stored key, or a new one stored durably first (first start).
    pub async fn load_or_create(store: &Store) -> Result<Vapid> {
        let record = store
            .vapid_key_or_create(|| VapidKeyRecord {
                private_key: ES256KeyPair::generate().to_bytes(),
                created_ms: now_ms(),
            })
            .await?;
        let key = ES256KeyPair::from_bytes(&record.private_key)
            .map_err(|e| Error::Internal(format!("stored VAPID key unreadable: {e}")))?;
        let public = URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
        Ok(Vapid {
            key: Arc::new(key),
            public,
        })
    }

    /// The public key, base64url of the uncompressed point (what `applicationServerKey`
    /// of a browser's `pushManager.subscribe` takes).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header value for a push to an endpoint of `origin`
    /// (`scheme://host[:port]`), with `sub` = `contact`.
    pub fn authorization(&self, origin: &str, contact: &str) -> Result<String> {
        let claims = Claims::create(jwt_simple::prelude::Duration::from_secs(JWT_VALID_SECS))
            .with_audience(origin)
            .with_subject(contact);
        let token = self
            .key
            .sign(claims)
            .map_err(|e| Error::Internal(format!("VAPID signing: {e}")))?;
        Ok(format!("vapid t={token}, k={}", self.public))
    }
}
