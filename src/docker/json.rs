//! Reading request bodies as dockerd's Go `encoding/json` reads them, so that
//! Portcullis and dockerd see one object.
//!
//! The rule: **accept every spelling Go accepts, merge as Go merges, forward the
//! canonical form.** An object key names a struct field when it equals the field's
//! name, else when it folds equal (`fold.go`: ASCII case, ſ, Kelvin sign, ı, İ; see
//! [`schema::go_fold_eq`]); it is forwarded under the canonical name. A field named
//! twice, in any spellings, is merged in order as `decode.go` `object()` does (see
//! [`super::merge`]: scalars replaced, structs merged field-wise, maps extended, later
//! `null` a no-op for scalars); what Portcullis cannot model exactly is refused. Keys of
//! maps (Labels, DriverOpts, …) are data: kept as given, a repeated one takes the later
//! value. The create body's top-level HostConfig fields follow dockerd's wrapper
//! ([`super::merge::apply_create_wrapper`]). Trailing data, a BOM, invalid UTF-8, keys
//! no daemon version knows and repeated keys in untyped (`Any`) subtrees are refused.
//! The proxy forwards the re-serialisation of the checked value, never the client's
//! bytes, so the daemon executes exactly the object the policy checked.

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

pub use super::value::{Json, Object};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use super::merge;
use super::schema::{self, Obj, Ty};

/// Why a JSON body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A JSON value read with duplicate-key refusal.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let Strict(v) = access.next_value()?;
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key {key:?}: repeated keys are ambiguous (dockerd merges them)"
                )));
            }
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

/// Parse a body as exactly one JSON value with no repeated keys and nothing after it.
pub fn parse_strict(body: &[u8]) -> Result<Value, JsonError> {
    if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(JsonError("body starts with a byte-order mark".into()));
    }
    let mut de = serde_json::Deserializer::from_str(utf8(body)?);
    let Strict(v) = Strict::deserialize(&mut de).map_err(|e| JsonError(e.to_string()))?;
    de.end()
        .map_err(|_| JsonError("unexpected data after the JSON value".into()))?;
    Ok(v)
}

/// The body as text. Validating it once up front lets the parser borrow every string
/// without checking each one again.
fn utf8(body: &[u8]) -> Result<&str, JsonError> {
    std::str::from_utf8(body).map_err(|e| {
        JsonError(format!(
            "body is not valid UTF-8 (byte {})",
            e.valid_up_to() + 1
        ))
    })
}

/// Parse strictly and check against a schema: the value to evaluate and forward, borrowing
/// from `body`. Without a schema the body may be any JSON value (repeated keys are still
/// refused).
///
/// One pass: the parser is driven by the schema, so each key is matched to its field
/// as it is read (a table of seen fields replaces hashing for duplicate detection),
/// struct fields that are `null` are never stored, and no intermediate tree is built.
/// It accepts exactly what [`parse_strict`] followed by [`schema::normalise`] accepts,
/// with the same result (a unit test and the `json_view` fuzz target check this).
pub fn read_body<'b>(body: &'b [u8], schema: Option<&'static Obj>) -> Result<Json<'b>, JsonError> {
    let ty = match schema {
        Some(obj) => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if body.starts_with(&[0xEF, 0xBB, 0xBF]) || first != Some(&b'{') {
                // Not an object: report a syntax error if there is one, else the shape.
                parse_strict(body)?;
                return Err(JsonError(format!(
                    "request body must be a JSON object ({})",
                    obj.name
                )));
            }
            Ty::Obj(obj)
        }
        None => {
            if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
                return Err(JsonError("body starts with a byte-order mark".into()));
            }
            Ty::Any
        }
    };
    let failure = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(utf8(body)?);
    let result = Typed {
        ty: &ty,
        failure: &failure,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|_| v));
    match (result, failure.into_inner()) {
        (Ok(mut v), _) => {
            merge::drop_null_fields(&mut v, &ty);
            Ok(v)
        }
        (Err(_), Some(Failure { path, message })) => {
            let path: Vec<String> = path.into_iter().rev().collect();
            let e = schema::SchemaError {
                path: path.concat().trim_start_matches('.').to_owned(),
                message,
            };
            Err(JsonError(e.to_string()))
        }
        // serde_json's "trailing characters" (from `end()`) reads better in our words.
        (Err(e), None) if e.to_string().starts_with("trailing") => {
            Err(JsonError("unexpected data after the JSON value".into()))
        }
        (Err(e), None) => Err(JsonError(e.to_string())),
    }
}

