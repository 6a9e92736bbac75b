//! Runs one step of the pure request path N times, for counting instructions with
//! `valgrind --tool=cachegrind` (see `benches/icount.sh`): counts do not drift with the
//! VM's speed the way criterion's times do. Same inputs as `benches/decide.rs`.
//!
//! `decide_count decode|run|compose|service N`

use std::hint::black_box;

use http::Method;
use portcullis::docker::{json, schema};
use portcullis::policy::pipeline::check;
use portcullis::policy::{Facts, PolicySet, VolumeFacts};
use portcullis::tls::Identity;

include!("../benches/decide/inputs.rs");

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let set = PolicySet::builtin();
    let id = client();
    let facts = facts();
    let run = run_body();
    let compose = compose_body();
    let (target, body) = match what.as_str() {
        "decode" => {
            for _ in 0..n {
                black_box(
                    json::read_body(black_box(run.as_bytes()), Some(&schema::CONTAINER_CREATE))
                        .expect("the bench body reads"),
                );
            }
            return;
        }
        "run" => ("/v1.41/containers/create?name=web", run.as_str()),
        "compose" => ("/v1.41/containers/create", compose.as_str()),
        "service" => ("/v1.41/services/create", SERVICE_BODY),
        _ => {
            eprintln!("usage: decide_count decode|run|compose|service N");
            std::process::exit(2);
        }
    };
    for _ in 0..n {
        black_box(check(
            &set,
            &id,
            &Method::POST,
            black_box(target),
            Some(black_box(body.as_bytes())),
            &facts,
        ));
    }
}
