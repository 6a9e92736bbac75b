//! Go's `encoding/json` rules for a key that names a struct field more than once, and
//! for the null that leaves a field as it was, applied to the checked body.
//!
//! `decode.go` `object()` decodes every occurrence of a field into the same Go value:
//! - a scalar (bool, number, string) is replaced; a later `null` leaves it as it was;
//! - a struct is decoded into field by field, so two objects merge (recursively);
//! - a map gains the later object's entries, each later value replacing the earlier
//!   one wholesale (map elements are decoded into a fresh zero value); a later `null`
//!   resets the map to nil (absent);
//! - a slice is replaced by the later array, and a later `null` resets it to nil.
//!   Elements are decoded into the slice's existing backing array, so a `null`
//!   element or an element that is itself an object or array would show a value left
//!   there by an earlier occurrence: those repeats are refused, since Portcullis does
//!   not keep the backing array;
//! - a later `null` for a struct field resets it when the Go field is a pointer and
//!   does nothing when it is a value; the schema does not say which, so a `null`
//!   after a value is refused there, as is any repeat of an untyped (`Any`) field.
//!
//! The merged value is what Portcullis checks and what it forwards under the canonical
//! field name, so the daemon executes exactly the checked object.

use super::json::{Json, Object};
use super::schema::Ty;

/// Merge a later occurrence `later` of a field of type `ty` into its earlier value
/// `earlier` (`Null` when the field was absent or null). `Err` names what Portcullis
/// cannot model exactly.
pub(crate) fn merge_field<'a>(
    earlier: Json<'a>,
    later: Json<'a>,
    ty: &Ty,
) -> Result<Json<'a>, String> {
    if earlier.is_null() {
        return match (later, ty) {
            // Into a zero value: the later occurrence alone, except a null element
            // of a slice, which could show the backing array's old contents.
            (Json::Array(items), Ty::List(elem)) => check_list(items, elem, false),
            (later, _) => Ok(later),
        };
    }
    match (ty, later) {
        (Ty::Bool | Ty::Int | Ty::Float | Ty::Str, Json::Null) => Ok(earlier),
        (Ty::Bool | Ty::Int | Ty::Float | Ty::Str, later) => Ok(later),
        (Ty::Map(_) | Ty::List(_), Json::Null) => Ok(Json::Null),
        (Ty::Map(_), Json::Object(entries)) => match earlier {
            Json::Object(mut into) => {
                into.extend_replacing(entries);
                Ok(Json::Object(into))
            }
            _ => Err("a repeated map field whose earlier value is not an object".into()),
        },
        (Ty::List(elem), Json::Array(items)) => check_list(items, elem, true),
        (Ty::Obj(obj), Json::Object(fields)) => match earlier {
            Json::Object(mut into) => {
                for (name, value) in fields.into_entries() {
                    let Some((_, fty)) = obj.fields.iter().find(|(n, _)| *n == name) else {
                        return Err(format!("field {name} is not in {}", obj.name));
                    };
                    let before = into.take(&name).unwrap_or(Json::Null);
                    let merged = merge_field(before, value, fty)?;
                    into.insert(name, merged);
                }
                Ok(Json::Object(into))
            }
            _ => Err("a repeated struct field whose earlier value is not an object".into()),
        },
        (Ty::Obj(obj), Json::Null) => Err(format!(
            "null after a value for the struct {}: dockerd resets it or keeps it depending on its Go type",
            obj.name
        )),
        (Ty::Any, _) => Err("an untyped field given twice (its Go merge rule is not modelled)".into()),
        // The reader has checked each occurrence against `ty`.
        (_, later) => Ok(later),
    }
}

/// A later array for a repeated slice field: accepted when every element is a non-null
/// scalar (it then replaces the slice exactly).
fn check_list<'a>(items: Vec<Json<'a>>, elem: &Ty, repeated: bool) -> Result<Json<'a>, String> {
    let scalar = matches!(elem, Ty::Bool | Ty::Int | Ty::Float | Ty::Str);
    if repeated && !scalar && !items.is_empty() {
        return Err("a repeated list of objects or lists (dockerd merges it element by element into the earlier one)".into());
    }
    if repeated && items.iter().any(Json::is_null) {
        return Err(
            "a null element in a repeated list (dockerd keeps the earlier element there)".into(),
        );
    }
    Ok(Json::Array(items))
}

