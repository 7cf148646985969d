//! The webhook's certificates: a CA of its own and a serving certificate
//! it signs for the names the API server dials, made at start (or read
//! from files); the CA's PEM is the `caBundle` the configuration needs.

use crate::WebhookError;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::IpAddr;

/// A serving certificate chain and key, with the CA that signs it.
#[derive(Debug, Clone)]
pub struct Served {
    /// The serving certificate's PEM (then the CA's, when it made it).
    pub cert_pem: String,
    /// The serving key's PEM.
    pub key_pem: String,
    /// The PEM the API server must trust (`caBundle`).
    pub ca_pem: String,
}

/// Makes a CA and a serving certificate for `names` (DNS names and IP
/// addresses). They are valid for rcgen's default span (until 4096):
/// a new pair is made at every start, so the CA never outlives the process.
pub fn generate(names: &[String]) -> Result<Served, WebhookError> {
    let bad = |e: rcgen::Error| WebhookError::Certificate(e.to_string());
    let ca_key = KeyPair::generate().map_err(bad)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "podmirror tap webhook CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, ca_key).map_err(bad)?;

    let key = KeyPair::generate().map_err(bad)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    for name in names {
        let san = match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.clone().try_into().map_err(bad)?),
        };
        params.subject_alt_names.push(san);
    }
    let cert = params.signed_by(&key, &ca).map_err(bad)?;
    Ok(Served {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_pem: ca.pem(),
    })
}

/// The rustls server configuration for a chain and key in PEM.
pub fn server_config(cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig, WebhookError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| WebhookError::Certificate(format!("the certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(WebhookError::Certificate(
            "the certificate file holds no CERTIFICATE block".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| WebhookError::Certificate(format!("the key PEM: {e}")))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| WebhookError::Certificate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            WebhookError::Certificate(format!("the certificate and key do not fit: {e}"))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
