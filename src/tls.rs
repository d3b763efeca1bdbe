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

/// The two files written by [`write_self_signed`].
pub struct SelfSigned {
    /// PEM certificate.
    pub cert: std::path::PathBuf,
    /// PEM private key (mode 0600).
    pub key: std::path::PathBuf,
}

/// Writes a self-signed certificate for `hosts` (names or IP addresses) and its key
/// into `out_dir`, for a LAN node whose clients are told to trust it.
pub fn write_self_signed(hosts: &[String], out_dir: &std::path::Path) -> Result<SelfSigned> {
    use std::io::Write;
    let generated = rcgen::generate_simple_self_signed(hosts.to_vec())
        .map_err(|e| Error::Internal(format!("certificate: {e}")))?;
    std::fs::create_dir_all(out_dir)?;
    let cert = out_dir.join("cert.pem");
    let key = out_dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem())?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut key_file = options.open(&key)?;
    key_file.write_all(generated.signing_key.serialize_pem().as_bytes())?;
    key_file.sync_all()?;
    Ok(SelfSigned { cert, key })
}
