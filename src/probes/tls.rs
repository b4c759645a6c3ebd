//! TLS checks: how long until the certificate a server presents expires.
//! The handshake verifies it as a browser would (public roots, plus the
//! check's own `ca_file`); the certificate is read even when verification
//! fails, so an expired one is reported with its date, not just "invalid".

use super::{Finding, Kind};
use crate::fields::NonEmpty;
use crate::kind_keys::{BadKeys, Files, keys};
use crate::status::{CheckKind, Health};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use toml::Spanned;
use toml::de::ValueDeserializer;

const DAY_SECS: i64 = 86_400;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSpec {
    pub(crate) host: NonEmpty,
    #[serde(default = "https_port")]
    pub(crate) port: u16,
    /// The name to verify, when it differs from `host` (an IP address, say).
    pub(crate) server_name: Option<NonEmpty>,
    /// Fewer days than this before expiry is `degraded`.
    #[serde(default = "two_weeks")]
    pub(crate) warn_days: u32,
    /// A PEM file of extra trusted roots (a private CA, a self-signed
    /// certificate), on top of the usual public ones. Relative to the
    /// config file.
    pub(crate) ca_file: Option<Spanned<PathBuf>>,
    /// Read from `ca_file` when the config loads.
    #[serde(skip)]
    pub(crate) extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

fn https_port() -> u16 {
    443
}

pub(crate) fn two_weeks() -> u32 {
    14
}

pub(crate) struct TlsProbe {
    address: String,
    certificate: CertificateCheck,
}

/// A TLS client that verifies as a browser would (public roots, plus a
/// check's own `ca_file`) and judges the certificate it was shown by its
/// expiry: what the `tls` kind does alone, and the mail kinds after their
/// greeting (STARTTLS) or before it (implicit TLS).
pub(crate) struct CertificateCheck {
    server_name: ServerName<'static>,
    warn_days: u32,
    connector: TlsConnector,
    presented: Arc<Presented>,
}

/// The end-entity certificate of the newest handshake, kept by the verifier.
#[derive(Debug, Default)]
struct Presented(Mutex<Option<CertificateDer<'static>>>);

impl Presented {
    fn take(&self) -> Option<CertificateDer<'static>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl CertificateCheck {
    /// For a server called `name`, trusting `extra_roots` too; degraded
    /// under `warn_days` days to expiry.
    pub(crate) fn new(
        name: &str,
        extra_roots: &[CertificateDer<'static>],
        warn_days: u32,
    ) -> Result<Self, String> {
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|_| format!("`{name}` is neither a host name nor an IP address"))?;
        let presented = Arc::new(Presented::default());
        let config = client_config(extra_roots, presented.clone())?;
        Ok(CertificateCheck {
            server_name,
            warn_days,
            connector: TlsConnector::from(Arc::new(config)),
            presented,
        })
    }

    /// The handshake over `stream`: what the certificate is worth, and
    /// the encrypted stream when the handshake succeeded.
    pub(crate) async fn handshake<S>(&self, stream: S) -> (Finding, Option<TlsStream<S>>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.presented.take();
        let handshake = self.connector.connect(self.server_name.clone(), stream).await;
        let expiry = self.presented.take().and_then(|der| not_after(&der));
        match handshake {
            Ok(tls) => match expiry {
                Some(not_after) => (self.judge_valid(not_after), Some(tls)),
                None => (
                    Finding::down("the certificate's expiry date cannot be read"),
                    Some(tls),
                ),
            },
            Err(error) => (describe_failure(&error, expiry), None),
        }
    }

    fn judge_valid(&self, not_after: i64) -> Finding {
        let days = days_until(not_after);
        let date = date_of(not_after);
        if days < i64::from(self.warn_days) {
            Finding::new(
                Health::Degraded,
                format!(
                    "certificate expires in {days} days ({date}), under {} days",
                    self.warn_days
                ),
            )
        } else {
            Finding::new(
                Health::Up,
                format!("certificate valid for {days} more days (until {date})"),
            )
        }
    }
}

impl Kind for TlsProbe {
    const NAME: &'static str = "tls";
    const CHECK_KIND: CheckKind = CheckKind::Tls;
    type Spec = TlsSpec;

    fn read(said: ValueDeserializer<'_>, files: &Files<'_>) -> Result<TlsSpec, BadKeys> {
        let mut spec: TlsSpec = keys(said)?;
        validate_server_name(&spec.server_name.as_ref().unwrap_or(&spec.host).0)?;
        spec.extra_roots = read_roots(&spec.ca_file, files)?;
        Ok(spec)
    }

    fn probe(spec: &TlsSpec) -> Result<Self, String> {
        let name = &spec.server_name.as_ref().unwrap_or(&spec.host).0;
        Ok(TlsProbe {
            address: format!("{}:{}", spec.host.0, spec.port),
            certificate: CertificateCheck::new(name, &spec.extra_roots, spec.warn_days)?,
        })
    }

    async fn run(&self) -> Finding {
        match TcpStream::connect(&self.address).await {
            Ok(tcp) => self.certificate.handshake(tcp).await.0,
            Err(e) => Finding::failed(&e, || format!("could not connect to {}: {e}", self.address)),
        }
    }
}

/// A client configuration that verifies as a browser would, trusting
/// `extra_roots` too: for kinds that speak TLS through a library of their
/// own (WebSocket).
pub(crate) fn verifying_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, String> {
    client_config(extra_roots, Arc::new(Presented::default()))
}

/// The roots of a check's `ca_file`, if it names one.
pub(crate) fn read_roots(
    ca_file: &Option<Spanned<PathBuf>>,
    files: &Files<'_>,
) -> Result<Vec<CertificateDer<'static>>, BadKeys> {
    match ca_file {
        Some(file) => files(file.get_ref()).map_err(|e| BadKeys::At(file.span(), e)),
        None => Ok(Vec::new()),
    }
}

/// A name no certificate can match is refused with the config.
pub(crate) fn validate_server_name(name: &str) -> Result<(), String> {
    rustls::pki_types::ServerName::try_from(name)
        .map(|_| ())
        .map_err(|_| {
            format!(
                "`{name}` is neither a host name nor an IP address, so no certificate can match it"
            )
        })
}

fn describe_failure(error: &std::io::Error, expiry: Option<i64>) -> Finding {
    Finding::failed(error, || judge_failure(error, expiry))
}

/// Why a handshake failed, in the words of the certificate's problem when
/// it has one.
pub(crate) fn judge_failure(error: &std::io::Error, expiry: Option<i64>) -> String {
    let tls_error = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match (tls_error, expiry) {
        (Some(rustls::Error::InvalidCertificate(CertificateError::Expired)), Some(not_after))
        | (
            Some(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })),
            Some(not_after),
        ) => format!(
            "certificate expired {} days ago ({})",
            -days_until(not_after),
            date_of(not_after)
        ),
        (Some(rustls::Error::InvalidCertificate(why)), _) => {
            format!("certificate not valid: {}", plain(why))
        }
        (Some(other), _) => format!("TLS handshake failed: {other}"),
        (None, _) => format!("TLS handshake failed: {error}"),
    }
}

