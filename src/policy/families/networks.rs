//! Networks: create (drivers, options, ingress, IPAM address blocks), connect and
//! disconnect.

use crate::docker::cidr::{default_pools, host_ranges, Cidr};
use crate::docker::json::Json;
use crate::docker::route::OpKind;
use crate::policy::check::Checker;
use crate::policy::fields::network_disconnect;
use crate::policy::fields::{self as f, ipam, ipam_config, network_connect, network_create};
use crate::policy::rules as r;
use crate::policy::RequestView;

/// `POST /networks/create`, `/networks/{id}/connect` and `/disconnect`.
pub(super) fn check(cx: &mut Checker, req: &RequestView) {
    let body = req.body;
    match req.op.kind {
        OpKind::NetworkCreate => {
            if let Some(b) = body {
                create(cx, b);
            }
        }
        OpKind::NetworkConnect => {
            if req.op.target.as_deref() == Some("host")
                && !cx.policy.containers.allow_host_namespaces
            {
                cx.deny(
                    r::NETWORK_HOST,
                    "connecting to the network \"host\" is not allowed",
                );
            }
            let container = body.map(|b| f::text(b, network_connect::CONTAINER));
            if let Some(c) = container.filter(|c| !c.is_empty()) {
                cx.protected_target(c, "NetworkConnect");
            }
        }
        OpKind::NetworkDisconnect => {
            let container = body.map(|b| f::text(b, network_disconnect::CONTAINER));
            if let Some(c) = container.filter(|c| !c.is_empty()) {
                cx.protected_target(c, "NetworkDisconnect");
            }
        }
        _ => {}
    }
}

fn create(cx: &mut Checker, b: &Json) {
    let networks = &cx.policy.networks;
    let driver = match f::text(b, network_create::DRIVER) {
        "" => "bridge",
        d => d,
    };
    if !networks.drivers_allowed.iter().any(|d| d == driver) {
        cx.deny(
            r::NETWORK_DRIVER,
            format!("network driver {driver:?} is not allowed"),
        );
    }
    if f::is_set(b, network_create::OPTIONS) && !networks.allow_driver_options {
        cx.deny(r::NETWORK_DRIVER, "network driver options are not allowed");
    }
    if f::flag(b, network_create::INGRESS) && !networks.allow_ingress {
        cx.deny(r::NETWORK_DRIVER, "ingress networks are not allowed");
    }
    subnets(cx, f::member(b, network_create::IPAM), driver);
    if f::is_set(b, network_create::CONFIG_FROM) && !networks.allow_driver_options {
        cx.deny(
            r::NETWORK_DRIVER,
            "networks configured from another network (ConfigFrom) are not allowed",
        );
    }
}

/// The address blocks a new network's IPAM configuration names.
fn subnets(cx: &mut Checker, ipam_settings: Option<&Json>, driver: &str) {
    let (allowlist, allowlist_name) = if cx.policy.networks.subnet_allowlist.is_empty() {
        (
            default_pools(driver),
            "the daemon's default address pools (networks.subnet_allowlist is not set)",
        )
    } else {
        (
            cx.policy.networks.subnet_allowlist.as_slice(),
            "networks.subnet_allowlist",
        )
    };
    let host = host_ranges();
    let configs = ipam_settings
        .map(|i| f::list(i, ipam::CONFIG))
        .unwrap_or(&[]);
    for (n, cfg) in configs.iter().enumerate() {
        let mut blocks: Vec<(&str, &str)> = [
            ipam_config::SUBNET,
            ipam_config::IP_RANGE,
            ipam_config::GATEWAY,
        ]
        .into_iter()
        .map(|field| (field.name(), f::text(cfg, field)))
        .collect();
        if let Some(aux) =
            f::member(cfg, ipam_config::AUXILIARY_ADDRESSES).and_then(Json::as_object)
        {
            blocks.extend(aux.iter().map(|(_, v)| {
                (
                    ipam_config::AUXILIARY_ADDRESSES.name(),
                    v.as_str().unwrap_or(""),
                )
            }));
        }
        for (field, value) in blocks {
            if value.is_empty() {
                continue;
            }
            let what = format!("IPAM config #{} {field} {value:?}", n + 1);
            let Some(block) = Cidr::parse(value) else {
                cx.deny(
                    r::NETWORK_SUBNET,
                    format!("{what} is not an address Portcullis can read"),
                );
                continue;
            };
            if !allowlist.iter().any(|a| block.within(a)) {
                cx.deny(
                    r::NETWORK_SUBNET,
                    format!("{what} is outside {allowlist_name}"),
                );
            }
            if let Some((_, range)) = host.iter().find(|(h, _)| block.overlaps(h)) {
                cx.deny(
                    r::NETWORK_SUBNET,
                    format!("{what} overlaps the host's own range {range}"),
                );
            }
        }
    }
}
