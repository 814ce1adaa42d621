//! Rows of a group that only notifications and ticketing use: what was notified, the ticket
//! reference, and how many times the group regressed.
//!
//! They are row kinds of their own in `groups`, written only when something happens (a
//! regression, a sent notification, a filed ticket). A file written before they existed
//! simply lacks them, which reads as "nothing notified, no ticket, never regressed": no
//! schema change is needed.

use ::redb::{ReadableTable, Table};

use super::error::Fail;
use super::layout::{
    GroupKey, NOTIFY_TAKEN_KEY, NOTIFY_WINDOW_KEY, decode_count, encode_count, row_key,
};
use crate::store::{NotificationState, StoreError};

/// (fp, 3, 0, 0) -> JSON of [`NotificationState`].
pub(super) const NOTIFICATION_ROW: u8 = 3;
/// (fp, 4, 0, 0) -> the ticket reference, UTF-8.
pub(super) const TICKET_ROW: u8 = 4;
/// (fp, 5, 0, 0) -> how many times the group regressed, u64 little-endian.
pub(super) const REGRESSIONS_ROW: u8 = 5;

fn damaged(fp: &str, what: &str) -> Fail {
    Fail::Store(StoreError::Corrupt(format!(
        "the {what} of {fp} cannot be read"
    )))
}

/// What the rows above hold for one group.
#[derive(Default)]
pub(super) struct NotifyRows {
    pub regressions: u64,
    pub notification: NotificationState,
    pub ticket: Option<String>,
}

/// Reads the rows of `fp` from `groups` (a read-only or a write table).
pub(super) fn load<T>(groups: &T, fp: &str) -> Result<NotifyRows, Fail>
where
    T: ReadableTable<GroupKey, &'static [u8]>,
{
    let mut rows = NotifyRows::default();
    if let Some(row) = groups.get(row_key(fp, REGRESSIONS_ROW))? {
        rows.regressions = decode_count(row.value()).ok_or_else(|| damaged(fp, "regressions"))?;
    }
    if let Some(row) = groups.get(row_key(fp, NOTIFICATION_ROW))? {
        rows.notification =
            serde_json::from_slice(row.value()).map_err(|_| damaged(fp, "notification state"))?;
    }
    if let Some(row) = groups.get(row_key(fp, TICKET_ROW))? {
        let ticket = std::str::from_utf8(row.value()).map_err(|_| damaged(fp, "ticket"))?;
        rows.ticket = Some(ticket.to_owned());
    }
    Ok(rows)
}

/// Adds one to the regressions of `fp`.
pub(super) fn count_regression(
    groups: &mut Table<'_, GroupKey, &'static [u8]>,
    fp: &str,
) -> Result<(), Fail> {
    let before = match groups.get(row_key(fp, REGRESSIONS_ROW))? {
        Some(row) => decode_count(row.value()).ok_or_else(|| damaged(fp, "regressions"))?,
        None => 0,
    };
    groups.insert(
        row_key(fp, REGRESSIONS_ROW),
        encode_count(before.saturating_add(1)).as_slice(),
    )?;
    Ok(())
}

/// Merges `state` into the stored state of `fp`, which must exist.
pub(super) fn merge_notification(
    groups: &mut Table<'_, GroupKey, &'static [u8]>,
    fp: &str,
    state: &NotificationState,
) -> Result<(), Fail> {
    let mut stored: NotificationState = match groups.get(row_key(fp, NOTIFICATION_ROW))? {
        Some(row) => {
            serde_json::from_slice(row.value()).map_err(|_| damaged(fp, "notification state"))?
        }
        None => NotificationState::default(),
    };
    stored.merge(state);
    let json = serde_json::to_vec(&stored).map_err(|err| {
        Fail::Store(StoreError::InvalidInput(format!(
            "the notification state of {fp} cannot be stored: {err}"
        )))
    })?;
    groups.insert(row_key(fp, NOTIFICATION_ROW), json.as_slice())?;
    Ok(())
}

/// Stores the ticket reference of `fp`, which must exist.
pub(super) fn set_ticket(
    groups: &mut Table<'_, GroupKey, &'static [u8]>,
    fp: &str,
    ticket: &str,
) -> Result<(), Fail> {
    groups.insert(row_key(fp, TICKET_ROW), ticket.as_bytes())?;
    Ok(())
}

/// Takes one notification from the cap shared through `meta`, in the caller's write
/// transaction: redb runs one write transaction at a time across processes, so two processes
/// never both take the last one.
pub(super) fn take_slot(
    meta: &mut Table<'_, &'static str, u64>,
    now: i64,
    window: std::time::Duration,
    cap: u32,
) -> Result<bool, Fail> {
    let now = u64::try_from(now).unwrap_or(0);
    let start = meta.get(NOTIFY_WINDOW_KEY)?.map(|v| v.value());
    let taken = meta.get(NOTIFY_TAKEN_KEY)?.map_or(0, |v| v.value());
    // A window that began in the future (a clock set back) is over too.
    let current = start.filter(|&start| start <= now && now - start < window.as_secs().max(1));
    let taken = match current {
        Some(_) if taken >= u64::from(cap) => return Ok(false),
        Some(_) => taken + 1,
        None => {
            meta.insert(NOTIFY_WINDOW_KEY, now)?;
            1
        }
    };
    meta.insert(NOTIFY_TAKEN_KEY, taken)?;
    Ok(true)
}
