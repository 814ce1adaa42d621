//! Notifications without storms: the [`Notifier`] trait (the seed's
//! `APP_ERROR_NOTIFICATION_MODULE`), the SMTP notifier ([`SmtpNotifier`]), and when to notify
//! ([`NotifyPolicy`]).
//!
//! The worker hands what [`crate::Store::record`] reports (new, regressed, a milestone
//! crossed) to a thread of its own, the *notifier thread*, without ever waiting. That thread
//! reads the error back from the store, asks the policy whether a notification is due, and
//! sends it; the store keeps what was notified ([`crate::NotificationState`]) with the error.
//! Whether a notification is due depends only on the stored error and that state, so a lost
//! hand-off, a failed send or a restart never loses a notification: a later pass finds it due
//! again. See `docs/notifications.md` for the policy.

mod dispatch;
pub mod message;
mod policy;
mod smtp;
#[cfg(feature = "webhook")]
mod webhook;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::{ErrorGroup, ErrorSummary};

pub(crate) use self::dispatch::{Dispatcher, Handoff, NotifyThread};
pub use self::policy::NotifyPolicy;
pub use self::smtp::{SmtpNotifier, SmtpSettings, SmtpTls};
#[cfg(feature = "webhook")]
pub use self::webhook::{WebhookFormat, WebhookNotifier};

/// Why an error is notified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "reason")]
pub enum Reason {
    /// Seen for the first time (or never notified before).
    New,
    /// Seen again after being resolved.
    Regression {
        /// How many times it has regressed so far.
        regressions: u64,
    },
    /// Its count reached an occurrence milestone.
    Milestone {
        /// The milestone reached (the highest one, when several were crossed at once).
        milestone: u64,
    },
}

impl Reason {
    /// A short English description: "New error", "Regression", "Reached 100 occurrences".
    pub fn describe(&self) -> String {
        match self {
            Reason::New => "New error".to_owned(),
            Reason::Regression { regressions: 1 } => {
                "Regression: seen again after being resolved".to_owned()
            }
            Reason::Regression { regressions } => {
                format!("Regression: seen again after being resolved ({regressions} times so far)")
            }
            Reason::Milestone { milestone } => format!("Reached {milestone} occurrences"),
        }
    }
}

/// One error, due for a notification.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorNotice {
    /// Why it is notified.
    pub reason: Reason,
    /// The error as stored (masked), with its newest samples.
    pub error: ErrorGroup,
}

/// Errors the hourly cap held back, sent together in one message when the hour is over.
#[derive(Clone, Debug, PartialEq)]
pub struct DigestNotice {
    /// The errors held back, each with the reason it was due (at most
    /// [`DigestNotice::LISTED`]; `held_back` counts them all).
    pub errors: Vec<(Reason, ErrorSummary)>,
    /// How many errors were held back in all.
    pub held_back: u64,
    /// The cap that held them back (notifications per window).
    pub cap: u32,
    /// When the window the cap counts in began.
    pub window_start: OffsetDateTime,
}

impl DigestNotice {
    /// Most errors listed in one digest; the rest are counted.
    pub const LISTED: usize = 200;
}

/// What a [`Notifier`] is asked to send.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// One error: new, regressed, or at a milestone.
    Error(Box<ErrorNotice>),
    /// The errors the hourly cap held back.
    Digest(DigestNotice),
}

/// Why a notification was not sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The settings cannot work (a bad address, TLS settings); fix and restart.
    #[error("invalid notification settings: {0}")]
    Config(String),
    /// The notification was refused for good (a permanent SMTP error): it is not retried.
    #[error("notification rejected: {0}")]
    Rejected(String),
    /// The service is down or slow right now: retried with back-off.
    #[error("notification service unavailable: {0}")]
    Unavailable(String),
}

/// Sends notifications (the seed's `APP_ERROR_NOTIFICATION_MODULE`).
///
/// It is called on the notifier thread only, one notification at a time, with masked data
/// only; it may block (the application never waits for it). Return
/// [`NotifyError::Unavailable`] for a failure worth retrying. A panic is caught, counted and
/// treated like an unavailable service.
pub trait Notifier: Send + Sync + 'static {
    /// Sends one notification.
    fn notify(&self, notification: &Notification) -> Result<(), NotifyError>;
}

/// What the notifier thread did: part of [`crate::TrackerStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotificationStats {
    /// Notifications about one error sent.
    pub sent: u64,
    /// Digests sent.
    pub digests: u64,
    /// Errors held back by the hourly cap (each is listed in a digest).
    pub held_back: u64,
    /// Times a due notification waited for an error's cooldown to end.
    pub deferred: u64,
    /// Failed attempts to send (each is retried, unless rejected for good).
    pub failures: u64,
    /// Notifications given up after a permanent rejection.
    pub rejected: u64,
    /// Tickets filed.
    pub tickets: u64,
    /// Failed attempts to file a ticket (each is retried).
    pub ticket_failures: u64,
    /// Times an error's ticket waited for the next window because the ticket cap
    /// ([`NotifyPolicy::max_tickets_per_window`]) was reached.
    pub tickets_held_back: u64,
    /// Hand-offs from the worker dropped because the notifier thread was behind; a later
    /// scan of the store finds what they were about.
    pub dropped_handoffs: u64,
    /// Notifications waiting to be sent right now (retrying, or being sent).
    pub pending: u64,
    /// The last failure of the notifier, the ticketing or the store as the notifier thread
    /// saw it.
    pub last_error: Option<String>,
}

/// Compiles the examples of `docs/notifications.md` as doc tests, so the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/notifications.md")]
pub struct NotificationsGuide;
