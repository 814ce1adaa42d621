//! The request context: headers, query parameters and cookies as bounded JSON objects.
//!
//! Everything here runs on the request's own task, once per request, so it is bounded in
//! entries and bytes whatever the client sends: a 64 KB header or a thousand query parameters
//! cost the same small, fixed amount. Values are kept by their names, so that the worker's
//! masking hides each one by its own name (`?token=...`, a `sessionid` cookie).

use http::HeaderMap;
use http::header::{self, HeaderName};
use serde_json::map::Entry;
use serde_json::{Map, Value};

use crate::record::TRUNCATION_MARKER;

/// Most entries kept in one map (headers, query parameters, cookies).
pub(crate) const MAX_ENTRIES: usize = 64;
/// Longest name kept, in bytes.
const MAX_NAME_LEN: usize = 256;
/// Longest value kept, in bytes; the tracker's own `max_value_len` may cut it further.
pub(crate) const MAX_VALUE_LEN: usize = 2048;
/// The key under which a map notes how many entries were left out.
pub(crate) const OMITTED_KEY: &str = "…omitted";

/// Headers hidden whatever the masking settings say: credentials and session cookies.
const ALWAYS_MASKED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "proxy-authenticate",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Headers that carry the client's address (set by proxies); hidden unless the client
/// address is recorded.
const CLIENT_ADDRESS_HEADERS: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-cluster-client-ip",
];

/// Headers that name the request, in order of preference.
const REQUEST_ID_HEADERS: &[&str] = &["x-request-id", "x-correlation-id", "request-id"];

/// A JSON object bounded in entries; repeated names collect their values in an array.
struct BoundedMap {
    map: Map<String, Value>,
    omitted: usize,
}

impl BoundedMap {
    /// A map for about `entries` entries: sized once, since a request's maps are built on
    /// every request.
    fn with_capacity(entries: usize) -> Self {
        BoundedMap {
            map: Map::with_capacity(entries.min(MAX_ENTRIES)),
            omitted: 0,
        }
    }

    fn insert(&mut self, name: &str, value: &str) {
        let text = || Value::String(bounded_string(value, MAX_VALUE_LEN));
        let room = self.map.len() < MAX_ENTRIES;
        // One hash per entry: the entry API rather than a lookup then an insert.
        match self.map.entry(bounded_string(name, MAX_NAME_LEN)) {
            Entry::Occupied(mut entry) => match entry.get_mut() {
                Value::Array(values) if values.len() < MAX_ENTRIES => values.push(text()),
                Value::Array(_) => self.omitted += 1,
                single => {
                    let first = std::mem::take(single);
                    *single = Value::Array(vec![first, text()]);
                }
            },
            Entry::Vacant(entry) if room => {
                entry.insert(text());
            }
            Entry::Vacant(_) => self.omitted += 1,
        }
    }

    fn into_value(mut self) -> Value {
        if self.omitted > 0 {
            self.map
                .insert(OMITTED_KEY.to_owned(), Value::from(self.omitted));
        }
        Value::Object(self.map)
    }
}

/// `s` as an owned string of at most `limit` bytes (cut on a character boundary and marked).
fn bounded_string(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_owned();
    }
    let mut out = String::with_capacity(limit + TRUNCATION_MARKER.len());
    out.push_str(&s[..s.floor_char_boundary(limit)]);
    out.push_str(TRUNCATION_MARKER);
    out
}

