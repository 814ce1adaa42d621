//! The `Host` a request names: a dashboard answers only for the names it is served under, so
//! that a page of another site cannot reach it through DNS rebinding (a name of the
//! attacker's that resolves to `127.0.0.1`, where loopback access is trusted).

use std::net::IpAddr;

use axum::http::header;
use axum::http::request::Parts;

use super::permission::peer_addr;

/// Which `Host` names a dashboard answers for.
#[derive(Clone, Debug, Default)]
pub(crate) enum AllowedHosts {
    /// Any name from remote clients; loopback names only from clients on this machine,
    /// which is what loopback trust needs and what DNS rebinding cannot fake.
    #[default]
    LoopbackForLoopbackPeers,
    /// These names only (lower case, without port), and loopback names.
    Only(Vec<String>),
}

impl AllowedHosts {
    /// Whether the request may be answered.
    pub(crate) fn allows(&self, parts: &Parts) -> bool {
        let named = parts
            .headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        // HTTP/1.1 requires a Host; a request without one names nobody.
        let Some(name) = named.map(host_name) else {
            return false;
        };
        if is_loopback_name(&name) {
            return true;
        }
        match self {
            AllowedHosts::LoopbackForLoopbackPeers => {
                !peer_addr(parts).is_some_and(|peer| peer.ip().is_loopback())
            }
            AllowedHosts::Only(names) => names.contains(&name),
        }
    }
}

/// `Example.COM:8080` -> `example.com`; `[::1]:8080` -> `[::1]`.
pub(crate) fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `localhost`, `*.localhost`, and loopback addresses (`127.0.0.1`, `[::1]`).
fn is_loopback_name(name: &str) -> bool {
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let address = name.trim_start_matches('[').trim_end_matches(']');
    address.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;

    fn parts(host: Option<&str>, peer: &str) -> Parts {
        let mut builder = axum::http::Request::builder().uri("/");
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        let mut request = builder.body(()).unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        request.into_parts().0
    }

    #[test]
    fn names_are_compared_without_port_and_case() {
        assert_eq!(host_name("Example.COM:8080"), "example.com");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("localhost."), "localhost");
        assert_eq!(host_name("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn loopback_peers_must_name_a_loopback_host() {
        let default = AllowedHosts::default();
        for host in [
            "127.0.0.1:8080",
            "localhost:1",
            "[::1]:8080",
            "app.localhost",
        ] {
            assert!(
                default.allows(&parts(Some(host), "127.0.0.1:5000")),
                "{host}"
            );
        }
        assert!(!default.allows(&parts(Some("attacker.example:8080"), "127.0.0.1:5000")));
        assert!(!default.allows(&parts(None, "127.0.0.1:5000")));
        assert!(default.allows(&parts(Some("errors.example.com"), "203.0.113.9:5000")));

        let only = AllowedHosts::Only(vec!["errors.example.com".into()]);
        assert!(only.allows(&parts(Some("Errors.Example.com:443"), "203.0.113.9:5000")));
        assert!(only.allows(&parts(Some("localhost:8080"), "127.0.0.1:5000")));
        assert!(!only.allows(&parts(Some("other.example"), "203.0.113.9:5000")));
    }
}
