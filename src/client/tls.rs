//! rustls client configurations: the system's roots plus any CA file the
//! scenario names, or no verification when the scenario says insecure.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::scenario::TlsSpec;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading CA certificates: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    #[error("adding a CA certificate: {0}")]
    Ca(rustls::Error),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("the client key file holds no private key")]
    NoKey,
}

/// A client configuration offering `alpn`.
pub fn client_config(spec: &TlsSpec, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let client = match &spec.client_pem {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert).collect::<Result<Vec<_>, _>>()?;
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key)
                .map_err(|_| TlsError::NoKey)?;
            Some((chain, key))
        }
        None => None,
    };
    let mut config = if spec.insecure {
        let b = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipChain::any(provider)));
        match client {
            Some((chain, key)) => b.with_client_auth_cert(chain, key)?,
            None => b.with_no_client_auth(),
        }
    } else {
        let mut roots = rustls::RootCertStore::empty();
        // Missing or unreadable system roots are not fatal: a CA file may do.
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(pem) = &spec.ca_pem {
            for cert in CertificateDer::pem_slice_iter(pem) {
                roots.add(cert?).map_err(TlsError::Ca)?;
            }
        }
        let b = builder.with_root_certificates(roots);
        match client {
            Some((chain, key)) => b.with_client_auth_cert(chain, key)?,
            None => b.with_no_client_auth(),
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Checks no certificate chain: accepts any certificate (`insecure = true`
/// for a loopback target) or exactly the one with a pinned SHA-256
/// fingerprint (a cluster master's self-signed certificate). Handshake
/// signatures are still verified, so the peer must hold the key.
#[derive(Debug)]
pub struct SkipChain {
    provider: Arc<rustls::crypto::CryptoProvider>,
    pin: Option<Vec<u8>>,
}

impl SkipChain {
    pub fn any(provider: Arc<rustls::crypto::CryptoProvider>) -> Self {
        SkipChain {
            provider,
            pin: None,
        }
    }

    pub fn pinned(provider: Arc<rustls::crypto::CryptoProvider>, sha256: Vec<u8>) -> Self {
        SkipChain {
            provider,
            pin: Some(sha256),
        }
    }
}

/// The SHA-256 of a DER certificate.
pub fn sha256(der: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .to_vec()
}

impl ServerCertVerifier for SkipChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pin {
            None => Ok(ServerCertVerified::assertion()),
            Some(pin) => {
                let got = sha256(end_entity.as_ref());
                if &got == pin {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::General(format!(
                        "the certificate's SHA-256 fingerprint is {}, not the expected {}",
                        hex(&got),
                        hex(pin)
                    )))
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
