//! Criterion benches of the pure request path (the phases the proxy serves with): the
//! classify phase, the inspect phase's Go-exact JSON view, and the whole pure path
//! (classify + inspect + decide + rewrite) for (a) a typical `docker run` create body
//! (~2 KB), (b) a large compose-generated one (~20 KB), (c) a swarm service create.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use http::Method;
use portcullis::docker::{json, schema};
use portcullis::policy::pipeline;
use portcullis::policy::pipeline::{check, Outcome};
use portcullis::policy::{Facts, PolicySet, VolumeFacts};
use portcullis::tls::Identity;

include!("decide/inputs.rs");

fn bench(c: &mut Criterion) {
    let set = PolicySet::builtin();
    let id = client();
    let facts = facts();
    let run = run_body();
    let compose = compose_body();
    // The bodies must be allowed, or the bench measures an early exit.
    for (b, target) in [
        (&run, "/v1.41/containers/create?name=web"),
        (&compose, "/v1.41/containers/create"),
        (&SERVICE_BODY.to_string(), "/v1.41/services/create"),
    ] {
        match check(&set, &id, &Method::POST, target, Some(b.as_bytes()), &facts) {
            Outcome::Decided {
                decision: portcullis::policy::Decision::Allow(v),
                ..
            } if v.is_empty() => {}
            other => panic!("bench body not allowed: {other:?}"),
        }
    }
    eprintln!(
        "body sizes: run {} B, compose {} B, service {} B",
        run.len(),
        compose.len(),
        SERVICE_BODY.len()
    );

    c.bench_function("classify", |b| {
        b.iter(|| {
            black_box(
                pipeline::classify(
                    &Method::GET,
                    black_box("/v1.41/containers/3f2a9c1b7d/logs"),
                    "",
                    pipeline::MIN_API,
                )
                .unwrap(),
            )
        })
    });
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    c.bench_function("decode run body (2 KB)", |b| {
        b.iter(|| {
            black_box(
                pipeline::inspect(
                    Some(&schema::CONTAINER_CREATE),
                    &headers,
                    black_box(run.as_bytes()),
                )
                .unwrap(),
            )
        })
    });
    c.bench_function("decode run body (2 KB), two-pass reference", |b| {
        b.iter(|| {
            black_box(
                json::read_body_reference(
                    black_box(run.as_bytes()),
                    Some(&schema::CONTAINER_CREATE),
                )
                .unwrap(),
            )
        })
    });
    c.bench_function("decide run body (2 KB)", |b| {
        b.iter(|| {
            black_box(check(
                &set,
                &id,
                &Method::POST,
                "/v1.41/containers/create?name=web",
                Some(run.as_bytes()),
                &facts,
            ))
        })
    });
    c.bench_function("decide compose body (20 KB)", |b| {
        b.iter(|| {
            black_box(check(
                &set,
                &id,
                &Method::POST,
                "/v1.41/containers/create",
                Some(compose.as_bytes()),
                &facts,
            ))
        })
    });
    c.bench_function("decide service create", |b| {
        b.iter(|| {
            black_box(check(
                &set,
                &id,
                &Method::POST,
                "/v1.41/services/create",
                Some(SERVICE_BODY.as_bytes()),
                &facts,
            ))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
