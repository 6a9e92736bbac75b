//! Tenants: who owns what on a shared daemon.
//!
//! A tenant is named by a key taken from the verified client identity (by default the
//! certificate's common name; a policy may choose the organisation, an organisational
//! unit, a subject alternative name, or one fixed tenant). Clients that present no
//! certificate are all one tenant, named in the policy. Ownership is the label
//! [`OWNER_LABEL`] on every object a tenant creates, stamped into the body Portcullis
//! forwards ([`stamp`]); lists are narrowed by adding that label to the daemon's own
//! `filters` ([`crate::docker::filters`]), so the daemon filters and the answer streams.
//!
//! Everything here is pure: no I/O, no daemon lookups.

pub mod access;
pub mod guard;
pub mod images;
pub mod quota;
pub mod respond;
pub mod scope;
pub mod stamp;

use serde::Deserialize;
use std::fmt;

use crate::tls::Identity;

/// The label that names an object's owning tenant.
pub const OWNER_LABEL: &str = "io.portcullis.owner";

/// The tenant of anonymous clients (plain TCP or unix listeners) unless a policy names one.
pub const DEFAULT_ANONYMOUS_TENANT: &str = "anonymous";

/// Longest tenant key accepted (it becomes a label value and part of a filter).
pub const MAX_TENANT_KEY: usize = 256;

/// The `[tenants]` table of a policy file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancyFile {
    /// Whether tenants are isolated from each other (default: yes).
    pub isolate: Option<bool>,
    /// Which part of the identity names the tenant: `common_name` (default),
    /// `organization`, `org_unit`, `san`, or `fixed` (then `name` is the tenant).
    pub key: Option<String>,
    /// The tenant of every client when `key = "fixed"`.
    pub name: Option<String>,
    /// The tenant of clients without a certificate.
    pub anonymous: Option<String>,
    /// Operator networks (by name or id) every tenant may use (join, inspect) but not
    /// change or remove.
    pub shared_networks: Option<Vec<String>>,
    /// Most containers one tenant may have (counted at create time; unset: no limit).
    pub max_containers: Option<usize>,
    /// Most volumes one tenant may have.
    pub max_volumes: Option<usize>,
    /// Most networks one tenant may have.
    pub max_networks: Option<usize>,
    /// Most swarm services one tenant may have.
    pub max_services: Option<usize>,
    /// Most memory the limits of one tenant's containers and services may add up to:
    /// bytes, or a size like `"8g"`.
    pub max_memory: Option<quota::MemorySize>,
    /// Most CPUs the limits of one tenant's containers and services may add up to.
    pub max_cpus: Option<f64>,
    /// Confine each tenant's image names to a prefix of its own: a template ending in
    /// `{tenant}/` (`"{tenant}/"`, `"registry.example.com/{tenant}/"`).
    pub image_prefix: Option<String>,
    /// Let tenants `docker load` (default: refused, PC-1047): a load can replace any
    /// image name, the operator's and other tenants' included.
    pub allow_image_load: Option<bool>,
}

/// Which part of the verified identity names the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    CommonName,
    /// The first subject organisation (O).
    Organization,
    /// The first subject organisational unit (OU).
    OrgUnit,
    /// The first subject alternative name.
    San,
    /// One tenant for every client of the policy.
    Fixed(String),
}

impl KeySource {
    pub fn describe(&self) -> String {
        match self {
            KeySource::CommonName => "the client certificate's common name".into(),
            KeySource::Organization => "the client certificate's first organization (O)".into(),
            KeySource::OrgUnit => "the client certificate's first organizational unit (OU)".into(),
            KeySource::San => "the client certificate's first subject alternative name".into(),
            KeySource::Fixed(name) => format!("the fixed tenant {name:?}"),
        }
    }
}

/// A policy's tenancy, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenancy {
    pub isolate: bool,
    pub source: KeySource,
    pub anonymous: String,
    /// Operator networks shared with every tenant (names or ids), see [`access::reach`].
    pub shared_networks: Vec<String>,
    /// Operator containers shared for `--volumes-from` only (the policy's
    /// `containers.volumes_from_allowed`), see [`access::reach`].
    pub shared_volumes_from: Vec<String>,
    pub quotas: Quotas,
    /// Where each tenant's image names live, if the policy confines them.
    pub image_prefix: Option<images::ImagePrefix>,
    /// Whether tenants may `docker load` (names inside the archive go unchecked).
    pub allow_image_load: bool,
}