/// Remove the fields that hold `null` from every struct object of `value` (Go leaves
/// such a field unset), keeping nulls in map values and list elements, where they are
/// data that the daemon decodes as zero values.
pub(crate) fn drop_null_fields(value: &mut Json<'_>, ty: &Ty) {
    match (ty, value) {
        (Ty::Obj(obj), Json::Object(fields)) => {
            fields.retain(|_, v| !v.is_null());
            for (name, v) in fields.iter_mut() {
                if let Some((_, fty)) = obj.fields.iter().find(|(n, _)| *n == name) {
                    drop_null_fields(v, fty);
                }
            }
        }
        (Ty::Map(elem), Json::Object(entries)) => {
            for (_, v) in entries.iter_mut() {
                drop_null_fields(v, elem);
            }
        }
        (Ty::List(elem), Json::Array(items)) => {
            for v in items {
                drop_null_fields(v, elem);
            }
        }
        _ => {}
    }
}

/// dockerd 20.10..28's `ContainerConfigWrapper.getHostConfig` (moby
/// `runconfig/config_unix.go`): a create body may carry HostConfig fields at its top
/// level (`top`, present when any such key was sent, even with `null`) beside or
/// instead of the `HostConfig` object, and a `Cpuset` string.
/// - Without an inner `HostConfig`, the top-level fields are the HostConfig.
/// - With one, only a non-zero top-level `Memory`, `MemorySwap`, `CpuShares`,
///   `CpusetCpus` or `VolumeDriver` is taken, where the inner one is zero; every other
///   top-level field is ignored (and not forwarded).
/// - A non-empty `Cpuset` fills an empty `CpusetCpus` of whichever HostConfig is used.
///
/// The result is left in `create["HostConfig"]` alone, so the policy checks it and the
/// daemon (of any version) receives it in the form every version reads.
pub(crate) fn apply_create_wrapper<'a>(create: &mut Object<'a>, top: Option<Object<'a>>) {
    let cpuset = create.take("Cpuset");
    let inner = match create.take("HostConfig") {
        Some(Json::Object(inner)) => Some(inner),
        _ => None,
    };
    let mut host_config = match (inner, top) {
        (None, top) => top,
        (Some(mut inner), Some(mut top)) => {
            for field in [
                "Memory",
                "MemorySwap",
                "CpuShares",
                "CpusetCpus",
                "VolumeDriver",
            ] {
                let value = top.take(field).unwrap_or(Json::Null);
                if !is_zero(&value) && inner.get(field).map_or(true, is_zero) {
                    inner.insert(field, value);
                }
            }
            Some(inner)
        }
        (Some(inner), None) => Some(inner),
    };
    if let (Some(hc), Some(cpuset)) = (host_config.as_mut(), cpuset) {
        if !is_zero(&cpuset) && hc.get("CpusetCpus").map_or(true, is_zero) {
            hc.insert("CpusetCpus", cpuset);
        }
    }
    if let Some(hc) = host_config {
        create.insert("HostConfig", Json::Object(hc));
    }
}

