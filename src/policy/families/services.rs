//! Swarm services: create and update bodies (`swarm.ServiceSpec`), the stored specs a
//! rollback runs again, and protected services.

use crate::docker::json::{Json, Object};
use crate::docker::route::OpKind;
use crate::policy::check::Checker;
use crate::policy::fields::update_config;
use crate::policy::fields::{self as f, apparmor, container_spec, host_config, log_driver};
use crate::policy::fields::{mount, network_attachment, privileges, resource_requirements};
use crate::policy::fields::{seccomp, selinux_context, service_spec, task_limit, task_spec};
use crate::policy::rules as r;
use crate::policy::{Lookup, RequestView};

/// `ServiceDelete` and `ServiceUpdate` on an existing service: protected services, and
/// the stored spec an update may roll back to.
pub(super) fn check_existing(cx: &mut Checker, req: &RequestView) {
    let op = req.op.kind;
    let Some(t) = &req.op.target else {
        return;
    };
    let known = cx.facts.services.get(t.as_str());
    cx.refer(Lookup::Service(t.clone()), known.is_none());
    let Some(Some(service)) = known else {
        return;
    };
    if cx.is_protected_object(&service.name, &service.labels) {
        cx.deny(
            r::PROTECTED_CONTAINER,
            format!("{} on the protected service {:?}", op.name(), service.name),
        );
    }
    if op != OpKind::ServiceUpdate {
        return;
    }
    // Swarm runs a stored spec instead of the body on a rollback: the previous one
    // when asked (the body is then ignored), the current one when this update fails
    // with FailureAction "rollback". Check the spec that would run.
    if req.query.get("rollback") == Some("previous") {
        if let Some(prev) = &service.previous_spec {
            cx.stored_spec(prev, "the previous spec (rollback)");
        }
    }
    let failure_action = req
        .body
        .and_then(|b| f::member(b, service_spec::UPDATE_CONFIG))
        .map(|u| f::text(u, update_config::FAILURE_ACTION));
    if failure_action == Some("rollback") {
        if let Some(spec) = &service.spec {
            cx.stored_spec(
                spec,
                "the current spec (FailureAction rollback returns to it)",
            );
        }
    }
}

impl Checker<'_> {
    /// A service spec the daemon holds and may run again (a rollback): checked as if
    /// it were sent now. One the body schema cannot read is refused.
    fn stored_spec(&mut self, spec: &serde_json::Value, label: &str) {
        let bytes = serde_json::to_vec(spec).unwrap_or_default();
        match crate::docker::json::read_body(&bytes, Some(&crate::docker::schema::SERVICE_SPEC)) {
            Ok(v) => {
                let mark = self.mark();
                self.service(&v);
                self.prefix_since(mark, label);
            }
            Err(e) => self.deny(
                r::BODY_UNREADABLE,
                format!("{label} of the service cannot be checked: {e}"),
            ),
        }
    }

    /// A `swarm.ServiceSpec` (create or update body).
    pub(super) fn service(&mut self, spec: &Json) {
        let what = "the service";
        let empty = Json::Null;
        let tt = f::member(spec, service_spec::TASK_TEMPLATE).unwrap_or(&empty);
        if f::is_present(tt, task_spec::PLUGIN_SPEC) || f::text(tt, task_spec::RUNTIME) == "plugin"
        {
            self.deny(r::SERVICE_PLUGIN, "the service runs a plugin (PluginSpec)");
        }
        if let Some(ld) = f::member(tt, task_spec::LOG_DRIVER) {
            self.log_config(
                f::text(ld, log_driver::NAME),
                f::member(ld, log_driver::OPTIONS),
                what,
            );
        }
        // Swarm resolves a target by name, id or id prefix, so the network is looked up.
        let networks = f::list(tt, task_spec::NETWORKS)
            .iter()
            .chain(f::list(spec, service_spec::NETWORKS));
        for n in networks {
            self.service_network(f::text(n, network_attachment::TARGET));
        }
        let cs = f::member(tt, task_spec::CONTAINER_SPEC).unwrap_or(&empty);
        self.image(f::text(cs, container_spec::IMAGE), what);
        self.workdir(f::text(cs, container_spec::DIR), what);
        for (n, m) in f::list(cs, container_spec::MOUNTS).iter().enumerate() {
            let ty = f::text(m, mount::TYPE);
            self.mount(m, &format!("service mount #{} ({ty})", n + 1));
        }
        self.caps(
            &f::texts(cs, container_spec::CAPABILITY_ADD),
            &f::texts(cs, container_spec::CAPABILITY_DROP),
            what,
        );
        self.sysctls(f::member(cs, container_spec::SYSCTLS), what);
        self.kernel_resources(cs, what);
        if let Some(pr) = f::member(cs, container_spec::PRIVILEGES) {
            self.service_privileges(pr);
        }
        if let Some(limits) = f::member(tt, task_spec::RESOURCES)
            .and_then(|r| f::member(r, resource_requirements::LIMITS))
        {
            // The task limits, named as a container's resources.
            let mut res = Object::new();
            for (limit, resource) in [
                (task_limit::MEMORY_BYTES, host_config::MEMORY),
                (task_limit::NANO_CPUS, host_config::NANO_CPUS),
                (task_limit::PIDS, host_config::PIDS_LIMIT),
            ] {
                if let Some(m) = f::member(limits, limit) {
                    res.insert(resource.name(), m.clone());
                }
            }
            self.resources(&Json::Object(res), what, false);
        }
    }

    fn service_network(&mut self, target: &str) {
        if self.policy.containers.allow_host_namespaces || target.is_empty() {
            return;
        }
        if target == "host" {
            self.deny(
                r::HOST_NAMESPACE,
                "the service attaches to the network \"host\"",
            );
            return;
        }
        let known = self.facts.networks.get(target);
        if !self.refer(Lookup::Network(target.to_string()), known.is_none()) {
            return;
        }
        if let Some(Some(n)) = known {
            if n.driver == "host" || n.name == "host" {
                self.deny(
                    r::HOST_NAMESPACE,
                    format!(
                        "the service attaches to the network {target:?}, which is the host network"
                    ),
                );
            }
        }
    }

    /// `ContainerSpec.Privileges`: SELinux, seccomp and AppArmor overrides.
    fn service_privileges(&mut self, pr: &Json) {
        let c = &self.policy.containers;
        let mut bad = Vec::new();
        if let Some(se) = f::member(pr, privileges::SELINUX_CONTEXT) {
            if f::flag(se, selinux_context::DISABLE)
                || [
                    selinux_context::TYPE,
                    selinux_context::USER,
                    selinux_context::ROLE,
                    selinux_context::LEVEL,
                ]
                .into_iter()
                .any(|field| f::is_set(se, field))
            {
                bad.push("SELinux context");
            }
        }
        if let Some(sc) = f::member(pr, privileges::SECCOMP) {
            match f::text(sc, seccomp::MODE) {
                "" | "default" => {}
                "custom" if c.allow_custom_seccomp => {}
                _ => bad.push("seccomp mode"),
            }
        }
        if let Some(aa) = f::member(pr, privileges::APPARMOR) {
            if !matches!(f::text(aa, apparmor::MODE), "" | "default") {
                bad.push("AppArmor mode");
            }
        }
        if !bad.is_empty() && !c.allow_unconfined_security {
            self.deny(
                r::SECURITY_OPT,
                format!("the service overrides {}", bad.join(", ")),
            );
        }
    }
}
