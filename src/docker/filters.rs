//! The `filters` query parameter of list, prune and events endpoints, read exactly as
//! dockerd's `api/types/filters.FromJSON` reads it, and written back in its canonical form.
//!
//! dockerd first decodes the parameter as `map[string]map[string]bool` (the current form,
//! `{"label":{"a=b":true}}`); when that fails it tries the legacy
//! `map[string][]string` (`{"label":["a=b"]}`), whose values all become `true`; when both
//! fail, the request fails. `null` (or an empty parameter) is no filter. Go's decoder
//! replaces a repeated map key's value as a whole (the last one wins, inner maps are not
//! merged), and a `null` inner value is a key with no values. The boolean matters:
//! `ExactMatch` reads it, `MatchKVList` (labels) only looks at the keys.
//!
//! Tenancy narrows a list to its owner by adding an owner label to these filters: the
//! daemon ANDs label filters for its own objects, but swarm lists turn the label filters
//! into a map keyed by label name, so a client's own filter on the owner label would
//! replace ours. [`Filters::restrict_label`] therefore drops every client filter on that
//! label name before adding the owner's.

use std::collections::BTreeMap;
use std::fmt;

/// Why a `filters` value was refused (dockerd refuses it as well).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid filters parameter: {}", self.0)
    }
}

impl std::error::Error for FilterError {}

/// Parsed filters: filter name -> value -> the boolean dockerd keeps with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, BTreeMap<String, bool>>,
}

impl Filters {
    /// Read a `filters` parameter as dockerd does (see the module docs).
    pub fn parse(raw: &str) -> Result<Self, FilterError> {
        if raw.is_empty() {
            return Ok(Filters::default());
        }
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| FilterError(e.to_string()))?;
        let outer = match value {
            serde_json::Value::Null => return Ok(Filters::default()),
            serde_json::Value::Object(m) => m,
            other => {
                return Err(FilterError(format!(
                    "expected a JSON object, found {}",
                    kind(&other)
                )))
            }
        };
        // serde_json keeps the last of repeated keys, as Go's map decoding does.
        if let Some(fields) = current_form(&outer) {
            return Ok(Filters { fields });
        }
        if let Some(fields) = legacy_form(&outer) {
            return Ok(Filters { fields });
        }
        Err(FilterError(
            "expected {\"name\":{\"value\":true}} or {\"name\":[\"value\"]}".into(),
        ))
    }

    /// Every value of the filter `name`.
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .get(name)
            .into_iter()
            .flat_map(|m| m.keys().map(String::as_str))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Narrow to objects whose label `key` is `value`: every `label` filter on `key`
    /// (`key` or `key=…`) is dropped and `key=value` added.
    pub fn restrict_label(&mut self, key: &str, value: &str) {
        let labels = self.fields.entry("label".to_string()).or_default();
        labels
            .retain(|filter, _| filter.split_once('=').map_or(filter.as_str(), |(k, _)| k) != key);
        labels.insert(format!("{key}={value}"), true);
    }

    /// Replace every value of the filter `name` by `value`.
    pub fn set_only(&mut self, name: &str, value: &str) {
        self.fields.insert(
            name.to_string(),
            BTreeMap::from([(value.to_string(), true)]),
        );
    }

    /// The canonical (current) JSON form dockerd reads first.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.fields).expect("a map of strings and booleans serialises")
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

type Fields = BTreeMap<String, BTreeMap<String, bool>>;

/// `map[string]map[string]bool`: inner values are booleans or `null` (false).
fn current_form(outer: &serde_json::Map<String, serde_json::Value>) -> Option<Fields> {
    let mut fields = Fields::new();
    for (name, inner) in outer {
        let mut values = BTreeMap::new();
        match inner {
            serde_json::Value::Null => {}
            serde_json::Value::Object(m) => {
                for (v, flag) in m {
                    let flag = match flag {
                        serde_json::Value::Bool(b) => *b,
                        serde_json::Value::Null => false,
                        _ => return None,
                    };
                    values.insert(v.clone(), flag);
                }
            }
            _ => return None,
        }
        fields.insert(name.clone(), values);
    }
    Some(fields)
}

