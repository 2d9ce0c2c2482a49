//! What the server presented: certificates and negotiated parameters.

use std::time::{Duration, SystemTime};

use rustls::{CipherSuite, ProtocolVersion};

use super::verify::sha256;
use crate::error::{Error, ErrorKind, Result};

/// A certificate of the server, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Subject alternative names (DNS names and IP addresses).
    pub subject_alt_names: Vec<String>,
    /// SHA-256 of the DER certificate.
    pub sha256: [u8; 32],
}

impl CertificateInfo {
    /// Parses a DER certificate.
    pub fn parse(der: &[u8]) -> Result<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| {
            Error::new(
                ErrorKind::Certificate,
                format!("unparsable certificate: {e}"),
            )
        })?;
        let to_time = |t: x509_parser::time::ASN1Time| {
            let secs = t.timestamp();
            if secs >= 0 {
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
            } else {
                SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            }
        };
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for n in &ext.value.general_names {
                match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                    x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                        4 => {
                            let b: [u8; 4] = ip[..4].try_into().unwrap_or_default();
                            sans.push(std::net::Ipv4Addr::from(b).to_string());
                        }
                        16 => {
                            let b: [u8; 16] = ip[..16].try_into().unwrap_or_default();
                            sans.push(std::net::Ipv6Addr::from(b).to_string());
                        }
                        _ => {}
                    },
                    other => sans.push(other.to_string()),
                }
            }
        }
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: to_time(cert.validity().not_before),
            not_after: to_time(cert.validity().not_after),
            subject_alt_names: sans,
            sha256: sha256(der),
        })
    }

    /// The SHA-256 fingerprint as colon-separated upper-case hex.
    pub fn fingerprint(&self) -> String {
        self.sha256
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// TLS details of the control connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionTls {
    /// Negotiated version.
    pub version: Option<ProtocolVersion>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<CipherSuite>,
    /// The server's chain, end-entity first.
    pub peer_certificates: Vec<CertificateInfo>,
}
