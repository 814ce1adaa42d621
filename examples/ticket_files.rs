//! Files a ticket per error as a JSON file in a directory: a ticketing system anyone can run
//! (point a file watcher, a cron job or a Git repository at the directory).
//!
//! ```text
//! cargo run --example ticket_files -- /tmp/tickets
//! ls /tmp/tickets        # ET-1.json
//! ```
//!
//! Each ticket is written to a temporary file first and then renamed, so a reader never sees
//! half a ticket; numbers are taken with `create_new`, so two processes sharing the directory
//! never overwrite each other's tickets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use error_tracker::{ErrorGroup, ErrorTracker, TicketError, Ticketing};
use serde_json::json;
use tracing_subscriber::prelude::*;

/// Tickets as `PREFIX-N.json` files in a directory.
pub struct JsonFileTickets {
    dir: PathBuf,
    prefix: String,
}

impl JsonFileTickets {
    /// Tickets in `dir` (created if missing), named `ET-1.json`, `ET-2.json`, ...
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(JsonFileTickets {
            dir,
            prefix: "ET".to_owned(),
        })
    }

    /// The file of ticket `reference`.
    pub fn path_of(&self, reference: &str) -> PathBuf {
        self.dir.join(format!("{reference}.json"))
    }

    /// Claims the next free number: an empty `PREFIX-N.json` made with `create_new`.
    fn claim(&self) -> std::io::Result<String> {
        let existing = std::fs::read_dir(&self.dir)?
            .filter_map(|entry| entry.ok())
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}-", self.prefix))
            })
            .count();
        for n in existing + 1.. {
            let reference = format!("{}-{n}", self.prefix);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.path_of(&reference))
            {
                Ok(_) => return Ok(reference),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
            }
        }
        unreachable!("the range above has no end")
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

impl Ticketing for JsonFileTickets {
    fn create_ticket(&self, error: &ErrorGroup) -> Result<String, TicketError> {
        let unavailable = |err: std::io::Error| {
            TicketError::Unavailable(format!("{}: {err}", self.dir.display()))
        };
        let reference = self.claim().map_err(unavailable)?;
        let summary = &error.summary;
        // The error is masked already: the ticket holds nothing the store does not.
        let ticket = json!({
            "reference": reference,
            "title": format!("{}: {}", summary.kind, summary.message),
            "fingerprint": summary.fingerprint,
            "count": summary.count,
            "first_seen": summary.first_seen.unix_timestamp(),
            "location": summary.location,
            "newest_sample": error.samples.last(),
        });
        let bytes =
            serde_json::to_vec_pretty(&ticket).map_err(|err| TicketError::Other(Box::new(err)))?;
        write_atomically(&self.path_of(&reference), &bytes).map_err(unavailable)?;
        Ok(reference)
    }
}

#[allow(dead_code)] // The tests include this file for `JsonFileTickets` only.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tickets".to_owned());
    let tracker = ErrorTracker::builder()
        .in_memory()
        .ticketing(JsonFileTickets::new(&dir)?)
        .build()?;
    tracing_subscriber::registry().with(tracker.layer()).init();

    let err = std::io::Error::other("connection refused");
    tracing::error!(
        error = &err as &dyn std::error::Error,
        password = "hunter2",
        "cannot reach the billing service"
    );
    tracker.flush_notifications(Duration::from_secs(5));
    for summary in tracker.errors(1)?.items {
        let error = tracker
            .error(&summary.fingerprint)?
            .ok_or("the error is gone")?;
        println!(
            "{}: {} -> ticket {}",
            summary.kind,
            summary.message,
            error.ticket.as_deref().unwrap_or("(none yet)")
        );
    }
    Ok(())
}