/// The two-pass reference for [`read_body`]: parse the whole tree strictly, then check
/// it against the schema. Slower; kept as the oracle for differential tests.
pub fn read_body_reference(body: &[u8], schema: Option<&'static Obj>) -> Result<Value, JsonError> {
    let v = parse_strict(body)?;
    match schema {
        None => Ok(v),
        Some(obj) if !v.is_object() => Err(JsonError(format!(
            "request body must be a JSON object ({})",
            obj.name
        ))),
        Some(obj) => schema::normalise(v, &Ty::Obj(obj)).map_err(|e| JsonError(e.to_string())),
    }
}

/// A schema violation found while parsing, with its location built up on the way out
/// (innermost segment first).
struct Failure {
    path: Vec<String>,
    message: String,
}

/// Parse one value of type `ty`. Errors are recorded in `failure` (serde's error type
/// carries only a string); enclosing levels add their path segment.
#[derive(Clone, Copy)]
struct Typed<'a> {
    ty: &'a Ty,
    failure: &'a RefCell<Option<Failure>>,
}

impl<'a> Typed<'a> {
    fn fail<E: de::Error>(self, message: String) -> E {
        *self.failure.borrow_mut() = Some(Failure {
            path: Vec::new(),
            message,
        });
        E::custom("schema violation")
    }

    fn mismatch<E: de::Error>(self, got: String) -> E {
        let expected = match self.ty {
            Ty::Bool => "a boolean".to_owned(),
            Ty::Int => "an integer".to_owned(),
            Ty::Float => "a number".to_owned(),
            Ty::Str => "a string".to_owned(),
            Ty::List(_) => "an array".to_owned(),
            Ty::Map(_) => "an object".to_owned(),
            Ty::Obj(obj) => format!("an object ({})", obj.name),
            Ty::Any => "any value".to_owned(),
        };
        self.fail(format!("expected {expected}, got {got}"))
    }

    /// Add a path segment to a failure recorded below.
    fn within<T, E>(self, r: Result<T, E>, segment: impl FnOnce() -> String) -> Result<T, E> {
        if r.is_err() {
            if let Some(f) = self.failure.borrow_mut().as_mut() {
                f.path.push(segment());
            }
        }
        r
    }

