//! TLS towards the upstream database, configured as libpq is: `sslmode` and `sslrootcert`
//! in the upstream URL.
//!
//! - `disable` (the default when no `sslmode` is given): plain TCP.
//! - `prefer`: TLS when the server accepts it, plain otherwise.
//! - `require`: TLS or no connection.
//! - `verify-ca`: TLS, and the server's certificate must chain to `sslrootcert`.
//! - `verify-full`: as `verify-ca`, and the certificate must name the upstream host.
//!
//! As in libpq, `prefer` and `require` verify the chain when `sslrootcert` is given
//! (then they behave as `verify-ca`), and skip verification only when it is not: the
//! operator asks for an unverified connection by naming no root certificate.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use tokio_rustls::rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(
                    "sslmode=allow is not supported upstream: use disable, prefer, require, verify-ca or verify-full"
                        .into(),
                )
            }
            other => return Err(format!("invalid sslmode `{other}`")),
        })
    }
}

/// The upstream's TLS settings, ready to connect.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    pub mode: SslMode,
    /// `None` for `disable`.
    pub config: Option<Arc<ClientConfig>>,
}

impl UpstreamTls {
    pub fn plain() -> UpstreamTls {
        UpstreamTls {
            mode: SslMode::Disable,
            config: None,
        }
    }

    /// Whether a server that answers `N` to the SSL request may be used in plain text.
    pub fn plain_fallback(&self) -> bool {
        self.mode == SslMode::Prefer
    }
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query or a `key=value`
/// string; returns the rest (for `tokio_postgres::Config`) and the TLS settings.
pub fn split_url(url: &str) -> Result<(String, UpstreamTls), String> {
    let mut mode = None;
    let mut root = None;
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    match pair.split_once('=') {
                        Some(("sslmode", v)) => mode = Some(percent_decode(v)?),
                        Some(("sslrootcert", v)) => root = Some(percent_decode(v)?),
                        _ => kept.push(pair),
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_string(),
        }
    } else {
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            match word.split_once('=') {
                Some(("sslmode", v)) => mode = Some(v.trim_matches('\'').to_string()),
                Some(("sslrootcert", v)) => root = Some(v.trim_matches('\'').to_string()),
                _ => kept.push(word),
            }
        }
        kept.join(" ")
    };
    let mode = match mode {
        Some(m) => SslMode::parse(&m)?,
        None => SslMode::Disable,
    };
    let tls = configure(mode, root.map(PathBuf::from))?;
    Ok((rest, tls))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoding in `{s}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` is not UTF-8"))
}

fn provider() -> Arc<CryptoProvider> {
    // ring, as for the client side (see `tls_acceptor`).
    #[allow(deprecated)]
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

/// The client configuration for `mode` with the root certificates of `root` (PEM).
pub fn configure(mode: SslMode, root: Option<PathBuf>) -> Result<UpstreamTls, String> {
    if mode == SslMode::Disable {
        return Ok(UpstreamTls::plain());
    }
    let roots = match &root {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
            let mut store = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert =
                    cert.map_err(|e| format!("sslrootcert {} is not PEM: {e}", path.display()))?;
                store
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            }
            if store.is_empty() {
                return Err(format!(
                    "sslrootcert {} holds no certificate",
                    path.display()
                ));
            }
            Some(Arc::new(store))
        }
        None if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
            return Err(format!(
                "sslmode={} needs sslrootcert=FILE (the CA certificates to trust, PEM)",
                if mode == SslMode::VerifyCa {
                    "verify-ca"
                } else {
                    "verify-full"
                }
            ))
        }
        None => None,
    };
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        Some(roots) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("sslrootcert: {e}"))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly { webpki })
            }
        }
        None => Arc::new(Unverified { algorithms }),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(UpstreamTls {
        mode,
        config: Some(Arc::new(config)),
    })
}

/// The name the certificate is checked against (`verify-full`), from the upstream host.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|_| format!("`{host}` is not a host name TLS can verify"))
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `require`/`prefer` without `sslrootcert`: encrypted, the certificate not verified (the
/// handshake's signatures still are, so the peer holds the certificate's key).
#[derive(Debug)]
struct Unverified {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_settings_come_out_of_the_url() {
        let (rest, tls) =
            split_url("postgres://u@h:5/db?sslmode=require&connect_timeout=3").unwrap();
        assert_eq!(rest, "postgres://u@h:5/db?connect_timeout=3");
        assert_eq!(tls.mode, SslMode::Require);
        assert!(tls.config.is_some());
        let (rest, tls) = split_url("postgres://u@h/db").unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(tls.mode, SslMode::Disable);
        let (rest, tls) = split_url("host=h user=u sslmode=prefer").unwrap();
        assert_eq!(rest, "host=h user=u");
        assert_eq!(tls.mode, SslMode::Prefer);
        // Verification needs the roots; a bad mode or a missing file is an error.
        assert!(split_url("postgres://u@h/db?sslmode=verify-full").is_err());
        assert!(split_url("postgres://u@h/db?sslmode=verify-ca").is_err());
        assert!(split_url("postgres://u@h/db?sslmode=bogus").is_err());
        assert!(split_url("postgres://u@h/db?sslmode=allow").is_err());
        assert!(
            split_url("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fno%2Fsuch.pem")
                .unwrap_err()
                .contains("/no/such.pem")
        );
    }
}