/// Go's zero value for the wrapper's merged fields (ints and strings); `null` leaves a
/// field at zero.
fn is_zero(v: &Json<'_>) -> bool {
    match v {
        Json::Null => true,
        Json::Number(n) => n.as_i64() == Some(0) || n.as_u64() == Some(0),
        Json::String(s) => s.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::json::read_body;
    use super::super::schema::{self, Obj, Ty};
    use serde_json::{json, Value};

    /// Every struct reachable from the request bodies Portcullis reads.
    fn all_structs() -> Vec<&'static Obj> {
        fn walk(ty: &'static Ty, out: &mut Vec<&'static Obj>) {
            match ty {
                Ty::List(t) | Ty::Map(t) => walk(t, out),
                Ty::Obj(o) if !out.iter().any(|x| std::ptr::eq(*x, *o)) => {
                    out.push(o);
                    for (_, t) in o.fields {
                        walk(t, out);
                    }
                }
                _ => {}
            }
        }
        static ROOTS: [Ty; 10] = [
            Ty::Obj(&schema::CONTAINER_CREATE),
            Ty::Obj(&schema::CONTAINER_UPDATE),
            Ty::Obj(&schema::COMMIT_CONFIG),
            Ty::Obj(&schema::EXEC_CREATE),
            Ty::Obj(&schema::EXEC_START),
            Ty::Obj(&schema::VOLUME_CREATE),
            Ty::Obj(&schema::NETWORK_CREATE),
            Ty::Obj(&schema::NETWORK_CONNECT),
            Ty::Obj(&schema::NETWORK_DISCONNECT),
            Ty::Obj(&schema::SERVICE_SPEC),
        ];
        let mut out = Vec::new();
        for root in &ROOTS {
            walk(root, &mut out);
        }
        out.push(&schema::HOST_CONFIG);
        out
    }

    /// A non-zero value of `ty`; `second` gives a different one.
    fn sample(ty: &Ty, second: bool) -> Value {
        match ty {
            Ty::Bool => json!(!second),
            Ty::Str => json!(if second { "b" } else { "a" }),
            Ty::Int => json!(if second { 2 } else { 1 }),
            Ty::Float => json!(if second { 2.5 } else { 1.5 }),
            Ty::Any => json!(if second { "any2" } else { "any" }),
            Ty::List(t) => json!([sample(t, second)]),
            Ty::Map(t) => json!({ if second { "k2" } else { "k1" }: sample(t, second) }),
            Ty::Obj(_) => json!({}),
        }
    }

    /// Spellings Go's decoder matches to `name` (ASCII case, ſ, Kelvin sign, ı, İ).
    fn spellings(name: &str) -> Vec<String> {
        let mut out = vec![name.to_lowercase(), name.to_uppercase()];
        let swap = |from: &[char], to: char| -> String {
            name.chars()
                .map(|c| if from.contains(&c) { to } else { c })
                .collect()
        };
        out.push(swap(&['s', 'S'], '\u{017F}'));
        out.push(swap(&['k', 'K'], '\u{212A}'));
        out.push(swap(&['i', 'I'], '\u{0131}'));
        out.push(swap(&['i', 'I'], '\u{0130}'));
        out.sort();
        out.dedup();
        out.retain(|s| s != name);
        out
    }

    fn read(obj: &'static Obj, body: &Value) -> Result<Value, String> {
        let bytes = serde_json::to_vec(body).unwrap();
        read_body(&bytes, Some(obj))
            .map(|v| v.to_value())
            .map_err(|e| e.0)
    }

    fn is_create(obj: &Obj) -> bool {
        std::ptr::eq(obj, &schema::CONTAINER_CREATE)
    }

    /// The whole class: every field of every struct, in every spelling Go accepts,
    /// alone and repeated after its canonical spelling, is read as Go reads it and
    /// forwarded under the canonical name.
    #[test]
    fn every_spelling_of_every_field_is_read_and_merged_as_go_does() {
        let mut checked = 0;
        for obj in all_structs() {
            for (name, ty) in obj.fields {
                if is_create(obj) && *name == "Cpuset" {
                    continue; // the wrapper's; see the wrapper test
                }
                let first = sample(ty, false);
                let second = sample(ty, true);
                for key in spellings(name) {
                    let alone = read(obj, &json!({ key.clone(): first.clone() }));
                    assert_eq!(
                        alone,
                        Ok(json!({ *name: first.clone() })),
                        "{}.{key}",
                        obj.name
                    );
                    // Canonical first, the other spelling second (Go: one field, twice).
                    let body = format!(
                        "{{{}:{first},{}:{second}}}",
                        Value::from(*name),
                        Value::from(key.as_str())
                    );
                    let got = read_body(body.as_bytes(), Some(obj)).map(|v| v.to_value());
                    let want = match ty {
                        Ty::Bool | Ty::Str | Ty::Int | Ty::Float => Some(second.clone()),
                        Ty::List(Ty::Bool | Ty::Str | Ty::Int | Ty::Float) => Some(second.clone()),
                        Ty::Map(_) => {
                            let mut m = first.as_object().unwrap().clone();
                            m.extend(second.as_object().unwrap().clone());
                            Some(Value::Object(m))
                        }
                        Ty::Obj(_) => Some(json!({})),
                        Ty::List(_) | Ty::Any => None,
                    };
                    match (want, got) {
                        (Some(w), Ok(v)) => assert_eq!(v, json!({ *name: w }), "{body}"),
                        (None, Err(e)) => assert!(e.0.contains("cannot model"), "{body}: {e}"),
                        (w, g) => panic!("{}: {body}: want {w:?}, got {g:?}", obj.name),
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    /// Every HostConfig field at the top level of a create body, with and without an
    /// inner HostConfig, in both orders: `ContainerConfigWrapper.getHostConfig`.
    #[test]
    fn top_level_host_config_fields_follow_the_wrapper() {
        const MERGED: [&str; 5] = [
            "Memory",
            "MemorySwap",
            "CpuShares",
            "CpusetCpus",
            "VolumeDriver",
        ];
        let create = &schema::CONTAINER_CREATE;
        for (name, ty) in schema::HOST_CONFIG.fields {
            let top = sample(ty, false);
            let inner = sample(ty, true);
            for key in std::iter::once(name.to_string()).chain(spellings(name)) {
                // No inner HostConfig: the top-level fields are the HostConfig.
                let got = read(create, &json!({"Image": "x", key.clone(): top.clone()}));
                assert_eq!(
                    got,
                    Ok(json!({"Image": "x", "HostConfig": { *name: top.clone() }})),
                    "{key}"
                );
                for inner_first in [true, false] {
                    let body = |hc: Value| {
                        let (a, b) = (
                            format!("\"HostConfig\":{hc}"),
                            format!("{}:{top}", Value::from(key.as_str())),
                        );
                        let (a, b) = if inner_first { (a, b) } else { (b, a) };
                        format!("{{\"Image\":\"x\",{a},{b}}}")
                    };
                    // An empty inner HostConfig takes only the five merged fields.
                    let b = body(json!({}));
                    let got = read_body(b.as_bytes(), Some(create)).unwrap().to_value();
                    let want = if MERGED.contains(name) {
                        json!({ *name: top.clone() })
                    } else {
                        json!({})
                    };
                    assert_eq!(got, json!({"Image": "x", "HostConfig": want}), "{b}");
                    // A set inner field always wins.
                    let b = body(json!({ *name: inner.clone() }));
                    let got = read_body(b.as_bytes(), Some(create)).unwrap().to_value();
                    assert_eq!(
                        got,
                        json!({"Image": "x", "HostConfig": { *name: inner.clone() }}),
                        "{b}"
                    );
                }
            }
        }
        // A zero top-level value does not replace anything; Cpuset fills an empty
        // CpusetCpus of the HostConfig in use, after the top-level CpusetCpus.
        for (body, want) in [
            (
                json!({"HostConfig": {}, "Memory": 0}),
                json!({"HostConfig": {}}),
            ),
            (
                json!({"HostConfig": {"Memory": 0}, "Memory": 5}),
                json!({"HostConfig": {"Memory": 5}}),
            ),
            (json!({"Cpuset": "0-1"}), json!({})),
            (
                json!({"Cpuset": "0-1", "HostConfig": {}}),
                json!({"HostConfig": {"CpusetCpus": "0-1"}}),
            ),
            (
                json!({"Cpuset": "0-1", "Privileged": false}),
                json!({"HostConfig": {"Privileged": false, "CpusetCpus": "0-1"}}),
            ),
            (
                json!({"Cpuset": "0-1", "HostConfig": {"CpusetCpus": "2"}}),
                json!({"HostConfig": {"CpusetCpus": "2"}}),
            ),
            (
                json!({"Cpuset": "0-1", "CpusetCpus": "3", "HostConfig": {}}),
                json!({"HostConfig": {"CpusetCpus": "3"}}),
            ),
            (json!({"Privileged": null}), json!({"HostConfig": {}})),
            (
                json!({"Privileged": true, "HostConfig": null}),
                json!({"HostConfig": {"Privileged": true}}),
            ),
            (
                json!({"privileged": true, "hostconfig": {"Privileged": false}}),
                json!({"HostConfig": {"Privileged": false}}),
            ),
        ] {
            assert_eq!(read(create, &body), Ok(want), "{body}");
        }
    }

    #[test]
    fn nulls_and_repeats_follow_go() {
        let create = &schema::CONTAINER_CREATE;
        let r = |b: &str| {
            read_body(b.as_bytes(), Some(create))
                .map(|v| v.to_value())
                .map_err(|e| e.0)
        };
        // Later null: scalars keep their value, slices and maps are reset.
        assert_eq!(
            r(r#"{"Image":"x","Image":null}"#),
            Ok(json!({"Image": "x"}))
        );
        assert_eq!(r(r#"{"Env":["A=1"],"env":null}"#), Ok(json!({})));
        assert_eq!(
            r(r#"{"Labels":{"a":"1"},"Labels":null,"Labels":{"b":"2"}}"#),
            Ok(json!({"Labels": {"b": "2"}}))
        );
        // Map keys are data (not folded) and a repeated one takes the later value.
        assert_eq!(
            r(r#"{"Labels":{"a":"1","A":"2","a":"3"}}"#),
            Ok(json!({"Labels": {"a": "3", "A": "2"}}))
        );
        // Structs merge, recursively.
        assert_eq!(
            r(
                r#"{"HostConfig":{"LogConfig":{"Type":"a"},"Binds":["v:/d"]},"HostConfig":{"logconfig":{"config":{"k":"v"}},"binds":null}}"#
            ),
            Ok(json!({"HostConfig": {"LogConfig": {"Type": "a", "Config": {"k": "v"}}}}))
        );
        // What Portcullis cannot model is refused, naming the field.
        for body in [
            r#"{"HostConfig":{},"HostConfig":null}"#,
            r#"{"Env":["A=1","B=2"],"Env":["C",null]}"#,
            r#"{"Cmd":["a"],"cmd":["b"]}"#,
            r#"{"HostConfig":{"Mounts":[{"Type":"bind"}],"Mounts":[{"Source":"/"}]}}"#,
        ] {
            let e = r(body).unwrap_err();
            assert!(e.contains("cannot model"), "{body}: {e}");
        }
    }
}