/// `map[string][]string`: arrays of strings (a `null` element is `""`), or `null`.
fn legacy_form(outer: &serde_json::Map<String, serde_json::Value>) -> Option<Fields> {
    let mut fields = Fields::new();
    for (name, inner) in outer {
        let mut values = BTreeMap::new();
        match inner {
            serde_json::Value::Null => {}
            serde_json::Value::Array(items) => {
                for item in items {
                    let v = match item {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => String::new(),
                        _ => return None,
                    };
                    values.insert(v, true);
                }
            }
            _ => return None,
        }
        fields.insert(name.clone(), values);
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> Vec<(String, Vec<(String, bool)>)> {
        Filters::parse(raw)
            .unwrap()
            .fields
            .into_iter()
            .map(|(k, m)| (k, m.into_iter().collect()))
            .collect()
    }

    fn pairs(list: &[(&str, &[(&str, bool)])]) -> Vec<(String, Vec<(String, bool)>)> {
        list.iter()
            .map(|(k, vs)| {
                (
                    k.to_string(),
                    vs.iter().map(|(v, b)| (v.to_string(), *b)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn both_forms_read_as_dockerd_reads_them() {
        assert_eq!(parsed(""), pairs(&[]));
        assert_eq!(parsed("null"), pairs(&[]));
        assert_eq!(parsed("{}"), pairs(&[]));
        assert_eq!(
            parsed(r#"{"label":{"a=b":true,"c":false},"status":{"running":true}}"#),
            pairs(&[
                ("label", &[("a=b", true), ("c", false)]),
                ("status", &[("running", true)])
            ])
        );
        assert_eq!(
            parsed(r#"{"label":["a=b","c"],"name":["web"]}"#),
            pairs(&[
                ("label", &[("a=b", true), ("c", true)]),
                ("name", &[("web", true)])
            ])
        );
        // null inner values: a name with no values; a null element is "".
        assert_eq!(
            parsed(r#"{"label":null,"name":{"x":null}}"#),
            pairs(&[("label", &[]), ("name", &[("x", false)])])
        );
        assert_eq!(
            parsed(r#"{"label":["a",null]}"#),
            pairs(&[("label", &[("", true), ("a", true)])])
        );
        // Escapes are read as JSON.
        assert_eq!(
            parsed(r#"{"\u006cabel":["\u0061=b"]}"#),
            pairs(&[("label", &[("a=b", true)])])
        );
    }

    #[test]
    fn a_repeated_name_replaces_the_earlier_values() {
        // The owner filter a client might try to cancel with a second, empty "label".
        assert_eq!(
            parsed(r#"{"label":{"owner=alice":true},"label":{}}"#),
            pairs(&[("label", &[])])
        );
        assert_eq!(
            parsed(r#"{"label":["a"],"label":["b"]}"#),
            pairs(&[("label", &[("b", true)])])
        );
        assert_eq!(
            parsed(r#"{"name":{"x":true,"x":false}}"#),
            pairs(&[("name", &[("x", false)])])
        );
    }

    #[test]
    fn what_neither_form_reads_is_refused() {
        for bad in [
            "[]",
            "\"label\"",
            "1",
            "{",
            r#"{"label":"a=b"}"#,
            r#"{"label":{"a":1}}"#,
            r#"{"label":{"a":"true"}}"#,
            r#"{"label":[1]}"#,
            r#"{"label":[["a"]]}"#,
            // Each name alone is fine, but no single form reads both.
            r#"{"label":["a"],"name":{"x":true}}"#,
            r#"{"label":{}} x"#,
        ] {
            assert!(Filters::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn restricting_a_label_drops_every_client_filter_on_it() {
        let key = "io.portcullis.owner";
        for raw in [
            "",
            "null",
            r#"{"label":["io.portcullis.owner=bob"]}"#,
            r#"{"label":{"io.portcullis.owner":true}}"#,
            r#"{"label":{"io.portcullis.owner=alice":false,"io.portcullis.owner=bob":true}}"#,
            r#"{"label":null}"#,
        ] {
            let mut f = Filters::parse(raw).unwrap();
            f.restrict_label(key, "alice");
            assert_eq!(
                f.values("label").collect::<Vec<_>>(),
                ["io.portcullis.owner=alice"],
                "{raw}"
            );
            assert_eq!(
                f.to_json(),
                r#"{"label":{"io.portcullis.owner=alice":true}}"#
            );
        }
        // Other filters, and labels on other keys (prefixes included), are kept.
        let mut f = Filters::parse(
            r#"{"label":["app=web","io.portcullis.owner.x=1","io.portcullis.ownerx"],"status":["exited"],"name":["db"]}"#,
        )
        .unwrap();
        f.restrict_label(key, "a=b,c");
        assert_eq!(
            f.to_json(),
            r#"{"label":{"app=web":true,"io.portcullis.owner.x=1":true,"io.portcullis.owner=a=b,c":true,"io.portcullis.ownerx":true},"name":{"db":true},"status":{"exited":true}}"#
        );
        // What is written is read back the same.
        assert_eq!(Filters::parse(&f.to_json()).unwrap(), f);
    }
}
