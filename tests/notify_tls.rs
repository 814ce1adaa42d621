//! SMTP over TLS against a real server: STARTTLS and implicit TLS with a certificate of a
//! private authority (`email.tls_ca_file`), and no delivery to a server that is not trusted.

mod notify_support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use error_tracker::notify::SmtpTls;
use error_tracker::{ErrorTracker, ListQuery};
use notify_support::{SmtpServer, email, free_port, policy, settle};
use tracing_subscriber::prelude::*;

/// A self-signed certificate for 127.0.0.1: (certificate, key) PEM files.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn tracker(dir: &Path, port: u16, tls: SmtpTls, ca: Option<PathBuf>) -> ErrorTracker {
    let mut settings = email(port);
    settings.tls = tls;
    settings.tls_ca_file = ca;
    ErrorTracker::builder()
        .database_path(dir.join("errors.redb"))
        .email(settings)
        .notify_policy(policy())
        .build()
        .unwrap()
}

fn emit(tracker: &ErrorTracker) {
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("sent over TLS"));
}

#[test]
fn starttls_with_a_private_authority() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let port = free_port();
    // The server refuses mail before STARTTLS: a message that arrives went over TLS.
    let server = SmtpServer::start_with(
        port,
        dir.path(),
        &[
            OsStr::new("--tlscert"),
            cert.as_os_str(),
            OsStr::new("--tlskey"),
            key.as_os_str(),
        ],
    );
    let tracker = tracker(dir.path(), port, SmtpTls::StartTls, Some(cert));
    emit(&tracker);
    settle(&tracker);
    let mails = server.wait_for(1);
    assert_eq!(mails[0].subject, "[test] event: sent over TLS");
}

#[test]
fn implicit_tls_with_a_private_authority() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let port = free_port();
    let server = SmtpServer::start_with(
        port,
        dir.path(),
        &[
            OsStr::new("--smtpscert"),
            cert.as_os_str(),
            OsStr::new("--smtpskey"),
            key.as_os_str(),
        ],
    );
    let tracker = tracker(dir.path(), port, SmtpTls::Tls, Some(cert));
    emit(&tracker);
    settle(&tracker);
    assert_eq!(server.wait_for(1).len(), 1);
}

#[test]
fn an_untrusted_certificate_is_refused_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let port = free_port();
    let server = SmtpServer::start_with(
        port,
        dir.path(),
        &[
            OsStr::new("--smtpscert"),
            cert.as_os_str(),
            OsStr::new("--smtpskey"),
            key.as_os_str(),
        ],
    );
    let tracker = tracker(dir.path(), port, SmtpTls::Tls, None);
    emit(&tracker);
    assert!(tracker.flush(Duration::from_secs(10)));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tracker.stats().notifications.failures < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            tracker.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.messages().is_empty());
    let stats = tracker.stats();
    assert_eq!(stats.notifications.sent, 0);
    let error = stats.notifications.last_error.unwrap_or_default();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(tracker.list(&ListQuery::page(1, 10)).unwrap().total, 1);
}
