//! HTTPS for the API: the certificate chain and key of `[api.tls]`, read from PEM files at
//! start, and read again when the operator renews them (SIGHUP), without a restart and
//! without dropping a connection.
//!
//! rustls on *ring*: no OpenSSL and no aws-lc. TLS 1.2 and 1.3 with rustls's safe defaults;
//! HTTP/1.1 only, as the server speaks nothing else. A renewal that cannot be used (a file
//! half written, a key that is not the certificate's) keeps the certificate being served and
//! says why, so a mistake never takes the node off the air.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// The certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate chain cannot be read.
    #[error("cannot read the certificate chain {path} (config key `api.tls.cert`): {reason}")]
    Cert {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The private key cannot be read.
    #[error("cannot read the private key {path} (config key `api.tls.key`): {reason}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The two do not make a TLS server (the key is not the certificate's, or its algorithm
    /// is not supported).
    #[error("`api.tls.cert` and `api.tls.key` cannot serve TLS: {0}")]
    Unusable(String),
}

/// The TLS configuration being served, replaced whole by [`Tls::reload`].
#[derive(Debug)]
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// Reads the certificate and key of `files`.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self {
            files,
            current: RwLock::new(Arc::new(config)),
        })
    }

    /// Reads the files again and serves them to every new connection; on error, the
    /// certificate served so far stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(server_config(&self.files)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }

    /// The acceptor of a new connection, with the certificate served now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        TlsAcceptor::from(config)
    }
}

fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let certs = read_chain(&files.cert).map_err(|reason| TlsError::Cert {
        path: files.cert.display().to_string(),
        reason,
    })?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Key {
        path: files.key.display().to_string(),
        reason: e.to_string(),
    })?;
    // with_single_cert refuses a key that is not the certificate's here, not at a client's
    // handshake.
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Unusable(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Unusable(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Every certificate of a PEM file, in order; at least one.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("the file holds no CERTIFICATE block".to_owned());
    }
    Ok(certs)
}
