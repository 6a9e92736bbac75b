//! Certificates for a quick start: a CA, a server certificate, and client bundles in
//! the layout the docker CLI reads from `DOCKER_CERT_PATH` (`ca.pem`, `cert.pem`,
//! `key.pem`). The client certificate's CN and O are the identity the policy sees.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{0}: already exists (use --force to overwrite)")]
    Exists(PathBuf),
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("certificate generation: {0}")]
    Gen(#[from] rcgen::Error),
    #[error("{0}")]
    Other(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |err| CertError::Io {
        path: path.to_path_buf(),
        err,
    }
}

fn write_file(path: &Path, data: &str, mode: u32, force: bool) -> Result<(), CertError> {
    if path.exists() && !force {
        return Err(CertError::Exists(path.to_path_buf()));
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data.as_bytes()).map_err(io_err(path))?;
    Ok(())
}

/// File names inside a certificate directory.
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const SERVER_CERT: &str = "server-cert.pem";
pub const SERVER_KEY: &str = "server-key.pem";

/// The host names of a server certificate when none are given: localhost, 127.0.0.1
/// and this host's name.
pub fn default_hosts() -> Vec<String> {
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(name) = fs::read_to_string("/etc/hostname") {
        let name = name.trim().to_string();
        if !name.is_empty() && !hosts.contains(&name) {
            hosts.push(name);
        }
    }
    hosts
}

/// Create a CA and a server certificate for `hosts` (DNS names or IPs) in `dir`.
pub fn init(dir: &Path, hosts: &[String], force: bool) -> Result<(), CertError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    for f in [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY] {
        if dir.join(f).exists() && !force {
            return Err(CertError::Exists(dir.join(f)));
        }
    }
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Portcullis CA");
    dn.push(DnType::OrganizationName, "Portcullis");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;

    let server_key = KeyPair::generate()?;
    let mut sp = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        hosts.first().map(String::as_str).unwrap_or("localhost"),
    );
    sp.distinguished_name = dn;
    for h in hosts {
        let san = match h.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                h.clone()
                    .try_into()
                    .map_err(|e| CertError::Other(format!("invalid host name {h:?}: {e}")))?,
            ),
        };
        sp.subject_alt_names.push(san);
    }
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let issuer = rcgen::CertifiedKey {
        cert: ca_cert,
        key_pair: ca_key,
    };
    let server_cert = sp.signed_by(&server_key, &issuer.cert, &issuer.key_pair)?;
    write_file(&dir.join(CA_CERT), &issuer.cert.pem(), 0o644, force)?;
    write_file(
        &dir.join(CA_KEY),
        &issuer.key_pair.serialize_pem(),
        0o600,
        force,
    )?;
    write_file(&dir.join(SERVER_CERT), &server_cert.pem(), 0o644, force)?;
    write_file(
        &dir.join(SERVER_KEY),
        &server_key.serialize_pem(),
        0o600,
        force,
    )?;
    Ok(())
}

fn load_ca(dir: &Path) -> Result<(rcgen::Certificate, KeyPair), CertError> {
    let key_pem = fs::read_to_string(dir.join(CA_KEY)).map_err(io_err(&dir.join(CA_KEY)))?;
    let cert_pem = fs::read_to_string(dir.join(CA_CERT)).map_err(io_err(&dir.join(CA_CERT)))?;
    let key = KeyPair::from_pem(&key_pem)?;
    let params = CertificateParams::from_ca_cert_pem(&cert_pem)?;
    let cert = params.self_signed(&key)?;
    Ok((cert, key))
}

/// Issue a client bundle `DIR/clients/NAME/{ca,cert,key}.pem`; returns its directory.
pub fn client(
    dir: &Path,
    name: &str,
    org: Option<&str>,
    force: bool,
) -> Result<PathBuf, CertError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
    {
        return Err(CertError::Other(format!(
            "client name {name:?}: use letters, digits, '-', '_', '.', '@'"
        )));
    }
    let (ca_cert, ca_key) = load_ca(dir)?;
    let out = client_dir(dir, name);
    fs::create_dir_all(&out).map_err(io_err(&out))?;
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    p.distinguished_name = dn;
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, &ca_cert, &ca_key)?;
    let ca_pem = fs::read_to_string(dir.join(CA_CERT)).map_err(io_err(&dir.join(CA_CERT)))?;
    write_file(&out.join("ca.pem"), &ca_pem, 0o644, force)?;
    write_file(&out.join("cert.pem"), &cert.pem(), 0o644, force)?;
    write_file(&out.join("key.pem"), &key.serialize_pem(), 0o600, force)?;
    Ok(out)
}

pub fn client_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join("clients").join(name)
}
