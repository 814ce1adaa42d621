//! Filing tickets for errors: the [`Ticketing`] trait (the seed's
//! `APP_ERROR_TICKETING_MODULE`).
//!
//! The notifier thread files one ticket per error: for every unresolved error without a
//! ticket reference, it calls [`Ticketing::create_ticket`] and stores the reference it
//! returns with the error ([`crate::ErrorGroup::ticket`]), where notifications, the
//! dashboard and the API show it. A failure is retried with back-off; a panic is caught and
//! counted. `examples/ticket_files.rs` files tickets as JSON files in a directory.

use crate::store::ErrorGroup;

/// Why a ticket could not be filed.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// The ticketing system cannot be reached right now: retried with back-off.
    #[error("ticketing unavailable: {0}")]
    Unavailable(String),
    /// Any other failure: also retried, with the same back-off.
    #[error("ticketing failed: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Files tickets for errors in an issue tracker.
///
/// Called on the notifier thread only, once per error (until it succeeds), with the error as
/// stored: masked, with its newest samples. It may block; the application never waits for
/// it. If the reference cannot be stored afterwards (the store is failing), the notifier
/// keeps it in memory, so the ticket is not filed twice while the process runs.
pub trait Ticketing: Send + Sync + 'static {
    /// Files a ticket for `error` and returns its reference (an id or a URL), shown with the
    /// error from then on.
    fn create_ticket(&self, error: &ErrorGroup) -> Result<String, TicketError>;
}