/// rustls' words for the common cases, in the terms people use.
fn plain(why: &CertificateError) -> String {
    match why {
        CertificateError::UnknownIssuer => "issued by an untrusted authority (self-signed?)".into(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "issued for another name".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "not valid yet".into()
        }
        CertificateError::Revoked => "revoked".into(),
        other => format!("{other:?}"),
    }
}

fn client_config(
    extra_roots: &[CertificateDer<'static>],
    presented: Arc<Presented>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra_roots {
        roots
            .add(root.clone())
            .map_err(|e| format!("a certificate in ca_file cannot be a root: {e}"))?;
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Keeping {
            inner: verifier,
            presented,
        }))
        .with_no_client_auth();
    Ok(config)
}

/// The standard verifier, which also keeps the certificate it was shown.
/// It decides nothing itself: every verdict is WebPKI's.
#[derive(Debug)]
struct Keeping {
    inner: Arc<WebPkiServerVerifier>,
    presented: Arc<Presented>,
}

impl ServerCertVerifier for Keeping {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.presented.0.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(end_entity.clone().into_owned());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The certificate's `notAfter`, in seconds since the Unix epoch.
fn not_after(der: &CertificateDer<'_>) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

fn days_until(unix_secs: i64) -> i64 {
    let now = crate::clock::unix_millis() as i64 / 1000;
    (unix_secs - now).div_euclid(DAY_SECS)
}

/// `2027-03-01`, in UTC.
fn date_of(unix_secs: i64) -> String {
    x509_parser::time::ASN1Time::from_timestamp(unix_secs).map_or_else(
        |_| format!("{unix_secs} s after 1970"),
        |t| t.to_datetime().date().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_calendar_dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(951_782_400), "2000-02-29");
        assert_eq!(date_of(1_798_675_200), "2026-12-31");
    }
}