    fn at(self, ty: &'a Ty) -> Typed<'a> {
        Typed {
            ty,
            failure: self.failure,
        }
    }

    fn string<'de, E: de::Error>(self, v: Cow<'de, str>) -> Result<Json<'de>, E> {
        match self.ty {
            Ty::Str | Ty::Any => Ok(Json::String(v)),
            _ => Err(self.mismatch("a string".to_owned())),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Typed<'_> {
    type Value = Json<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Typed<'_> {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json<'de>, E> {
        match self.ty {
            Ty::Bool | Ty::Any => Ok(Json::Bool(v)),
            _ => Err(self.mismatch(format!("the boolean {v}"))),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json<'de>, E> {
        match self.ty {
            Ty::Int | Ty::Float | Ty::Any => Ok(Json::Number(v.into())),
            _ => Err(self.mismatch(format!("the number {v}"))),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json<'de>, E> {
        match self.ty {
            Ty::Int | Ty::Float | Ty::Any => Ok(Json::Number(v.into())),
            _ => Err(self.mismatch(format!("the number {v}"))),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'de>, E> {
        let n = serde_json::Number::from_f64(v).ok_or_else(|| E::custom("number out of range"))?;
        match self.ty {
            Ty::Float | Ty::Any => Ok(Json::Number(n)),
            _ => Err(self.mismatch(format!("the number {n}"))),
        }
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Json<'de>, E> {
        self.string(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json<'de>, E> {
        self.string(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json<'de>, E> {
        self.string(Cow::Owned(v))
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let elem = match self.ty {
            Ty::List(elem) => *elem,
            Ty::Any => &Ty::Any,
            _ => return Err(self.mismatch("an array".to_owned())),
        };
        let mut out = Vec::new();
        loop {
            let next = seq.next_element_seed(self.at(elem));
            match self.within(next, || format!("[{}]", out.len()))? {
                Some(v) => out.push(v),
                None => return Ok(Json::Array(out)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Json<'de>, A::Error> {
        match self.ty {
            Ty::Obj(obj) => {
                let mut map = Object::new();
                // Which fields were seen (their entry may hold `null` until the end).
                let mut seen = vec![false; obj.fields.len()];
                // Top-level HostConfig fields of a create body (`ContainerConfigWrapper`).
                let spill = schema::spill_of(obj);
                let mut spilled: Option<(Object<'de>, Vec<bool>)> = None;
                // Clients send fields in Go's struct order, which the schema tables
                // follow, so the search starts after the last field found.
                let mut cursor = 0;
                while let Some(key) = access.next_key_seed(KeySeed)? {
                    let found = field_index(obj, &key, cursor)
                        .or_else(|| schema::fold_index(obj, &key))
                        .map(|i| (*obj, i, &mut map, &mut seen));
                    let found = match found {
                        Some(f) => {
                            cursor = f.1 + 1;
                            Some(f)
                        }
                        None => match spill {
                            Some(inner) => schema::fold_index(inner, &key).map(|i| {
                                let (o, s) = spilled.get_or_insert_with(|| {
                                    (Object::new(), vec![false; inner.fields.len()])
                                });
                                (inner, i, o, s)
                            }),
                            None => None,
                        },
                    };
                    let Some((owner, i, map, seen)) = found else {
                        // A null under a key that is no field is a no-op for dockerd
                        // (Go ignores unknown keys) and is not forwarded.
                        let item = access.next_value_seed(self.at(&Ty::Any));
                        let item = self.within(item, || format!(".{key}"))?;
                        if item.is_null() {
                            continue;
                        }
                        let e = self.fail(format!(
                            "unknown field {} in {}",
                            schema::quote(&key),
                            obj.name
                        ));
                        return self.within(Err(e), || format!(".{key}"));
                    };
                    let (name, ty) = &owner.fields[i];
                    let item = access.next_value_seed(self.at(ty));
                    let item = self.within(item, || format!(".{name}"))?;
                    if !std::mem::replace(&mut seen[i], true) {
                        if map.is_empty() {
                            // Room for a typical object at once; an empty one (`{}`, 2
                            // bytes of body) allocates nothing, so a body of many empty
                            // objects cannot make us allocate hundreds of times its size.
                            map.reserve(owner.fields.len().min(8));
                        }
                        map.push(Cow::Borrowed(*name), item);
                        continue;
                    }
                    let slot = map.get_mut(name).expect("a seen field has an entry");
                    let earlier = std::mem::replace(slot, Json::Null);
                    match merge::merge_field(earlier, item, ty) {
                        Ok(merged) => *slot = merged,
                        Err(why) => {
                            let e = self.fail(format!(
                                "key {} repeats the field {name}, and Portcullis cannot model how dockerd merges {why}; send the field once",
                                schema::quote(&key)
                            ));
                            return self.within(Err(e), || format!(".{name}"));
                        }
                    }
                }
                if spill.is_some() {
                    merge::apply_create_wrapper(&mut map, spilled.map(|(o, _)| o));
                }
                Ok(Json::Object(map))
            }
            Ty::Map(elem) => {
                let mut map = Object::new();
                let mut keys = Keys::default();
                while let Some(key) = access.next_key_seed(KeySeed)? {
                    let item = access.next_value_seed(self.at(elem));
                    let item = self.within(item, || format!("[{}]", schema::quote(&key)))?;
                    // A repeated map key: Go decodes the later value into a fresh
                    // element and stores it, replacing the earlier one.
                    match keys.insert_or_find(key.clone(), map.len()) {
                        Some(i) => *map.value_at_mut(i) = item,
                        None => map.push(key, item),
                    }
                }
                Ok(Json::Object(map))
            }
            Ty::Any => {
                let mut map = Object::new();
                let mut keys = Keys::default();
                while let Some(key) = access.next_key_seed(KeySeed)? {
                    let item = access.next_value_seed(self)?;
                    // Untyped: the Go type (struct or map) decides how a repeat merges.
                    if keys.insert_or_find(key.clone(), map.len()).is_some() {
                        return Err(duplicate(&key));
                    }
                    map.push(key, item);
                }
                Ok(Json::Object(map))
            }
            _ => Err(self.mismatch("an object".to_owned())),
        }
    }
}

/// The keys of one object seen so far with their entry's position, to find a repeated
/// one: a short list scanned for the few keys a Docker object has, a hash map once
/// there are many (a body of 400,000 labels must not cost a quadratic scan).
#[derive(Default)]
struct Keys<'de> {
    few: Vec<Cow<'de, str>>,
    many: Option<std::collections::HashMap<Cow<'de, str>, usize>>,
}

impl<'de> Keys<'de> {
    const FEW: usize = 16;

    /// Record `key` at position `at`; the position of an earlier equal key instead.
    fn insert_or_find(&mut self, key: Cow<'de, str>, at: usize) -> Option<usize> {
        if let Some(map) = &mut self.many {
            return match map.entry(key) {
                std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(at);
                    None
                }
            };
        }
        if let Some(i) = self.few.iter().position(|k| *k == key) {
            return Some(i);
        }
        self.few.push(key);
        if self.few.len() > Self::FEW {
            self.many = Some(
                self.few
                    .drain(..)
                    .enumerate()
                    .map(|(i, k)| (k, i))
                    .collect(),
            );
        }
        None
    }
}

/// The index of the field named exactly `key`, searching from `start` and wrapping.
fn field_index(obj: &Obj, key: &str, start: usize) -> Option<usize> {
    let n = obj.fields.len();
    let start = start.min(n);
    (start..n).chain(0..start).find(|&i| obj.fields[i].0 == key)
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format!(
        "duplicate key {key:?}: repeated keys are ambiguous (dockerd merges them)"
    ))
}

/// An object key, borrowed from the body when it holds no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_at_any_depth_are_refused() {
        assert!(parse_strict(br#"{"a":1,"a":1}"#).is_err());
        assert!(parse_strict(br#"{"H":{"P":true},"H":{"C":[]}}"#).is_err());
        assert!(parse_strict(br#"{"x":[{"a":1,"a":2}]}"#).is_err());
        // escapes are decoded before comparing
        assert!(parse_strict(br#"{"Privileged":1,"Privil\u0065ged":2}"#).is_err());
        // different spellings are different keys here; the schema refuses the odd one
        assert!(parse_strict(br#"{"a":1,"A":2}"#).is_ok());
    }

    #[test]
    fn trailing_data_bom_and_bad_utf8_are_refused() {
        assert!(parse_strict(br#"{"a":1} x"#).is_err());
        assert!(parse_strict(br#"{"a":1}{"b":2}"#).is_err());
        assert!(parse_strict(b"\xEF\xBB\xBF{}").is_err());
        assert!(parse_strict(b"{\"a\":\"\xff\"}").is_err());
        assert!(parse_strict(br#"{"a":1,}"#).is_err());
        assert!(parse_strict(b"  {\"a\":1}\n").is_ok());
    }

    /// The one-pass reader agrees with the two-pass reference: same acceptance, same
    /// value, and for schema violations the same message.
    #[test]
    fn one_pass_matches_the_reference() {
        let c = &schema::CONTAINER_CREATE;
        let bodies: &[&str] = &[
            r#"{"Image":"x","HostConfig":{"Binds":["v:/d"],"Privileged":false,"CapAdd":null}}"#,
            r#"{"Image":"x","Labels":{"a":"1","b":null},"Env":["A=1"],"Cmd":"sh"}"#,
            r#"{"Image":"x","Labels":{"a":"1","a":"2"}}"#,
            r#"{"Image":"x","Image":"y"}"#,
            r#"{"Image":"x","image":"y"}"#,
            r#"{"Image":"x","Privileged":true}"#,
            r#"{"Image":"x","HostConfig":{"privileged":true}}"#,
            r#"{"Image":"x","HostConfig":{"Binds":["a",1]}}"#,
            r#"{"Image":"x","HostConfig":{"Memory":1.5}}"#,
            r#"{"Image":"x","HostConfig":{"Memory":18446744073709551615}}"#,
            r#"{"Image":"x","HostConfig":{"Memory":-1,"CpuPercent":2}}"#,
            r#"{"Image":"x","HostConfig":{"LogConfig":{"Type":"j","Config":{"k":"v"}}}}"#,
            r#"{"Image":"x","Healthcheck":{"Test":["CMD"],"x":{"y":1,"y":2}}}"#,
            r#"{"Image":"x","Healthcheck":[{"a":null,"b":[1,2.5,"s",true]}]}"#,
            r#"{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"n":{"Aliases":["a"]},"m":null}}}"#,
            r#"{"Image":"x","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":8080}]}}}"#,
            r#"{"Image":"x"} trailing"#,
            r#"{"Image":"x",}"#,
            r#"{"Image":"\u0078","Priv\u0069leged":true}"#,
            r#"[1,2]"#,
            r#""s""#,
            r#"null"#,
            "",
            r#"{"Image":"x","HostConfig":null,"Labels":{}}"#,
            r#"{"Image":"x","NetworkingConfig":{"sdk-net":null}}"#,
            r#"{"Image":"x","NetworkingConfig":{"n":null,"n":null}}"#,
            r#"{"Image":"x","Privileges":null,"Unknown":null}"#,
            r#"{"Image":"x","Unknown":{"a":null}}"#,
            r#"{"Image":"x","HostConfig":{"Privileged":null,"Privileged":true}}"#,
        ];
        for body in bodies {
            let one = read_body(body.as_bytes(), Some(c));
            let two = read_body_reference(body.as_bytes(), Some(c));
            match (&one, &two) {
                (Ok(a), Ok(b)) => assert_eq!(&a.to_value(), b, "{body}"),
                (Err(a), Err(b)) => {
                    // Syntax errors may be found in a different order; schema
                    // messages (no serde position suffix) must be identical.
                    if !b.0.contains(" at line ") && !a.0.contains(" at line ") {
                        assert_eq!(a, b, "{body}");
                    }
                }
                // Repeated fields and the create wrapper: only the reader models them.
                (Ok(_), Err(b))
                    if b.0.contains(schema::REFERENCE_UNMODELLED)
                        || b.0.contains("duplicate key") => {}
                _ => panic!("{body}: one pass {one:?}, reference {two:?}"),
            }
        }
    }

    /// Large objects switch repeat detection from a scan to a hash map; both must find
    /// a repeated map key wherever it is (the later value wins, as in Go), and nulls
    /// under unknown keys are dropped however often they come.
    #[test]
    fn repeats_are_found_in_large_objects() {
        let c = &schema::CONTAINER_CREATE;
        let labels = |extra: &str| {
            let mut b = String::from(r#"{"Image":"x","Labels":{"#);
            for i in 0..1000 {
                b.push_str(&format!(r#""l{i}":"v","#));
            }
            b.push_str(extra);
            b.push_str("}}");
            b
        };
        let ok = labels(r#""last":"v""#);
        let v = read_body(ok.as_bytes(), Some(c)).unwrap();
        assert_eq!(v["Labels"].as_object().map(Object::len), Some(1001));
        for (repeat, key) in [
            (r#""l0":"w""#, "l0"),
            (r#""l999":"w""#, "l999"),
            (r#""l5":"w""#, "l5"),
        ] {
            let body = labels(repeat);
            let v = read_body(body.as_bytes(), Some(c)).unwrap();
            let labels = v["Labels"].as_object().unwrap();
            assert_eq!(labels.len(), 1000, "{repeat}");
            assert_eq!(labels.get(key), Some(&Json::String("w".into())), "{repeat}");
            assert_eq!(labels.get("l1"), Some(&Json::String("v".into())));
        }
        let mut nulls = String::from(r#"{"Image":"x""#);
        for i in 0..1000 {
            nulls.push_str(&format!(r#","n{i}":null"#));
        }
        let repeated = format!(r#"{nulls},"n7":null}}"#);
        let v = read_body(repeated.as_bytes(), Some(c)).unwrap();
        assert_eq!(v.to_value(), serde_json::json!({"Image": "x"}));
        // Without a schema the Go type is unknown: repeats are refused.
        assert!(read_body(repeated.as_bytes(), None).is_err());
        assert!(read_body(format!("{nulls}}}").as_bytes(), None).is_ok());
    }

    /// Found by the `json_view` fuzz target: a 44-digit integer literal (too big for
    /// u64, so read as a float) must parse to the correctly rounded f64, or the value we
    /// evaluate differs from what dockerd reads back from the forwarded bytes.
    #[test]
    fn long_number_literals_round_trip_through_the_forwarded_bytes() {
        let body = br#"{"ExposedPorts":{"80/n":33554432,"MemorySwap":13222222222222222222222222222222222222222222}}"#;
        let c = &schema::CONTAINER_CREATE;
        let v = read_body(body, Some(c)).unwrap();
        let forwarded = serde_json::to_vec(&v).unwrap();
        assert_eq!(read_body(&forwarded, Some(c)).unwrap(), v);
        assert_eq!(
            v["ExposedPorts"]["MemorySwap"].as_f64(),
            Some(1.322222222222222e43)
        );
    }

    #[test]
    fn escapes_decode() {
        let v = parse_strict(br#"{"B":["\u002fsrv\u002fdata:\/d"]}"#).unwrap();
        assert_eq!(v["B"][0], "/srv/data:/d");
    }
}