/// The request headers, with credentials (and, unless `client_address`, the client's
/// address) replaced by `mask` here, before anything else sees them. Values that are not
/// UTF-8 are kept with replacement characters.
pub(crate) fn headers(headers: &HeaderMap, mask: &str, client_address: bool) -> Value {
    let mut map = BoundedMap::with_capacity(headers.keys_len());
    for (name, value) in headers {
        if is_always_masked(name) || (!client_address && is_client_address(name)) {
            map.insert(name.as_str(), mask);
        } else {
            map.insert(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
        }
    }
    map.into_value()
}

fn is_always_masked(name: &HeaderName) -> bool {
    ALWAYS_MASKED.contains(&name.as_str())
}

fn is_client_address(name: &HeaderName) -> bool {
    CLIENT_ADDRESS_HEADERS.contains(&name.as_str())
}

/// The query string's parameters, percent-decoded, by name.
pub(crate) fn query(query: &str) -> Value {
    form(query.as_bytes())
}

/// URL-encoded pairs (a query string or a form body), percent-decoded, by name.
pub(crate) fn form(pairs: &[u8]) -> Value {
    let entries = pairs.iter().filter(|b| **b == b'&').count() + 1;
    let mut map = BoundedMap::with_capacity(entries);
    for (name, value) in form_urlencoded::parse(pairs) {
        // Past the bound the pairs are only counted; the query's length is bounded by the
        // server's request-line limit.
        map.insert(&name, &value);
    }
    map.into_value()
}

/// The names of the cookies of every `Cookie` header, each with `mask` for its value; `None`
/// when there are none.
///
/// Cookie values are credentials by default: session ids go by any name (`sid`,
/// `PHPSESSID`, `connect.sid`, `jwt`, `remember_me`, ...), so no list of names could tell
/// which ones to hide. Which cookies a failing request carried is kept.
pub(crate) fn cookies(headers: &HeaderMap, mask: &str) -> Option<Value> {
    let mut map = BoundedMap::with_capacity(8);
    let mut any = false;
    for header in headers.get_all(header::COOKIE) {
        let text = String::from_utf8_lossy(header.as_bytes());
        for pair in text.split(';') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            any = true;
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            map.insert(name.trim(), mask);
        }
    }
    any.then(|| map.into_value())
}

/// The request id sent by the client or a proxy, if any.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| headers.get(*name))
        .map(|value| {
            let text = String::from_utf8_lossy(value.as_bytes());
            bounded_string(&text, MAX_NAME_LEN)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn credentials_are_masked_whatever_the_settings() {
        let mut map = HeaderMap::new();
        map.insert("authorization", HeaderValue::from_static("Bearer abc"));
        map.insert("x-api-key", HeaderValue::from_static("k"));
        map.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        map.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        map.insert("accept", HeaderValue::from_static("text/html"));
        let value = headers(&map, "###", false);
        assert_eq!(value["authorization"], "###");
        assert_eq!(value["x-api-key"], "###");
        assert_eq!(value["proxy-authorization"], "###");
        assert_eq!(value["x-forwarded-for"], "###");
        assert_eq!(value["accept"], "text/html");
        let value = headers(&map, "###", true);
        assert_eq!(value["x-forwarded-for"], "10.0.0.1");
    }

    #[test]
    fn maps_are_bounded_and_repeats_collected() {
        let query_text: String = (0..1000).map(|i| format!("k{i}=v&")).collect();
        let value = query(&format!("a=1&a=2&{query_text}"));
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), MAX_ENTRIES + 1);
        assert_eq!(value["a"], serde_json::json!(["1", "2"]));
        assert_eq!(value[OMITTED_KEY], 1000 - (MAX_ENTRIES - 1));
        let long = "x".repeat(MAX_VALUE_LEN * 3);
        let value = query(&format!("long={long}"));
        assert!(value["long"].as_str().unwrap().len() < MAX_VALUE_LEN + 32);
    }

    #[test]
    fn cookies_are_split_by_name() {
        let mut map = HeaderMap::new();
        map.append(
            "cookie",
            HeaderValue::from_static("theme=dark; sessionid=s3"),
        );
        map.append("cookie", HeaderValue::from_static("lang=\"en\""));
        map.append(
            "cookie",
            HeaderValue::from_static("sid=1; PHPSESSID=2; connect.sid=3; jwt=4; remember_me=5"),
        );
        let value = cookies(&map, "###").unwrap();
        let names = [
            "theme",
            "sessionid",
            "lang",
            "sid",
            "PHPSESSID",
            "connect.sid",
            "jwt",
            "remember_me",
        ];
        assert_eq!(value.as_object().unwrap().len(), names.len());
        for name in names {
            assert_eq!(value[name], "###", "{name}");
        }
        assert!(cookies(&HeaderMap::new(), "###").is_none());
    }
}
