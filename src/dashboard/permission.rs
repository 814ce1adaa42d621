//! Who may see the dashboard: the [`ViewPermission`] trait (the seed's
//! `APP_ERROR_VIEW_PERMISSION`) and ready-made implementations.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

/// What a [`ViewPermission`] decided about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request may see and change the errors.
    Allow,
    /// The request is refused with `401 Unauthorized`; `challenge`, when given, is sent as the
    /// `WWW-Authenticate` header (a browser asks for a password on `Basic realm="..."`).
    Deny {
        /// The `WWW-Authenticate` header value, if any.
        challenge: Option<String>,
    },
}

impl Decision {
    /// A refusal without a challenge.
    pub fn deny() -> Self {
        Decision::Deny { challenge: None }
    }
}

/// Decides whether a request may use the dashboard (pages, JSON API and actions).
///
/// It sees the request's head: method, URI, headers and extensions. The peer address is there
/// when the server was started with
/// `into_make_service_with_connect_info::<SocketAddr>()`; [`peer_addr`] reads it.
///
/// The default permission, [`DenyAll`], refuses everyone: a dashboard is opened to someone on
/// purpose. A panic in an implementation is caught and counts as a refusal.
pub trait ViewPermission: Send + Sync + 'static {
    /// Allows or refuses the request.
    fn check(&self, request: &Parts) -> Decision;
}

impl<F> ViewPermission for F
where
    F: Fn(&Parts) -> Decision + Send + Sync + 'static,
{
    fn check(&self, request: &Parts) -> Decision {
        self(request)
    }
}

/// The peer's address, when the server records it (axum's `ConnectInfo<SocketAddr>`).
pub fn peer_addr(request: &Parts) -> Option<SocketAddr> {
    request
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

/// Refuses every request (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct DenyAll;

impl ViewPermission for DenyAll {
    fn check(&self, _request: &Parts) -> Decision {
        Decision::deny()
    }
}

/// Allows every request. Use it only where something in front of the dashboard (a reverse
/// proxy with its own login, a private network) already decides who gets there.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl ViewPermission for AllowAll {
    fn check(&self, _request: &Parts) -> Decision {
        Decision::Allow
    }
}

/// Allows requests whose peer address is a loopback address (127.0.0.0/8, `::1`).
///
/// Refuses requests whose peer address is unknown: serve the router with
/// `into_make_service_with_connect_info::<SocketAddr>()`. Behind a reverse proxy on the same
/// machine every request comes from loopback, so this permission then allows everyone the
/// proxy lets through.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopbackOnly;

impl ViewPermission for LoopbackOnly {
    fn check(&self, request: &Parts) -> Decision {
        match peer_addr(request) {
            Some(addr) if addr.ip().is_loopback() => Decision::Allow,
            // An IPv4 client on a dual-stack socket shows as ::ffff:127.0.0.1.
            Some(SocketAddr::V6(addr))
                if addr
                    .ip()
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback()) =>
            {
                Decision::Allow
            }
            _ => Decision::deny(),
        }
    }
}

/// Compares secrets through their SHA-256 digests, so that the time taken does not tell how
/// many leading bytes of a guess were right.
fn same_secret(given: &[u8], expected_digest: &[u8; 32]) -> bool {
    let digest: [u8; 32] = Sha256::digest(given).into();
    digest == *expected_digest
}

/// Allows requests with `Authorization: Bearer <token>`; for scripts and the JSON API.
#[derive(Clone)]
pub struct BearerToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl BearerToken {
    /// Allows requests bearing `token`. Only its digest is kept.
    pub fn new(token: impl AsRef<str>) -> Self {
        BearerToken {
            digest: Sha256::digest(token.as_ref().as_bytes()).into(),
        }
    }
}

impl ViewPermission for BearerToken {
    fn check(&self, request: &Parts) -> Decision {
        let given = request
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| strip_scheme(value, "Bearer"));
        match given {
            Some(token) if same_secret(token.as_bytes(), &self.digest) => Decision::Allow,
            _ => Decision::Deny {
                challenge: Some("Bearer realm=\"error-tracker\"".to_owned()),
            },
        }
    }
}

