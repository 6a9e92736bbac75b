//! The policy suites, one binary: table-driven tests of the shipped policies through the
//! pure request path (canonicalise, classify, Go-exact body view, decide).
//!
//! * `rules`: the default policy's rules, disguised JSON included;
//! * `depth`: the second-wave rules, each class over every route and field that carries it;
//! * `profiles`: the consumer profiles in `policies/profiles/` over the whole route table.

mod depth;
mod profiles;
mod rules;

use portcullis::policy::pipeline::{check, Outcome};
use portcullis::policy::{Facts, Lookup, OwnedFacts, PolicySet};
use portcullis::tenant::OWNER_LABEL;
use portcullis::tls::Identity;

/// The test client of the rule tables: the tenant `alice` under the default policy.
pub const TENANT: &str = "alice";

/// Decide a request of client CN=alice as the proxy does with a daemon on which every
/// object the request names is alice's own: the given facts' containers and services
/// carry her owner label, and each volume, network, task, secret or config the policy
/// asks about is answered as hers. The rule tables test the host-access rules of the
/// default policy, which isolates tenants; this keeps them about those rules, applied
/// to objects the client may use (tenancy itself is tested in `src/tenant` and the
/// e2e `tenants` suite).
pub fn check_as_owner<'b>(
    set: &PolicySet,
    method: &http::Method,
    target: &str,
    body: Option<&'b [u8]>,
    facts: &Facts,
) -> Outcome<'b> {
    let id = Identity {
        common_name: Some(TENANT.into()),
        ..Identity::transport("mtls")
    };
    let mut facts = facts.clone();
    let mine = |labels: &mut std::collections::HashMap<String, String>| {
        labels
            .entry(OWNER_LABEL.to_string())
            .or_insert_with(|| TENANT.to_string());
    };
    for c in facts.containers.values_mut().flatten() {
        mine(&mut c.labels);
    }
    for s in facts.services.values_mut().flatten() {
        mine(&mut s.labels);
    }
    for o in facts.owned.values_mut().flatten() {
        mine(&mut o.labels);
    }
    loop {
        let out = check(set, &id, method, target, body, &facts);
        let Outcome::Decided { lookups, .. } = &out else {
            return out;
        };
        let owned: Vec<_> = lookups
            .iter()
            .filter_map(|l| match l {
                Lookup::Owned(kind, name) => Some((*kind, name.clone())),
                _ => None,
            })
            .collect();
        if owned.is_empty() {
            return out;
        }
        for (kind, name) in owned {
            let mut labels = std::collections::HashMap::new();
            mine(&mut labels);
            facts.owned.insert(
                (kind, name.clone()),
                Some(OwnedFacts {
                    id: name.clone(),
                    name,
                    labels,
                }),
            );
        }
    }
}
