//! TLS with rustls: PEM certificate chain and key from the paths in `[tls]`, re-read on
//! SIGHUP so a renewed certificate is served without a restart.

use std::{
    fs::File,
    io::BufReader,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use crate::config::TlsSettings;
use crate::error::{Error, Result};

/// TLS for the listener: the rustls config, and the certificate it serves.
pub struct Tls {
    /// What each worker's listener uses.
    pub config: rustls::ServerConfig,
    /// The certificate behind it, for [`Certificate::reload`].
    pub certificate: Arc<Certificate>,
}

/// The node's certificate and key. rustls asks for them on every handshake, so after
/// [`Certificate::reload`] new connections get the renewed certificate (Let's Encrypt
/// renews every 60-90 days) while open sockets stay as they are: a restart would drop
/// every WebSocket and have all clients reconnect at once.
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: parking_lot::RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Reads both files again; on any error (unreadable, not PEM, a key that does not
    /// match the certificate) the certificate in use stays.
    pub fn reload(&self) -> Result<()> {
        let fresh = load(&self.cert, &self.key, &self.provider)?;
        *self.current.write() = Arc::new(fresh);
        Ok(())
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

/// The rustls setup for `[tls]`, or `None` when TLS is off.
pub fn server_config(tls: &TlsSettings) -> Result<Option<Tls>> {
    if tls.cert.is_empty() || tls.key.is_empty() {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (cert, key) = (PathBuf::from(&tls.cert), PathBuf::from(&tls.key));
    let current = load(&cert, &key, &provider)?;
    let certificate = Arc::new(Certificate {
        cert,
        key,
        provider: provider.clone(),
        current: parking_lot::RwLock::new(Arc::new(current)),
    });
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("cert", &e))?
        .with_no_client_auth()
        .with_cert_resolver(certificate.clone());
    Ok(Some(Tls {
        config,
        certificate,
    }))
}

fn bad(what: &str, e: &dyn std::fmt::Display) -> Error {
    Error::Internal(format!("tls.{what}: {e}"))
}

/// The chain in `cert` with the key in `key`, checked to belong together.
fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let mut certs_in = BufReader::new(File::open(cert).map_err(|e| bad("cert", &e))?);
    let certs = rustls_pemfile::certs(&mut certs_in)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("cert", &e))?;
    if certs.is_empty() {
        return Err(bad("cert", &"no certificate in the file"));
    }
    let mut key_in = BufReader::new(File::open(key).map_err(|e| bad("key", &e))?);
    let key = rustls_pemfile::private_key(&mut key_in)
        .map_err(|e| bad("key", &e))?
        .ok_or_else(|| bad("key", &"no private key in the file"))?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| bad("key", &e))
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
