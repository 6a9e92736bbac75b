//! Query strings with Go's `net/url.ParseQuery` semantics, re-encoded for the upstream.
//!
//! dockerd reads parameters with `r.Form.Get` (first value wins) or `r.Form[key]` (all
//! values, e.g. `docker build -t a -t b`). Go refuses `;` separators and bad escapes;
//! so do we. Booleans follow dockerd's `httputils.BoolValue`.

use std::fmt;

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    Semicolon,
    BadEscape(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Semicolon => write!(f, "invalid semicolon separator in query"),
            QueryError::BadEscape(s) => write!(f, "invalid escape in query parameter {s:?}"),
        }
    }
}

/// Ordered query parameters (all values kept, in order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parse a raw query string (without the `?`).
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        let mut pairs = Vec::new();
        for piece in raw.split('&') {
            if piece.contains(';') {
                return Err(QueryError::Semicolon);
            }
            if piece.is_empty() {
                continue;
            }
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            let key = query_unescape(k).ok_or_else(|| QueryError::BadEscape(k.to_string()))?;
            let value = query_unescape(v).ok_or_else(|| QueryError::BadEscape(k.to_string()))?;
            pairs.push((key, value));
        }
        Ok(Query { pairs })
    }

    /// First value of `key`, as Go's `Values.Get`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// dockerd's `BoolValue`: anything but "", "0", "no", "false", "none" is true.
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => {
                let v = v.trim().to_ascii_lowercase();
                !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
            }
        }
    }

    /// Replace the first value of `key` (the one [`get`](Self::get) and dockerd read).
    pub fn set_first(&mut self, key: &str, value: String) {
        if let Some(slot) = self.pairs.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        }
    }

    /// Append a parameter.
    pub fn push(&mut self, key: &str, value: impl Into<String>) {
        self.pairs.push((key.to_string(), value.into()));
    }

    /// Put a parameter first (before the other values of `key`, which dockerd reads in
    /// order).
    pub fn prepend(&mut self, key: &str, value: impl Into<String>) {
        self.pairs.insert(0, (key.to_string(), value.into()));
    }

    /// Make `value` the only value of `key`, where its first value stood (or at the end).
    pub fn replace_all(&mut self, key: &str, value: String) {
        let at = self.pairs.iter().position(|(k, _)| k == key);
        self.pairs.retain(|(k, _)| k != key);
        let at = at.unwrap_or(self.pairs.len()).min(self.pairs.len());
        self.pairs.insert(at, (key.to_string(), value));
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Re-encode for the upstream (Go `QueryEscape` style).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            query_escape_into(k, &mut out);
            out.push('=');
            query_escape_into(v, &mut out);
        }
        out
    }
}

fn query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = (*b.get(i + 1)? as char).to_digit(16)?;
                let lo = (*b.get(i + 2)? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Go keeps invalid UTF-8 as bytes; no Docker parameter needs it.
    String::from_utf8(out).ok()
}

fn query_escape_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_semantics() {
        let q = Query::parse("t=a&t=b&x=%7B%22a%22%3A1%7D&flag&sp=a+b&&").unwrap();
        assert_eq!(q.get("t"), Some("a"));
        assert_eq!(q.all("t").collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(q.get("x"), Some("{\"a\":1}"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("sp"), Some("a b"));
        assert_eq!(q.get("T"), None, "names are case-sensitive");
        assert_eq!(Query::parse(&q.encode()).unwrap(), q);
    }

    #[test]
    fn refusals() {
        assert_eq!(Query::parse("a=1;b=2"), Err(QueryError::Semicolon));
        assert!(matches!(
            Query::parse("a=%zz"),
            Err(QueryError::BadEscape(_))
        ));
        assert!(matches!(Query::parse("a=%"), Err(QueryError::BadEscape(_))));
    }

    #[test]
    fn bool_values() {
        let q = Query::parse("a=1&b=no&c=FALSE&d=%20none%20&e=yes&f=&g=x").unwrap();
        assert!(q.bool("a"));
        assert!(!q.bool("b"));
        assert!(!q.bool("c"));
        assert!(!q.bool("d"));
        assert!(q.bool("e"));
        assert!(!q.bool("f"));
        assert!(q.bool("g"));
        assert!(!q.bool("missing"));
    }
}