/// How many objects of each kind one tenant may have; `None`: no limit. Counted from
/// the daemon (with the owner filter) when the tenant creates one, so concurrent
/// creates may overshoot by the number in flight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quotas {
    pub containers: Option<usize>,
    pub volumes: Option<usize>,
    pub networks: Option<usize>,
    pub services: Option<usize>,
    /// Memory and CPU limits summed over the tenant's containers and services.
    pub resources: quota::Limits,
}

impl Quotas {
    /// The limit on objects of `kind`, if any.
    pub fn of(&self, kind: access::Kind) -> Option<usize> {
        match kind {
            access::Kind::Container => self.containers,
            access::Kind::Volume => self.volumes,
            access::Kind::Network => self.networks,
            access::Kind::Service => self.services,
            _ => None,
        }
    }
}

impl Default for Tenancy {
    fn default() -> Self {
        Tenancy {
            isolate: true,
            source: KeySource::CommonName,
            anonymous: DEFAULT_ANONYMOUS_TENANT.to_string(),
            shared_networks: Vec::new(),
            shared_volumes_from: Vec::new(),
            quotas: Quotas::default(),
            image_prefix: None,
            allow_image_load: false,
        }
    }
}

/// A tenant key: non-empty, at most [`MAX_TENANT_KEY`] bytes, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    pub fn new(key: &str) -> Result<Tenant, String> {
        if key.is_empty() {
            return Err("a tenant key must not be empty".into());
        }
        if key.len() > MAX_TENANT_KEY {
            return Err(format!(
                "a tenant key must be at most {MAX_TENANT_KEY} bytes"
            ));
        }
        if key.chars().any(char::is_control) {
            return Err("a tenant key must not contain control characters".into());
        }
        Ok(Tenant(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a client has no tenant (its requests are refused while isolation is on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoTenant(pub String);

impl fmt::Display for NoTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TenancyFile {
    /// Validate into a [`Tenancy`], every problem reported.
    pub fn validate(self) -> Result<Tenancy, Vec<String>> {
        let mut errors = Vec::new();
        let fixed = |name: Option<String>, errors: &mut Vec<String>| match name {
            Some(n) => match Tenant::new(&n) {
                Ok(_) => n,
                Err(e) => {
                    errors.push(format!("tenants.name: {e}"));
                    n
                }
            },
            None => {
                errors.push("tenants.key = \"fixed\" needs tenants.name".into());
                String::new()
            }
        };
        let source = match self.key.as_deref().unwrap_or("common_name") {
            "common_name" => KeySource::CommonName,
            "organization" => KeySource::Organization,
            "org_unit" => KeySource::OrgUnit,
            "san" => KeySource::San,
            "fixed" => KeySource::Fixed(fixed(self.name.clone(), &mut errors)),
            other => {
                errors.push(format!(
                    "tenants.key {other:?}: expected common_name, organization, org_unit, san or fixed"
                ));
                KeySource::CommonName
            }
        };
        if self.name.is_some() && !matches!(source, KeySource::Fixed(_)) {
            errors.push("tenants.name is only read with tenants.key = \"fixed\"".into());
        }
        let anonymous = self
            .anonymous
            .unwrap_or_else(|| DEFAULT_ANONYMOUS_TENANT.to_string());
        if let Err(e) = Tenant::new(&anonymous) {
            errors.push(format!("tenants.anonymous: {e}"));
        }
        let shared_networks = self.shared_networks.unwrap_or_default();
        for (i, n) in shared_networks.iter().enumerate() {
            if n.is_empty() || n.chars().any(char::is_control) {
                errors.push(format!(
                    "tenants.shared_networks[{i}]: {n:?} is not a network name"
                ));
            }
        }
        let memory = match self.max_memory.as_ref().map(quota::MemorySize::bytes) {
            None => None,
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => {
                errors.push(format!("tenants.max_memory: {e}"));
                None
            }
        };
        let nano_cpus = match self.max_cpus {
            None => None,
            Some(c) if c.is_finite() && c > 0.0 && c < 1e9 => {
                Some((c * quota::NANO as f64).round() as i64)
            }
            Some(c) => {
                errors.push(format!(
                    "tenants.max_cpus: {c} is not a number of CPUs (like 4 or 0.5)"
                ));
                None
            }
        };
        let image_prefix = match self.image_prefix.as_deref().map(images::ImagePrefix::parse) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                errors.push(e);
                None
            }
        };
        if errors.is_empty() {
            Ok(Tenancy {
                isolate: self.isolate.unwrap_or(true),
                source,
                anonymous,
                shared_networks,
                // Set from the policy's containers.volumes_from_allowed.
                shared_volumes_from: Vec::new(),
                quotas: Quotas {
                    containers: self.max_containers,
                    volumes: self.max_volumes,
                    networks: self.max_networks,
                    services: self.max_services,
                    resources: quota::Limits { memory, nano_cpus },
                },
                image_prefix,
                allow_image_load: self.allow_image_load.unwrap_or(false),
            })
        } else {
            Err(errors)
        }
    }
}

impl Tenancy {
    /// The tenant of a client: `Ok(None)` when isolation is off.
    pub fn tenant_of(&self, id: &Identity) -> Result<Option<Tenant>, NoTenant> {
        if !self.isolate {
            return Ok(None);
        }
        let certified = id.common_name.is_some()
            || !id.organizations.is_empty()
            || !id.org_units.is_empty()
            || !id.sans.is_empty();
        let key: Option<&str> = match &self.source {
            KeySource::Fixed(name) => Some(name),
            _ if !certified => Some(&self.anonymous),
            KeySource::CommonName => id.common_name.as_deref(),
            KeySource::Organization => id.organizations.first().map(String::as_str),
            KeySource::OrgUnit => id.org_units.first().map(String::as_str),
            KeySource::San => id.sans.first().map(String::as_str),
        };
        let Some(key) = key else {
            return Err(NoTenant(format!(
                "the client certificate has no value for the tenant key ({})",
                self.source.describe()
            )));
        };
        Tenant::new(key)
            .map(Some)
            .map_err(|e| NoTenant(format!("the client's tenant key {key:?} is unusable: {e}")))
    }

    /// Isolation off (`isolate = false`); also the placeholder of a policy whose
    /// `[tenants]` table is invalid (such a policy is refused as a whole).
    pub fn off() -> Self {
        Tenancy {
            isolate: false,
            ..Tenancy::default()
        }
    }

    /// Whether the operator network named `name` or with id `id` is shared.
    pub fn shares_network(&self, name: &str, id: &str) -> bool {
        self.shared_networks
            .iter()
            .any(|s| s == name || (!id.is_empty() && s == id))
    }

    /// One line for `policy explain`: whether tenants are isolated, by what key, the
    /// anonymous tenant, shared networks and quotas; or that isolation is off.
    pub fn describe(&self) -> String {
        if !self.isolate {
            return "isolation off ([tenants] isolate = false): every client of this policy \
                    sees and touches every object, the operator's and every tenant's"
                .into();
        }
        let shared = if self.shared_networks.is_empty() {
            "none".to_string()
        } else {
            self.shared_networks.join(", ")
        };
        let mut quotas: Vec<String> = [
            ("containers", self.quotas.containers),
            ("volumes", self.quotas.volumes),
            ("networks", self.quotas.networks),
            ("services", self.quotas.services),
        ]
        .into_iter()
        .filter_map(|(what, max)| max.map(|max| format!("at most {max} {what}")))
        .collect();
        let resources = quota::describe(self.quotas.resources);
        quotas.extend(
            resources
                .split("; ")
                .filter(|p| !p.is_empty())
                .map(|p| p.trim_end_matches(" per tenant").to_string()),
        );
        let quotas = if quotas.is_empty() {
            "none".to_string()
        } else {
            format!("{} per tenant", quotas.join(", "))
        };
        let mut images = String::new();
        if let Some(p) = &self.image_prefix {
            images.push_str(&format!("; image names under {}", p.describe()));
        }
        if self.allow_image_load {
            images.push_str("; docker load allowed (any image name may be replaced)");
        }
        format!(
            "tenants isolated by {}; clients without a certificate are tenant {:?}; \
             objects without an owner label (the operator's) are hidden; \
             shared networks: {shared}; quotas: {quotas}{images}",
            self.source.describe(),
            self.anonymous
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(cn: Option<&str>, o: &[&str], ou: &[&str], san: &[&str]) -> Identity {
        Identity {
            common_name: cn.map(str::to_string),
            organizations: o.iter().map(|s| s.to_string()).collect(),
            org_units: ou.iter().map(|s| s.to_string()).collect(),
            sans: san.iter().map(|s| s.to_string()).collect(),
            ..Identity::transport("mtls")
        }
    }

    fn tenancy(toml_text: &str) -> Result<Tenancy, Vec<String>> {
        toml::from_str::<TenancyFile>(toml_text).unwrap().validate()
    }

    #[test]
    fn the_default_isolates_by_common_name() {
        let t = Tenancy::default();
        assert_eq!(tenancy("").unwrap(), t);
        let alice = cert(Some("alice"), &["acme"], &["dev"], &["alice.example"]);
        assert_eq!(t.tenant_of(&alice).unwrap().unwrap().as_str(), "alice");
        let anon = Identity::transport("unix");
        assert_eq!(t.tenant_of(&anon).unwrap().unwrap().as_str(), "anonymous");
        // A certificate without a common name has no tenant under this key.
        let no_cn = cert(None, &["acme"], &[], &[]);
        assert!(t.tenant_of(&no_cn).is_err());
        assert_eq!(
            t.describe(),
            "tenants isolated by the client certificate's common name; clients without a \
             certificate are tenant \"anonymous\"; objects without an owner label (the \
             operator's) are hidden; shared networks: none; quotas: none"
        );
        let t =
            tenancy("shared_networks = [\"proxy\"]\nmax_volumes = 3\nmax_networks = 1").unwrap();
        assert!(
            t.describe().ends_with(
                "shared networks: proxy; quotas: at most 3 volumes, at most 1 networks per tenant"
            ),
            "{}",
            t.describe()
        );
    }

    #[test]
    fn each_key_source_reads_its_field() {
        let id = cert(Some("cn"), &["o1", "o2"], &["ou1"], &["san1", "san2"]);
        for (key, want) in [
            ("common_name", "cn"),
            ("organization", "o1"),
            ("org_unit", "ou1"),
            ("san", "san1"),
        ] {
            let t = tenancy(&format!("key = {key:?}")).unwrap();
            assert_eq!(t.tenant_of(&id).unwrap().unwrap().as_str(), want, "{key}");
            // A certificate lacking that field has no tenant.
            let empty = cert(Some("x"), &[], &[], &[]);
            if key != "common_name" {
                assert!(t.tenant_of(&empty).is_err(), "{key}");
            }
        }
        let fixed = tenancy("key = \"fixed\"\nname = \"shared\"").unwrap();
        assert_eq!(fixed.tenant_of(&id).unwrap().unwrap().as_str(), "shared");
        let anon = Identity::transport("tcp");
        assert_eq!(fixed.tenant_of(&anon).unwrap().unwrap().as_str(), "shared");
        let named = tenancy("anonymous = \"local-tools\"").unwrap();
        assert_eq!(
            named.tenant_of(&anon).unwrap().unwrap().as_str(),
            "local-tools"
        );
    }

    #[test]
    fn quotas_are_read_from_the_table() {
        let t = tenancy("max_services = 3\nmax_memory = \"8g\"\nmax_cpus = 4").unwrap();
        assert_eq!(t.quotas.services, Some(3));
        assert_eq!(t.quotas.resources.memory, Some(8 << 30));
        assert_eq!(t.quotas.resources.nano_cpus, Some(4_000_000_000));
        let t = tenancy("max_memory = 1073741824\nmax_cpus = 0.5").unwrap();
        assert_eq!(t.quotas.resources.memory, Some(1 << 30));
        assert_eq!(t.quotas.resources.nano_cpus, Some(500_000_000));
        assert!(
            t.describe().contains("at most 1GiB of memory"),
            "{}",
            t.describe()
        );
        assert!(t.describe().contains("0.5 CPUs"), "{}", t.describe());
    }

    #[test]
    fn isolation_can_be_turned_off() {
        let t = tenancy("isolate = false").unwrap();
        let id = cert(Some("alice"), &[], &[], &[]);
        assert_eq!(t.tenant_of(&id).unwrap(), None);
        assert!(
            t.describe().starts_with("isolation off"),
            "{}",
            t.describe()
        );
    }

    #[test]
    fn bad_tenancy_is_refused_with_every_problem() {
        let errs = tenancy("key = \"email\"\nname = \"x\"\nanonymous = \"\"").unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(tenancy("key = \"fixed\"").is_err());
        assert!(tenancy("key = \"fixed\"\nname = \"a\\u0000b\"").is_err());
        assert!(toml::from_str::<TenancyFile>("isolated = true").is_err());
        let errs = tenancy("max_memory = \"8x\"\nmax_cpus = -1").unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(tenancy("max_cpus = 0").is_err());
        assert!(Tenant::new(&"x".repeat(MAX_TENANT_KEY + 1)).is_err());
        assert!(Tenant::new("a\nb").is_err());
        assert!(Tenant::new("Ålice=ops,1").is_ok());
    }
}
