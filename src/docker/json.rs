//! Strict JSON reading of request bodies, so that Portcullis and dockerd see one object.
//!
//! Go's `encoding/json` merges repeated keys, ignores trailing data (on 20.10) and
//! matches keys case-insensitively. This reader refuses every construct on which a
//! last-wins reader and Go could disagree: repeated keys at any depth, trailing data,
//! a BOM, invalid UTF-8. Key spelling is then checked against the typed schema
//! ([`super::schema::normalise`]), and the proxy forwards the re-serialisation of the
//! checked value, never the client's bytes.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

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
    let mut de = serde_json::Deserializer::from_slice(body);
    let Strict(v) = Strict::deserialize(&mut de).map_err(|e| JsonError(e.to_string()))?;
    de.end()
        .map_err(|_| JsonError("unexpected data after the JSON value".into()))?;
    Ok(v)
}

/// Parse strictly and check against a schema: the value to evaluate and forward.
pub fn read_body(body: &[u8], schema: Option<&'static Obj>) -> Result<Value, JsonError> {
    let v = parse_strict(body)?;
    match schema {
        None => Ok(v),
        Some(obj) => {
            if !v.is_object() {
                return Err(JsonError(format!(
                    "request body must be a JSON object ({})",
                    obj.name
                )));
            }
            schema::normalise(v, &Ty::Obj(obj)).map_err(|e| JsonError(e.to_string()))
        }
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

    #[test]
    fn escapes_decode() {
        let v = parse_strict(br#"{"B":["\u002fsrv\u002fdata:\/d"]}"#).unwrap();
        assert_eq!(v["B"][0], "/srv/data:/d");
    }
}
