//! # error-tracker
//!
//! An embedded error tracker for Rust services: no SaaS, no server to run.
//!
//! A [`tracing_subscriber::Layer`] turns error-level events (and panics, and
//! [`capture_error`] / [`capture_message`] calls) into *occurrences*. Occurrences that share a
//! *fingerprint* are grouped into one *error* with an exact count, first and last seen times,
//! a status and the newest samples. Span fields and [`configure_scope`] extras are the context
//! of every error raised inside them. Sensitive values are masked before anything is stored.
//!
//! ```
//! use std::time::Duration;
//! use tracing_subscriber::prelude::*;
//!
//! let tracker = error_tracker::ErrorTracker::builder().in_memory().build()?;
//! let subscriber = tracing_subscriber::registry().with(tracker.layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _scope = error_tracker::configure_scope(|s| {
//!         s.set_extra("user_id", 1234);
//!     });
//!     let err = std::io::Error::other("card declined");
//!     tracing::error!(error = &err as &dyn std::error::Error, password = "hunter2", "payment 17 failed");
//!     tracing::error!(error = &err as &dyn std::error::Error, password = "hunter2", "payment 18 failed");
//!     error_tracker::capture_message("cache is cold");
//! });
//! assert!(tracker.flush(Duration::from_secs(2)));
//! let page = tracker.errors(1)?;
//! assert_eq!(page.total, 2);
//! let payment = page.items.iter().find(|e| e.kind == "std::io::Error").unwrap();
//! assert_eq!(payment.count, 2); // "payment 17" and "payment 18" are one error
//! let group = tracker.error(&payment.fingerprint)?.unwrap();
//! assert_eq!(group.samples[0].fields["password"], "*************");
//! assert_eq!(group.samples[0].extras["user_id"], 1234);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See the guide (`docs/guide.md`) for the concepts and `docs/configuration.md` for every
//! setting.
//!
//! Errors are announced by email without storms (a message for a new error, a regression or
//! an occurrence milestone, with a cooldown and an hourly cap), tickets are filed once per
//! error, and a [`ContextBuilder`] decides what occurrences carry: see [`notify`],
//! [`Ticketing`] and `docs/notifications.md`.
#![warn(missing_docs)]

mod backtrace;
mod breadcrumbs;
mod buffer;
mod capture;
pub mod config;
mod context;
#[cfg(feature = "dashboard")]
pub mod dashboard;
mod filter;
pub mod fingerprint;
#[cfg(feature = "http")]
pub mod http;
mod integrations;
mod layer;
mod mask;
pub mod notify;
mod occurrence;
#[cfg(feature = "opentelemetry")]
mod otel;
mod panic;
mod panic_echo;
mod record;
mod release;
mod scope;
mod shared;
pub mod store;
mod ticket;
mod tracker;
mod worker;

pub use backtrace::{BacktraceMode, Frame};
pub use breadcrumbs::Breadcrumb;
pub use capture::{
    TrackResult, capture_dyn_error, capture_error, capture_message, track, track_silent,
};
pub use context::{ContextBuilder, DefaultContext};
pub use filter::EventDecision;
#[cfg(feature = "anyhow")]
pub use integrations::anyhow::{TrackAnyhow, capture_anyhow};
#[cfg(feature = "eyre")]
pub use integrations::eyre::{TrackEyre, capture_eyre};
pub use layer::ErrorTrackerLayer;
pub use mask::{DefaultMasking, Masking, mask_occurrence, scrub_sensitive_values};
pub use notify::{NotificationStats, Notifier, NotifyPolicy, SmtpNotifier, SmtpSettings};
pub use occurrence::{ErrorLink, FieldMap, Level, Location, Occurrence, SpanRecord, ThreadInfo};
pub use release::ResolvedIn;
pub use scope::{Scope, ScopeGuard, configure_scope, configure_span_scope, scope_span};
pub use store::{
    Durability, ErrorGroup, ErrorSummary, ListQuery, MemoryStore, NotificationState, Page,
    RedbOptions, RedbStore, Status, StatusCounts, Store, StoreError,
};
pub use ticket::{TicketError, Ticketing};
pub use tracker::{BuildError, Builder, ErrorTracker, TrackerStats};

/// The examples of `docs/guide.md`, compiled and run as doctests so that the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
struct Guide;

/// The examples of `docs/configuration.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/configuration.md")]
struct ConfigurationGuide;

/// The examples of `docs/storage.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/storage.md")]
struct StorageGuide;
