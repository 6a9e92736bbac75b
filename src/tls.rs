//! TLS: the server side (with mutual TLS, the client certificate is the tenant's
//! identity, as with dockerd's `--tlsverify`) and the client side towards a remote
//! daemon or Swarm manager.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Who is calling: taken only from the verified client certificate (or the transport).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Subject common name of the verified client certificate.
    pub common_name: Option<String>,
    /// Subject organisations (O).
    pub organizations: Vec<String>,
    /// Subject organisational units (OU).
    pub org_units: Vec<String>,
    /// Subject alternative names (DNS names, e-mail addresses, URIs, IPs).
    pub sans: Vec<String>,
    /// How the client reached us: `mtls`, `tls`, `tcp` (no TLS) or `unix`.
    pub transport: &'static str,
    /// Unix-socket clients: the connecting process's user, group and process id as the
    /// kernel reports them (`SO_PEERCRED`, taken when the connection was made).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pid: Option<i32>,
    /// The policy named by the listener the client connected to (`?policy=NAME`); it
    /// takes precedence over every `[identities]` match.
    pub listener_policy: Option<Arc<str>>,
}

impl Identity {
    pub fn transport(transport: &'static str) -> Self {
        Identity {
            transport,
            ..Default::default()
        }
    }

    /// A short name for logs: the CN, else the transport.
    pub fn name(&self) -> &str {
        self.common_name.as_deref().unwrap_or(self.transport)
    }

    /// A unix-socket client with the kernel's peer credentials (`SO_PEERCRED`).
    pub fn unix_peer(uid: u32, gid: u32, pid: Option<i32>) -> Self {
        Identity {
            uid: Some(uid),
            gid: Some(gid),
            pid,
            ..Identity::transport("unix")
        }
    }

    /// Read subject CN, O, OU and SANs from a verified end-entity certificate.
    pub fn from_certificate(der: &[u8]) -> Self {
        let mut id = Identity::transport("mtls");
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return id;
        };
        let subject = cert.subject();
        id.common_name = subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string);
        id.organizations = subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect();
        id.org_units = subject
            .iter_organizational_unit()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            use x509_parser::extensions::GeneralName;
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(s) => id.sans.push(format!("DNS:{s}")),
                    GeneralName::RFC822Name(s) => id.sans.push(format!("email:{s}")),
                    GeneralName::URI(s) => id.sans.push(format!("URI:{s}")),
                    GeneralName::IPAddress(b) => {
                        let ip = match b.len() {
                            4 => <[u8; 4]>::try_from(*b).map(std::net::IpAddr::from).ok(),
                            16 => <[u8; 16]>::try_from(*b).map(std::net::IpAddr::from).ok(),
                            _ => None,
                        };
                        if let Some(ip) = ip {
                            id.sans.push(format!("IP:{ip}"));
                        }
                    }
                    _ => {}
                }
            }
        }
        id
    }
}

/// Errors while loading certificates and keys.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client CA: {0}")]
    Verifier(String),
}

fn file_err(path: &Path, message: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        message: message.into(),
    }
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = fs::read(path).map_err(|e| file_err(path, e.to_string()))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(
            path,
            "no certificate found (expected PEM \"CERTIFICATE\")",
        ));
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = fs::read(path).map_err(|e| file_err(path, e.to_string()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| file_err(path, format!("invalid PEM: {e}")))?
        .ok_or_else(|| file_err(path, "no private key found"))
}

fn root_store(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| file_err(path, format!("bad CA certificate: {e}")))?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Server TLS: certificate and key; with `client_ca`, client certificates are
/// required and verified against it (mutual TLS).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(ca)?), provider())
                    .build()
                    .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(load_certs(cert)?, load_key(key)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Client TLS towards the upstream daemon: its CA, and optionally our client certificate.
pub fn client_config(
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = match ca {
        Some(ca) => root_store(ca)?,
        None => {
            return Err(TlsError::Verifier(
                "an upstream CA (--upstream-tls-ca) is required for a TLS upstream".into(),
            ))
        }
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match (cert, key) {
        (Some(c), Some(k)) => builder.with_client_auth_cert(load_certs(c)?, load_key(k)?)?,
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(TlsError::Verifier(
                "upstream client certificate and key must be given together".into(),
            ))
        }
    };
    Ok(Arc::new(config))
}

/// The TLS server name for a host string.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_string())
        .map_err(|e| TlsError::Verifier(format!("invalid upstream host name {host:?}: {e}")))
}

/// The server TLS configuration, swappable at run time: new handshakes use the newest
/// certificates, established connections keep theirs.
pub struct ReloadableTls {
    current: std::sync::RwLock<Arc<ServerConfig>>,
}

impl ReloadableTls {
    pub fn new(config: Arc<ServerConfig>) -> Self {
        ReloadableTls {
            current: std::sync::RwLock::new(config),
        }
    }

    pub fn get(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn set(&self, config: Arc<ServerConfig>) {
        match self.current.write() {
            Ok(mut g) => *g = config,
            Err(p) => *p.into_inner() = config,
        }
    }
}