/// Allows requests with HTTP basic authentication for one user name and password; a browser
/// asks for them. Use it over HTTPS, or on loopback only: basic credentials travel in clear.
#[derive(Clone)]
pub struct BasicAuth {
    digest: [u8; 32],
    realm: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// Allows `user` with `password`. Only a digest of them is kept.
    pub fn new(user: impl AsRef<str>, password: impl AsRef<str>) -> Self {
        let pair = format!("{}:{}", user.as_ref(), password.as_ref());
        BasicAuth {
            digest: Sha256::digest(pair.as_bytes()).into(),
            realm: "error-tracker".to_owned(),
        }
    }

    /// The realm the browser shows when asking for the password (default `error-tracker`).
    /// Quotes and backslashes are removed.
    pub fn realm(mut self, realm: impl AsRef<str>) -> Self {
        self.realm = realm
            .as_ref()
            .chars()
            .filter(|c| !matches!(c, '"' | '\\') && !c.is_control())
            .collect();
        self
    }
}

impl ViewPermission for BasicAuth {
    fn check(&self, request: &Parts) -> Decision {
        let pair = request
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| strip_scheme(value, "Basic"))
            .and_then(decode_base64);
        match pair {
            Some(pair) if same_secret(&pair, &self.digest) => Decision::Allow,
            _ => Decision::Deny {
                challenge: Some(format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.realm)),
            },
        }
    }
}

/// The credentials after an authorization scheme, which is case-insensitive.
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.trim().split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|rest| !rest.is_empty())
}

/// Standard base64, padded or not: what browsers send for basic authentication.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    base64::Engine::decode(&LENIENT, text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: Option<&str>) -> Parts {
        let mut builder = axum::http::Request::builder().uri("/");
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn base64_decodes_what_browsers_send() {
        assert_eq!(decode_base64("YWRtaW46czNjcmV0").unwrap(), b"admin:s3cret");
        assert_eq!(decode_base64("YTpi").unwrap(), b"a:b");
        assert_eq!(decode_base64("YTpiYw==").unwrap(), b"a:bc");
        assert!(decode_base64("not base64!").is_none());
    }

    #[test]
    fn basic_auth_checks_user_and_password() {
        let auth = BasicAuth::new("admin", "s3cret");
        assert_eq!(
            auth.check(&parts(Some("Basic YWRtaW46czNjcmV0"))),
            Decision::Allow
        );
        assert_eq!(
            auth.check(&parts(Some("basic  YWRtaW46czNjcmV0 "))),
            Decision::Allow
        );
        assert!(matches!(
            auth.check(&parts(Some("Basic YTpi"))),
            Decision::Deny { challenge: Some(c) } if c.starts_with("Basic realm=")
        ));
        assert!(matches!(auth.check(&parts(None)), Decision::Deny { .. }));
    }

    #[test]
    fn bearer_token_checks_the_token() {
        let auth = BearerToken::new("t0ken");
        assert_eq!(auth.check(&parts(Some("Bearer t0ken"))), Decision::Allow);
        assert!(matches!(
            auth.check(&parts(Some("Bearer t0ken2"))),
            Decision::Deny { .. }
        ));
        assert!(matches!(
            auth.check(&parts(Some("Basic t0ken"))),
            Decision::Deny { .. }
        ));
    }

    #[test]
    fn loopback_needs_a_known_loopback_peer() {
        let mut request = parts(None);
        assert_eq!(LoopbackOnly.check(&request), Decision::deny());
        request
            .extensions
            .insert(ConnectInfo::<SocketAddr>("10.1.2.3:5000".parse().unwrap()));
        assert_eq!(LoopbackOnly.check(&request), Decision::deny());
        request
            .extensions
            .insert(ConnectInfo::<SocketAddr>("127.0.0.1:5000".parse().unwrap()));
        assert_eq!(LoopbackOnly.check(&request), Decision::Allow);
        request.extensions.insert(ConnectInfo::<SocketAddr>(
            "[::ffff:127.0.0.1]:5000".parse().unwrap(),
        ));
        assert_eq!(LoopbackOnly.check(&request), Decision::Allow);
    }
}
