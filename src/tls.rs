//! TLS with rustls: PEM certificate chain and key from the paths in `[tls]`.

use std::{fs::File, io::BufReader, sync::Arc};

use crate::config::TlsSettings;
use crate::error::{Error, Result};

/// The rustls server config for `[tls]`, or `None` when TLS is off.
pub fn server_config(tls: &TlsSettings) -> Result<Option<rustls::ServerConfig>> {
    if tls.cert.is_empty() || tls.key.is_empty() {
        return Ok(None);
    }
    let bad = |what: &str, e: &dyn std::fmt::Display| Error::Internal(format!("tls.{what}: {e}"));
    let mut certs_in = BufReader::new(File::open(&tls.cert).map_err(|e| bad("cert", &e))?);
    let certs = rustls_pemfile::certs(&mut certs_in)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("cert", &e))?;
    if certs.is_empty() {
        return Err(bad("cert", &"no certificate in the file"));
    }
    let mut key_in = BufReader::new(File::open(&tls.key).map_err(|e| bad("key", &e))?);
    let key = rustls_pemfile::private_key(&mut key_in)
        .map_err(|e| bad("key", &e))?
        .ok_or_else(|| bad("key", &"no private key in the file"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("cert", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("key", &e))?;
    Ok(Some(config))
}
