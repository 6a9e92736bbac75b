//! Rule evaluation by resource family: the endpoint gate (unknown and denied
//! operations), then the family of the operation. Each family module holds the rules
//! of its endpoints; the container family's HostConfig rules also decide which
//! existing containers have host access (`host_access`).

mod containers;
mod exec;
mod host_access;
mod images_build;
mod networks;
mod services;
mod volumes;

use crate::docker::route::OpKind;

use super::check::Checker;
use super::model::{Mode, Policy};
use super::rules as r;
use super::{Decision, Facts, Lookup, RequestView, Violation};

impl Policy {
    fn evaluate(&self, req: &RequestView, facts: &Facts) -> (Vec<Violation>, Vec<Lookup>) {
        let mut cx = Checker::new(self, facts);
        if !endpoint_allowed(&mut cx, req) {
            return cx.finish();
        }
        let op = req.op.kind;
        // Existing objects the operation acts on.
        match op {
            OpKind::ServiceDelete | OpKind::ServiceUpdate => services::check_existing(&mut cx, req),
            OpKind::ExecStart | OpKind::ExecResize | OpKind::ExecInspect => {
                host_access::check_exec_target(&mut cx, req)
            }
            _ => host_access::check(&mut cx, req),
        }
        // The body and query, by family.
        let body = req.body;
        match op {
            OpKind::ContainerCreate => match body {
                Some(b) => containers::create(&mut cx, b),
                None => cx.deny(r::BODY_UNREADABLE, "container create needs a JSON body"),
            },
            OpKind::ContainerUpdate => {
                if let Some(b) = body {
                    containers::update(&mut cx, b);
                }
            }
            OpKind::ExecCreate => {
                if let Some(b) = body {
                    exec::create(&mut cx, b, req.op.target.as_deref());
                }
            }
            OpKind::ServiceCreate | OpKind::ServiceUpdate => match body {
                Some(b) => cx.service(b),
                None => cx.deny(
                    r::BODY_UNREADABLE,
                    "service create/update needs a JSON body",
                ),
            },
            OpKind::VolumeCreate => {
                if let Some(b) = body {
                    volumes::create(&mut cx, b);
                }
            }
            OpKind::NetworkCreate | OpKind::NetworkConnect | OpKind::NetworkDisconnect => {
                networks::check(&mut cx, req)
            }
            OpKind::Build | OpKind::ImageCreate | OpKind::Commit => {
                images_build::check(&mut cx, req)
            }
            _ => {}
        }
        // Every route that names a registry (PC-1031).
        for m in super::registry::violations(self, req) {
            cx.deny(r::REGISTRY, m);
        }
        cx.finish()
    }

    /// The decision given what is known, and what else the policy needs to know: one
    /// evaluation for both. When lookups are left, the decision is provisional (facts
    /// not fetched are taken as absent); the proxy fetches them and assesses again.
    pub fn assess(&self, req: &RequestView, facts: &Facts) -> (Decision, Vec<Lookup>) {
        let (violations, need) = self.evaluate(req, facts);
        let decision = if violations.is_empty() || self.mode == Mode::Audit {
            Decision::Allow(violations)
        } else {
            Decision::Deny(violations)
        };
        (decision, need)
    }
}

/// Unknown endpoints (PC-0001) and operations the policy denies whole (PC-0002).
fn endpoint_allowed(cx: &mut Checker, req: &RequestView) -> bool {
    let op = req.op.kind;
    if op == OpKind::Unknown {
        cx.deny(
            r::UNKNOWN_ENDPOINT,
            format!(
                "{} {} is not a Docker API endpoint Portcullis knows",
                req.method,
                req.op.target.as_deref().unwrap_or("this path")
            ),
        );
        return false;
    }
    if cx.policy.endpoints.denies(op) {
        cx.deny(
            r::ENDPOINT_DENIED,
            format!(
                "{} ({} endpoints) is not allowed",
                op.name(),
                op.group().as_str()
            ),
        );
        return false;
    }
    true
}
