//! Protection of the actions (resolve, ignore, reopen, delete) against cross-site requests.
//!
//! Each browser gets a random id in a `SameSite=Strict`, `HttpOnly` cookie; every form carries
//! a token that is the HMAC-SHA256 of that id under a secret the dashboard draws when it is
//! created. A forged request from another site has neither the cookie (SameSite) nor a token
//! matching it (the secret never leaves the server). On top of that, a request whose
//! `Sec-Fetch-Site` or `Origin` header says it comes from another site is refused even when
//! the token matches.

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HOST, ORIGIN};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The cookie holding the browser's id.
pub(crate) const COOKIE_NAME: &str = "error_tracker_csrf";
/// The form field holding the token.
pub(crate) const FIELD_NAME: &str = "csrf";

/// Why an action was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `Sec-Fetch-Site` or `Origin` names another site.
    CrossSite,
    /// No browser cookie, no token, or a token that does not match the cookie.
    BadToken,
}

impl Refusal {
    pub(crate) fn explain(self) -> &'static str {
        match self {
            Refusal::CrossSite => {
                "The request came from another site. Actions are accepted only from the \
                 dashboard's own pages."
            }
            Refusal::BadToken => {
                "The form's security token is missing or does not match this browser. \
                 Reload the page and try again (cookies must be enabled)."
            }
        }
    }
}

/// The per-dashboard secret.
#[derive(Clone)]
pub(crate) struct Csrf {
    secret: [u8; 32],
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf(..)")
    }
}

impl Csrf {
    pub(crate) fn new() -> Self {
        Csrf {
            secret: random_bytes(),
        }
    }

    /// A new random browser id for the cookie.
    pub(crate) fn new_browser_id() -> String {
        hex(&random_bytes())
    }

    /// The browser id from the request's cookie, if it has a well-formed one.
    pub(crate) fn browser_id(headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE_NAME)
            .map(|(_, value)| value.to_owned())
            .filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// The `Set-Cookie` value for a browser id, scoped to the dashboard's path.
    pub(crate) fn cookie(id: &str, path: &str) -> String {
        let path = if path.is_empty() { "/" } else { path };
        format!("{COOKIE_NAME}={id}; Path={path}; HttpOnly; SameSite=Strict")
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; 32 bytes is never refused.
        match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        }
    }

    /// The form token for a browser id.
    pub(crate) fn token(&self, browser_id: &str) -> String {
        let mut mac = self.mac();
        mac.update(browser_id.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// Checks an action request: its origin, then its token against its cookie.
    pub(crate) fn check(&self, headers: &HeaderMap, token: Option<&str>) -> Result<(), Refusal> {
        if !same_origin(headers) {
            return Err(Refusal::CrossSite);
        }
        let (Some(id), Some(token)) = (Self::browser_id(headers), token) else {
            return Err(Refusal::BadToken);
        };
        let Some(given) = unhex(token) else {
            return Err(Refusal::BadToken);
        };
        let mut mac = self.mac();
        mac.update(id.as_bytes());
        // verify_slice compares in constant time.
        mac.verify_slice(&given).map_err(|_| Refusal::BadToken)
    }
}

/// False when the browser says the request comes from another site. Headers that are absent
/// (older browsers, scripts) do not refuse a request: the token still has to match.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        // "none": typed in the address bar or a bookmark; "same-origin": our own page.
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        let host = headers.get(HOST).and_then(|host| host.to_str().ok());
        match (authority, host) {
            (Some(authority), Some(host)) => return authority.eq_ignore_ascii_case(host),
            // "null" (a sandboxed frame, a redirect across sites) or no Host to compare with.
            _ => return false,
        }
    }
    true
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // The operating system's generator failed, which Linux, macOS and Windows never do
        // after boot. Fall back on values an attacker cannot easily know, hashed: the time,
        // the process, and addresses that vary with address-space randomisation.
        use sha2::Digest;
        let mut hasher = Sha256::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        hasher.update(now.to_le_bytes());
        hasher.update(std::process::id().to_le_bytes());
        hasher.update((&bytes as *const _ as usize).to_le_bytes());
        hasher.update((random_bytes as fn() -> [u8; 32] as usize).to_le_bytes());
        bytes = hasher.finalize().into();
    }
    bytes
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            // Writing to a String cannot fail.
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_token_matches_only_its_cookie_and_dashboard() {
        let csrf = Csrf::new();
        let id = Csrf::new_browser_id();
        let token = csrf.token(&id);
        let cookie = format!("other=1; {COOKIE_NAME}={id}");
        let good = headers(&[("cookie", &cookie)]);
        assert_eq!(csrf.check(&good, Some(&token)), Ok(()));
        assert_eq!(csrf.check(&good, None), Err(Refusal::BadToken));
        assert_eq!(csrf.check(&good, Some("zz")), Err(Refusal::BadToken));
        let other_id = Csrf::new_browser_id();
        let other = format!("{COOKIE_NAME}={other_id}");
        assert_eq!(
            csrf.check(&headers(&[("cookie", &other)]), Some(&token)),
            Err(Refusal::BadToken)
        );
        assert_eq!(
            Csrf::new().check(&good, Some(&token)),
            Err(Refusal::BadToken),
            "another dashboard's secret gives other tokens"
        );
    }

    #[test]
    fn cross_site_requests_are_refused() {
        assert!(same_origin(&headers(&[])));
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:8080")
        ])));
    }
}
