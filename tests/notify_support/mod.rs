//! A real SMTP server for the notification tests: aiosmtpd with its Mailbox handler, writing
//! every message it accepts into a Maildir, and a parser for what it wrote.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use error_tracker::config::EmailConfig;
use error_tracker::notify::SmtpTls;
use error_tracker::{Builder, ErrorTracker, NotifyPolicy};
use mailparse::{MailHeaderMap, ParsedMail};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// `python3 -m aiosmtpd` on 127.0.0.1, killed when dropped.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl SmtpServer {
    /// A server on a free port with a Maildir in `dir`.
    pub fn start(dir: &Path) -> Self {
        Self::start_on(free_port(), dir)
    }

    /// A server on `port`, waiting until it accepts connections.
    pub fn start_on(port: u16, dir: &Path) -> Self {
        Self::start_with(port, dir, &[])
    }

    /// A server on `port` with more command-line options (TLS certificates).
    pub fn start_with(port: u16, dir: &Path, options: &[&std::ffi::OsStr]) -> Self {
        let maildir = dir.join("Maildir");
        let mut command = Command::new("python3");
        command
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(options)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir);
        Self::spawn(command, port, maildir)
    }

    /// A server on a free port that requires authentication as `user` / `pa55word`
    /// (`auth_smtp.py`).
    pub fn start_with_auth(dir: &Path) -> Self {
        let port = free_port();
        let maildir = dir.join("Maildir");
        let mut command = Command::new("python3");
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notify_support/auth_smtp.py"))
            .arg(port.to_string())
            .arg(&maildir);
        Self::spawn(command, port, maildir)
    }

    fn spawn(mut command: Command, port: u16, maildir: PathBuf) -> Self {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd (python3 -m pip install aiosmtpd)");
        let mut server = SmtpServer {
            child,
            port,
            maildir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("aiosmtpd exited with {status}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server.port = port;
        server
    }

    /// Every message accepted so far, in arrival order (the files' modification times).
    pub fn messages(&self) -> Vec<Mail> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = files
            .into_iter()
            .filter_map(|path| Some((std::fs::metadata(&path).ok()?.modified().ok()?, path)))
            .collect();
        files.sort();
        files
            .iter()
            .map(|(_, path)| Mail::parse(std::fs::read(path).expect("read a message")))
            .collect()
    }

    /// Waits until at least `n` messages arrived (at most 30 s) and returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mails = self.messages();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} messages, got {}: {:#?}",
                mails.len(),
                mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One received message, parsed.
#[derive(Debug)]
pub struct Mail {
    pub raw: String,
    pub subject: String,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
    pub date: i64,
    /// Every header name, lower-case.
    pub header_names: Vec<String>,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: String,
}

impl Mail {
    fn parse(bytes: Vec<u8>) -> Self {
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let parsed = mailparse::parse_mail(&bytes).expect("a parsable message");
        let headers = &parsed.headers;
        let one = |name: &str| headers.get_first_value(name);
        let mut text = String::new();
        let mut html = String::new();
        collect_parts(&parsed, &mut text, &mut html);
        Mail {
            subject: one("Subject").unwrap_or_default(),
            message_id: one("Message-ID"),
            in_reply_to: one("In-Reply-To"),
            references: one("References"),
            date: one("Date")
                .and_then(|d| mailparse::dateparse(&d).ok())
                .unwrap_or(0),
            header_names: headers.iter().map(|h| h.get_key().to_lowercase()).collect(),
            headers: headers
                .iter()
                .map(|h| (h.get_key(), h.get_value()))
                .collect(),
            raw,
            text,
            html,
        }
    }
}

fn collect_parts(part: &ParsedMail<'_>, text: &mut String, html: &mut String) {
    match part.ctype.mimetype.as_str() {
        "text/plain" => text.push_str(&part.get_body().expect("a text body")),
        "text/html" => html.push_str(&part.get_body().expect("an html body")),
        _ => {}
    }
    for sub in &part.subparts {
        collect_parts(sub, text, html);
    }
}

/// `[email]` settings for a plain-text server on 127.0.0.1:`port`.
pub fn email(port: u16) -> EmailConfig {
    EmailConfig {
        from: Some("tracker@example.com".into()),
        to: vec!["ops@example.com".into(), "dev@example.com".into()],
        subject_prefix: "[test]".into(),
        smtp_host: "127.0.0.1".into(),
        smtp_port: Some(port),
        tls: SmtpTls::None,
        timeout_ms: 5_000,
        base_url: Some("http://errors.example.com/errors".into()),
        ..EmailConfig::default()
    }
}

/// A policy with no cooldown and fast retries; tests change what they need.
pub fn policy() -> NotifyPolicy {
    NotifyPolicy {
        cooldown: Duration::ZERO,
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        ..NotifyPolicy::default()
    }
}

/// A tracker on the redb file `db` notifying through `port`, and a dispatcher with its layer.
pub fn tracker(db: &Path, port: u16, policy: NotifyPolicy) -> (ErrorTracker, Dispatch) {
    tracker_with(ErrorTracker::builder().database_path(db), port, policy)
}

pub fn tracker_with(builder: Builder, port: u16, policy: NotifyPolicy) -> (ErrorTracker, Dispatch) {
    let tracker = builder
        .email(email(port))
        .notify_policy(policy)
        .build()
        .expect("tracker builds");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(tracker.layer()));
    (tracker, dispatch)
}

/// Waits until everything captured is stored and notified.
pub fn settle(tracker: &ErrorTracker) {
    assert!(
        tracker.flush_notifications(Duration::from_secs(30)),
        "notifications did not settle: {:?}",
        tracker.stats()
    );
}
