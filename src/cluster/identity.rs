//! TLS for the cluster connection (QUIC always runs TLS 1.3). The master
//! proves its identity with a certificate from files (a Kubernetes Secret)
//! or one it generates at start, whose SHA-256 fingerprint it prints. A
//! worker trusts a CA file, or a fingerprint, or (loopback only) anything.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::ALPN;
use crate::client::tls::{SkipChain, hex, sha256};

/// Keep-alive and idle timeout: a worker whose master vanished notices
/// within the idle timeout and stops its load (a safety property), and
/// keep-alives stay far under the 30 s after which NATs drop idle UDP flows.
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Why an identity or a trust setting could not be built.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("reading {path}: {error}")]
    Pem {
        path: String,
        error: rustls::pki_types::pem::Error,
    },
    #[error("{0} holds no certificate")]
    NoCert(String),
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("QUIC configuration: {0}")]
    Quic(String),
    #[error("--master-fingerprint: {0}")]
    Fingerprint(String),
    #[error(
        "--insecure skips the check of the master's certificate and is only allowed for a master on loopback (127.0.0.0/8, ::1); {0} is not"
    )]
    InsecureRemote(SocketAddr),
}

/// The master's certificate chain and key.
pub struct MasterIdentity {
    pub certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl MasterIdentity {
    /// A self-signed certificate for this run (names: localhost, the
    /// loopback addresses and this host's name).
    pub fn generate() -> Result<Self, IdentityError> {
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
        if let Some(h) = hostname() {
            names.push(h);
        }
        let ck = rcgen::generate_simple_self_signed(names)?;
        Ok(MasterIdentity {
            certs: vec![ck.cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into()),
        })
    }

    /// A certificate chain and key from PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, IdentityError> {
        fn pem(path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> IdentityError + '_ {
            move |error| IdentityError::Pem {
                path: path.display().to_string(),
                error,
            }
        }
        let certs = CertificateDer::pem_file_iter(cert)
            .map_err(pem(cert))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem(cert))?;
        if certs.is_empty() {
            return Err(IdentityError::NoCert(cert.display().to_string()));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
        Ok(MasterIdentity { certs, key })
    }

    /// SHA-256 of the leaf certificate, lowercase hex.
    pub fn fingerprint(&self) -> String {
        hex(&sha256(self.certs[0].as_ref()))
    }

    /// The QUIC server configuration.
    pub fn server_config(&self) -> Result<quinn::ServerConfig, IdentityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(self.certs.clone(), self.key.clone_key())?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic =
            QuicServerConfig::try_from(tls).map_err(|e| IdentityError::Quic(e.to_string()))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
        config.transport_config(Arc::new(transport()));
        Ok(config)
    }
}

/// How a worker checks its master.
#[derive(Debug, Clone)]
pub enum Trust {
    /// A PEM file of CA certificates.
    Ca(Vec<CertificateDer<'static>>),
    /// The SHA-256 of the master's certificate.
    Fingerprint(Vec<u8>),
    /// No check: loopback masters only.
    Insecure,
}

impl Trust {
    pub fn ca_file(path: &Path) -> Result<Self, IdentityError> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|error| IdentityError::Pem {
                path: path.display().to_string(),
                error,
            })?;
        if certs.is_empty() {
            return Err(IdentityError::NoCert(path.display().to_string()));
        }
        Ok(Trust::Ca(certs))
    }

    /// Hex, with or without colons (as openssl prints it).
    pub fn fingerprint(text: &str) -> Result<Self, IdentityError> {
        let clean: String = text.chars().filter(|c| *c != ':').collect();
        if clean.len() != 64 {
            return Err(IdentityError::Fingerprint(format!(
                "a SHA-256 fingerprint is 64 hex digits, this has {}",
                clean.len()
            )));
        }
        let bytes = (0..32)
            .map(|i| u8::from_str_radix(&clean[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| IdentityError::Fingerprint(format!("not hex: {e}")))?;
        Ok(Trust::Fingerprint(bytes))
    }

    /// The QUIC client configuration for a master at `addr`.
    pub fn client_config(&self, addr: SocketAddr) -> Result<quinn::ClientConfig, IdentityError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?;
        let mut tls = match self {
            Trust::Ca(certs) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certs {
                    roots.add(c.clone())?;
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::Fingerprint(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipChain::pinned(
                    provider,
                    pin.clone(),
                )))
                .with_no_client_auth(),
            Trust::Insecure => {
                if !addr.ip().is_loopback() {
                    return Err(IdentityError::InsecureRemote(addr));
                }
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(SkipChain::any(provider)))
                    .with_no_client_auth()
            }
        };
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic =
            QuicClientConfig::try_from(tls).map_err(|e| IdentityError::Quic(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(quic));
        config.transport_config(Arc::new(transport()));
        Ok(config)
    }
}

fn transport() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(KEEP_ALIVE));
    // 4 s always fits the VarInt range; the fallback is never taken.
    if let Ok(idle) = quinn::IdleTimeout::try_from(IDLE_TIMEOUT) {
        t.max_idle_timeout(Some(idle));
    }
    // One stream per snapshot: allow many at once from each worker.
    t.max_concurrent_uni_streams(1024u32.into());
    t
}

/// This machine's host name, if it has one.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most
    // that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}
