//! Throw-away certificates for the real binary and its clients, made with rcgen: a CA,
//! a server certificate for `localhost`/`127.0.0.1` and client identities in the
//! docker `DOCKER_CERT_PATH` layout.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// The common name of the test CA.
pub const CA_NAME: &str = "Portcullis Test CA";

/// A throw-away PKI: CA, server certificate and client identities.
pub struct TestCerts {
    pub dir: PathBuf,
    pub ca_pem: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// `<dir>/client-<cn>/{ca.pem,cert.pem,key.pem}` for the first client.
    pub client_dir: PathBuf,
    /// The server's private key, PEM (what must never reach a log).
    pub server_key_pem: String,
    /// The CA's private key, PEM.
    pub ca_key_pem: String,
    ca_cert: Certificate,
    ca_key: KeyPair,
}

/// A client certificate and its key, PEM.
pub struct ClientId {
    pub cert_pem: String,
    pub key_pem: String,
}

/// When a client certificate is valid.
pub enum Validity {
    Current,
    Expired,
    NotYetValid,
}

fn write_file(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn dn(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    if let Some(org) = org {
        name.push(DnType::OrganizationName, org);
    }
    name
}

fn new_ca(cn: &str) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().expect("generate CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name = dn(cn, Some("Portcullis tests"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-sign CA");
    (cert, key)
}

fn client_cert(
    cn: &str,
    validity: Validity,
    ca_cert: &Certificate,
    ca_key: &KeyPair,
) -> (String, String) {
    let key = KeyPair::generate().expect("generate client key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    params.distinguished_name = dn(cn, Some("tenants"));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    match validity {
        Validity::Current => {}
        Validity::Expired => {
            params.not_before = rcgen::date_time_ymd(2001, 1, 1);
            params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        }
        Validity::NotYetValid => {
            params.not_before = rcgen::date_time_ymd(2090, 1, 1);
            params.not_after = rcgen::date_time_ymd(2091, 1, 1);
        }
    }
    let cert = params
        .signed_by(&key, ca_cert, ca_key)
        .expect("sign client cert");
    (cert.pem(), key.serialize_pem())
}

impl TestCerts {
    /// Generate a CA, a server certificate (SANs `localhost`, `127.0.0.1`) and
    /// a client identity `client_cn` (O = tenants) into `dir`.
    pub fn generate(dir: &Path, client_cn: &str) -> TestCerts {
        fs::create_dir_all(dir).expect("create certs dir");
        let (ca_cert, ca_key) = new_ca(CA_NAME);
        let ca_pem = dir.join("ca.pem");
        write_file(&ca_pem, &ca_cert.pem());

        let server_key_pair = KeyPair::generate().expect("generate server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        params.distinguished_name = dn("localhost", Some("Portcullis tests"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params
            .signed_by(&server_key_pair, &ca_cert, &ca_key)
            .expect("sign server cert");
        let server_cert = dir.join("server-cert.pem");
        let server_key = dir.join("server-key.pem");
        write_file(&server_cert, &server.pem());
        let server_key_pem = server_key_pair.serialize_pem();
        write_file(&server_key, &server_key_pem);

        let mut certs = TestCerts {
            dir: dir.to_path_buf(),
            ca_pem,
            server_cert,
            server_key,
            client_dir: PathBuf::new(),
            server_key_pem,
            ca_key_pem: ca_key.serialize_pem(),
            ca_cert,
            ca_key,
        };
        certs.client_dir = certs.add_client(client_cn);
        certs
    }

    /// A new client certificate for `cn` (O = tenants) from the test CA, with the
    /// given validity, as PEM.
    pub fn client(&self, cn: &str, validity: Validity) -> ClientId {
        let (cert_pem, key_pem) = client_cert(cn, validity, &self.ca_cert, &self.ca_key);
        ClientId { cert_pem, key_pem }
    }

    /// A current certificate for `cn` from a CA the proxy does not trust, whose
    /// common name is `ca_name` (which may be [`CA_NAME`]), as PEM.
    pub fn rogue_client(&self, cn: &str, ca_name: &str) -> ClientId {
        let (ca, key) = new_ca(ca_name);
        let (cert_pem, key_pem) = client_cert(cn, Validity::Current, &ca, &key);
        ClientId { cert_pem, key_pem }
    }

    /// Issue another client identity; returns its docker-layout directory
    /// `<dir>/client-<cn>/` holding `ca.pem`, `cert.pem`, `key.pem`.
    pub fn add_client(&self, cn: &str) -> PathBuf {
        let (cert, key) = client_cert(cn, Validity::Current, &self.ca_cert, &self.ca_key);
        self.write_client_dir(&format!("client-{cn}"), &cert, &key)
    }

    /// A client identity signed by a CA the proxy does NOT trust (the
    /// directory's `ca.pem` is still the real CA, so the client itself accepts
    /// the server and the refusal must come from the proxy). Returns
    /// `<dir>/untrusted-<cn>/`.
    pub fn untrusted_client(&self, cn: &str) -> PathBuf {
        let (rogue_ca, rogue_key) = new_ca("Rogue CA");
        let (cert, key) = client_cert(cn, Validity::Current, &rogue_ca, &rogue_key);
        self.write_client_dir(&format!("untrusted-{cn}"), &cert, &key)
    }

    fn write_client_dir(&self, name: &str, cert: &str, key: &str) -> PathBuf {
        let dir = self.dir.join(name);
        fs::create_dir_all(&dir).expect("create client dir");
        write_file(&dir.join("ca.pem"), &self.ca_cert.pem());
        write_file(&dir.join("cert.pem"), cert);
        write_file(&dir.join("key.pem"), key);
        let _ = fs::set_permissions(dir.join("key.pem"), fs::Permissions::from_mode(0o600));
        dir
    }
}
