//! Certificate verification: chain and host name, an optional pin, or the
//! explicitly named opt-out.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, ErrorKind, Result};

/// The server's certificate does not match the configured pin.
#[derive(Debug)]
struct PinMismatch {
    /// SHA-256 of the certificate the server presented.
    fingerprint: String,
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server's certificate does not match the pinned SHA-256 (it presented a certificate with SHA-256 {})",
            self.fingerprint
        )
    }
}

impl std::error::Error for PinMismatch {}

/// A SHA-256 pin of the server's end-entity certificate or public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pin {
    /// SHA-256 of the whole certificate (DER).
    Certificate([u8; 32]),
    /// SHA-256 of the SubjectPublicKeyInfo (DER), which survives renewals
    /// with the same key.
    PublicKey([u8; 32]),
}

impl Pin {
    /// Parses 64 hex digits (colons allowed, as `openssl x509 -fingerprint`
    /// prints them) as a certificate pin.
    pub fn certificate_from_hex(hex: &str) -> Result<Self> {
        Ok(Pin::Certificate(parse_sha256_hex(hex)?))
    }

    /// Parses 64 hex digits as a public-key pin.
    pub fn public_key_from_hex(hex: &str) -> Result<Self> {
        Ok(Pin::PublicKey(parse_sha256_hex(hex)?))
    }

    fn matches(&self, end_entity: &CertificateDer<'_>) -> bool {
        match self {
            Pin::Certificate(want) => sha256(end_entity) == *want,
            Pin::PublicKey(want) => x509_parser::parse_x509_certificate(end_entity)
                .map(|(_, c)| sha256(c.tbs_certificate.subject_pki.raw) == *want)
                .unwrap_or(false),
        }
    }
}

fn parse_sha256_hex(hex: &str) -> Result<[u8; 32]> {
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    let bad = || Error::new(ErrorKind::InvalidArgument, "a SHA-256 pin is 64 hex digits");
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(digits.chunks(2)) {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        *slot = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// SHA-256 of bytes.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A verifier that adds a pin check to a chain verifier, or to nothing at
/// all in `DangerAcceptInvalidCertificates` mode.
#[derive(Debug)]
pub(crate) struct Verifier {
    pub(crate) chain: Option<Arc<WebPkiServerVerifier>>,
    pub(crate) pin: Option<Pin>,
    pub(crate) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(v) = &self.chain {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        if let Some(pin) = &self.pin {
            if !pin.matches(end_entity) {
                let fingerprint = sha256(end_entity)
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(":");
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch {
                        fingerprint,
                    }))),
                ));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
