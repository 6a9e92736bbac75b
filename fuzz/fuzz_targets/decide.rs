//! The whole pure path (every phase the proxy serves with) on arbitrary requests. Input: `METHOD TARGET\n` then the body
//! (the seed corpus holds requests captured from the docker CLI, compose and the SDK).
//! Never panics; a privileged or host-network container the builtin policy accepted
//! must not exist, and an allowed request, as forwarded (rewritten target and
//! re-serialised body), is allowed again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::docker::route::OpKind;
use portcullis::policy::pipeline::{check, Outcome};
use portcullis::policy::{Decision, Facts, PolicySet};
use portcullis::tls::Identity;
use std::sync::OnceLock;

static SET: OnceLock<PolicySet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let set = SET.get_or_init(PolicySet::builtin);
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (line, body) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let (method, target) = line.split_once(' ').unwrap_or(("POST", line));
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let id = Identity::transport("mtls");
    let facts = Facts::default();
    let body = (!body.is_empty()).then_some(body);
    let out = check(set, &id, &method, target, body, &facts);
    if let Outcome::Decided {
        decision: Decision::Allow(_),
        body: Some(v),
        op,
        upstream,
        ..
    } = out
    {
        // Only a create body makes a container: the same JSON sent to another route
        // (e.g. the legacy `POST /containers/{name}/copy`, whose name may be `create`)
        // is read by dockerd as that route's type, and `HostConfig` means nothing there.
        let creates = op.kind == OpKind::ContainerCreate;
        let hc = v.get("HostConfig").filter(|_| creates);
        let privileged = hc
            .and_then(|h| h.get("Privileged"))
            .and_then(|p| p.as_bool());
        assert_ne!(
            privileged,
            Some(true),
            "allowed a privileged container: {op:?}"
        );
        let net = hc
            .and_then(|h| h.get("NetworkMode"))
            .and_then(|p| p.as_str());
        assert_ne!(net, Some("host"), "allowed host networking: {op:?}");
        // What is forwarded is the re-serialisation; it must be allowed again.
        let forwarded = serde_json::to_vec(&v).expect("a checked value serialises");
        match check(set, &id, &method, &upstream, Some(&forwarded), &facts) {
            Outcome::Decided {
                decision: Decision::Allow(_),
                ..
            } => {}
            other => panic!("forwarded body no longer allowed: {other:?}"),
        }
    }
});
