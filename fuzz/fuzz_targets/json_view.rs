//! The inspect phase's Go-exact body view, differentially: the one-pass schema-driven
//! reader (as the inspect phase runs it) accepts
//! exactly what the two-pass reference (strict parse, then schema check) accepts, with
//! the same value (but for what only the reader models: repeats, the create wrapper); and whatever is accepted, the bytes forwarded upstream (its
//! re-serialisation) read back to exactly the value evaluated.
#![no_main]
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use libfuzzer_sys::fuzz_target;
use portcullis::docker::{json, schema};
use portcullis::policy::pipeline;

fuzz_target!(|data: &[u8]| {
    let schemas: [&'static schema::Obj; 5] = [
        &schema::CONTAINER_CREATE,
        &schema::SERVICE_SPEC,
        &schema::EXEC_CREATE,
        &schema::VOLUME_CREATE,
        &schema::NETWORK_CREATE,
    ];
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let obj = schemas[sel as usize % schemas.len()];
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let one = match pipeline::inspect(Some(obj), &headers, body) {
        Ok(Some(v)) => Ok(v),
        // Only whitespace: no body, nothing to compare.
        Ok(None) => return,
        Err(e) => Err(e),
    };
    let two = json::read_body_reference(body, Some(obj));
    match (&one, &two) {
        (Ok(a), Ok(b)) => assert_eq!(&a.to_value(), b, "one-pass and reference values differ"),
        (Err(_), Err(_)) => {}
        // Repeated fields and the create wrapper: only the one-pass reader models them.
        (Ok(_), Err(e))
            if e.0.contains(schema::REFERENCE_UNMODELLED) || e.0.contains("duplicate key") => {}
        _ => panic!("one-pass {one:?} vs reference {two:?}"),
    }
    if let Ok(v) = one {
        let forwarded = serde_json::to_vec(&v).expect("a checked value serialises");
        let back = pipeline::inspect(Some(obj), &headers, &forwarded)
            .expect("forwarded bytes are accepted")
            .expect("forwarded bytes are a body");
        assert_eq!(
            back, v,
            "forwarded bytes must decode to the evaluated value"
        );
    }
});
