//! The checked JSON body as the policy reads it and the proxy forwards it: a tree that
//! borrows from the request body instead of copying it.
//!
//! Strings without escapes and every data key point into the body; struct field names
//! point into the static schema tables; objects are vectors of entries in the order the
//! client sent them (the reader has refused repeated keys, so a key is found by a scan).
//! Compared with `serde_json::Value` this saves an allocation per key and per string
//! and a map insert per field, which was most of the cost of deciding a create request.
//! Serialising it gives the bytes forwarded upstream.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;
use std::borrow::Cow;

/// One JSON value of a checked body.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its entries in the order read, keys unique.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object<'a> {
    entries: Vec<(Cow<'a, str>, Json<'a>)>,
}

static NULL: Json<'static> = Json::Null;

impl<'a> Json<'a> {
    /// The member `key` of an object; `None` for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(o) => o.get(key),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The same value as a `serde_json::Value` (owned; for tests and diagnostics).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// `value["key"]`: the member, or `null` when there is none (as `serde_json::Value`).
impl<'a> std::ops::Index<&str> for Json<'a> {
    type Output = Json<'a>;
    fn index(&self, key: &str) -> &Json<'a> {
        // `Json<'static>` is a `Json<'a>` for every 'a (the type is covariant).
        self.get(key).unwrap_or(&NULL)
    }
}

/// `value[i]`: the element, or `null` when there is none.
impl<'a> std::ops::Index<usize> for Json<'a> {
    type Output = Json<'a>;
    fn index(&self, i: usize) -> &Json<'a> {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

impl PartialEq<&str> for Json<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl<'a> Object<'a> {
    pub fn new() -> Self {
        Object::default()
    }
    pub(crate) fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
    }
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json<'a>> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v)
    }
    /// Append an entry; the caller has made sure `key` is not present yet.
    pub(crate) fn push(&mut self, key: Cow<'a, str>, value: Json<'a>) {
        self.entries.push((key, value));
    }
    /// Add or replace an entry.
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: Json<'a>) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }
    /// Remove and return the value of `key`.
    pub(crate) fn take(&mut self, key: &str) -> Option<Json<'a>> {
        let i = self.entries.iter().position(|(k, _)| k.as_ref() == key)?;
        Some(self.entries.remove(i).1)
    }
    /// The value of the `i`th entry (in the order read).
    pub(crate) fn value_at_mut(&mut self, i: usize) -> &mut Json<'a> {
        &mut self.entries[i].1
    }
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &Json<'a>) -> bool) {
        self.entries.retain(|(k, v)| keep(k, v));
    }
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Json<'a>)> {
        self.entries.iter_mut().map(|(k, v)| (&**k, v))
    }
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (Cow<'a, str>, Json<'a>)> {
        self.entries.into_iter()
    }
    /// Add the entries of `later`, each replacing an entry with its key: Go's decoding
    /// of a map into a map that already holds entries. Linear in both sizes.
    pub(crate) fn extend_replacing(&mut self, later: Object<'a>) {
        let mut index: std::collections::HashMap<Cow<'a, str>, usize> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        for (k, v) in later.entries {
            match index.get(&k) {
                Some(&i) => self.entries[i].1 = v,
                None => {
                    index.insert(k.clone(), self.entries.len());
                    self.entries.push((k, v));
                }
            }
        }
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v))
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(v) => s.serialize_str(v),
            Json::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Json::Object(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_serialisation() {
        let mut hc = Object::new();
        hc.push("Privileged".into(), Json::Bool(true));
        hc.push(
            "Binds".into(),
            Json::Array(vec![Json::String("/srv:/d".into())]),
        );
        let mut top = Object::new();
        top.push("Image".into(), Json::String("busybox".into()));
        top.push("HostConfig".into(), Json::Object(hc));
        let v = Json::Object(top);
        assert_eq!(v["HostConfig"]["Privileged"].as_bool(), Some(true));
        assert_eq!(v["HostConfig"]["Binds"][0], "/srv:/d");
        assert!(v["HostConfig"]["Missing"].is_null());
        assert!(v["Image"]["not an object"].is_null());
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"Image":"busybox","HostConfig":{"Privileged":true,"Binds":["/srv:/d"]}}"#
        );
        assert_eq!(
            v.to_value(),
            serde_json::json!({"HostConfig":{"Binds":["/srv:/d"],"Privileged":true},"Image":"busybox"})
        );
    }

    #[test]
    fn insert_replaces() {
        let mut o = Object::new();
        o.insert("a", Json::Bool(false));
        o.insert("a", Json::Bool(true));
        assert_eq!(o.len(), 1);
        assert_eq!(o.get("a"), Some(&Json::Bool(true)));
    }
}
