//! Changes made inside one write transaction: recording a batch, changing a status, deleting
//! groups. Callers commit; an error drops the transaction, so nothing is half-applied.

use std::cmp::Ordering;

use hashbrown::HashMap;
use std::ops::Bound;

use ::redb::{ReadableTable, Table, WriteTransaction};

use super::error::Fail;
use super::layout::{
    BY_RECENT, BY_STATUS, COUNTERS_ROW, Counters, GROUPS, GroupInfo, GroupKey, HOUR_ROW, HOURS,
    META, PRUNED_BEFORE_KEY, SAMPLE_DATA, TOTAL_KEY, all_rows, decode_count, encode_count,
    hour_key, hour_of, hour_start, recent_key, row_key, status_code, status_key, to_nanos,
};
use crate::store::{Change, GroupUpdate, RecordOutcome, Status, StoreError};

/// A checked group update: it has samples, and the keys they are stored under.
pub(super) struct EncodedUpdate<'a> {
    pub update: &'a GroupUpdate,
    /// Its place in the batch, which is where its samples' JSON is in [`SampleJson`].
    pub index: usize,
    /// (time, id) of each sample.
    pub samples: Vec<(i64, u128)>,
}

/// The JSON of every sample of a batch: `[update][sample]`.
pub(super) type SampleJson = Vec<Vec<Vec<u8>>>;

/// Checks a batch; the error names the first bad update.
pub(super) fn encode_batch(batch: &[GroupUpdate]) -> Result<Vec<EncodedUpdate<'_>>, StoreError> {
    batch
        .iter()
        .enumerate()
        .map(|(index, update)| {
            if update.samples.is_empty() {
                return Err(StoreError::InvalidInput(format!(
                    "update for {} has no sample",
                    update.fingerprint
                )));
            }
            let samples = update
                .samples
                .iter()
                .map(|sample| (to_nanos(sample.time), sample.id.as_u128()))
                .collect();
            Ok(EncodedUpdate {
                update,
                index,
                samples,
            })
        })
        .collect()
}

/// Encodes every sample of a batch as JSON; the error names the first that cannot be.
pub(super) fn sample_json(batch: &[GroupUpdate]) -> Result<SampleJson, StoreError> {
    batch
        .iter()
        .map(|update| {
            update
                .samples
                .iter()
                .map(|sample| {
                    serde_json::to_vec(sample).map_err(|err| {
                        StoreError::InvalidInput(format!(
                            "a sample of {} cannot be stored: {err}",
                            update.fingerprint
                        ))
                    })
                })
                .collect()
        })
        .collect()
}

/// What a new group is described by: its first sample's kind, message, level and location.
fn describe(update: &GroupUpdate) -> Result<GroupInfo, Fail> {
    // encode_batch proved that every update has a first sample.
    let Some(first) = update.samples.first() else {
        return Err(Fail::Store(StoreError::InvalidInput(format!(
            "update for {} has no sample",
            update.fingerprint
        ))));
    };
    Ok(GroupInfo {
        kind: first.kind.clone(),
        message: first.message.clone(),
        level: first.level,
        location: first.location.clone(),
        grouping_version: update.grouping_version,
    })
}

/// Changes to the group counts in `meta`, written once per transaction.
#[derive(Default)]
pub(super) struct Tally {
    total: i64,
    by_status: [i64; 3],
}

impl Tally {
    fn add(&mut self, status: Status, delta: i64) {
        self.by_status[usize::from(status_code(status))] += delta;
    }
}

/// Every table a write touches, opened once per transaction.
pub(super) struct Tables<'txn> {
    meta: Table<'txn, &'static str, u64>,
    groups: Table<'txn, GroupKey, &'static [u8]>,
    by_recent: Table<'txn, (u64, &'static str), ()>,
    by_status: Table<'txn, (u8, u64, &'static str), ()>,
    sample_data: Table<'txn, (i64, u128, &'static str), &'static [u8]>,
    hours: Table<'txn, (u32, &'static str), ()>,
    tally: Tally,
    /// [`PRUNED_BEFORE_KEY`], once read.
    pruned_before: Option<u32>,
    /// Samples to insert by [`Tables::insert_samples`], keyed as in [`SAMPLE_DATA`], with
    /// where their JSON is in [`SampleJson`]. Deferred so that the JSON can be encoded while
    /// the rest of the batch is written.
    new_samples: HashMap<(i64, u128, String), (usize, usize)>,
}

fn damaged(fingerprint: &str, what: &str) -> Fail {
    Fail::Store(StoreError::Corrupt(format!(
        "the {what} of {fingerprint} cannot be read"
    )))
}

impl<'txn> Tables<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self, Fail> {
        Ok(Tables {
            meta: txn.open_table(META)?,
            groups: txn.open_table(GROUPS)?,
            by_recent: txn.open_table(BY_RECENT)?,
            by_status: txn.open_table(BY_STATUS)?,
            sample_data: txn.open_table(SAMPLE_DATA)?,
            hours: txn.open_table(HOURS)?,
            tally: Tally::default(),
            pruned_before: None,
            new_samples: HashMap::new(),
        })
    }

    /// The `groups` table, for the rows of other modules (see `notify.rs`).
    pub fn groups(&mut self) -> &mut Table<'txn, GroupKey, &'static [u8]> {
        &mut self.groups
    }

    pub fn meta(&mut self) -> &mut Table<'txn, &'static str, u64> {
        &mut self.meta
    }

    pub fn meta_value(&self, key: &str) -> Result<u64, Fail> {
        Ok(self.meta.get(key)?.map_or(0, |v| v.value()))
    }

    pub fn load_counters(&self, fp: &str) -> Result<Option<Counters>, Fail> {
        match self.groups.get(row_key(fp, COUNTERS_ROW))? {
            None => Ok(None),
            Some(row) => Counters::decode(row.value())
                .map(Some)
                .ok_or_else(|| damaged(fp, "counters")),
        }
    }

    fn store_counters(&mut self, fp: &str, counters: &Counters) -> Result<(), Fail> {
        self.groups
            .insert(row_key(fp, COUNTERS_ROW), counters.encode().as_slice())?;
        Ok(())
    }

    /// Adds one coalesced update: the whole of [`Store::record`](crate::Store::record) for one
    /// group.
    pub fn record(&mut self, encoded: &EncodedUpdate<'_>) -> Result<RecordOutcome, Fail> {
        let update = encoded.update;
        let fp = update.fingerprint.as_str();
        let first_seen = to_nanos(update.first_seen);
        let last_seen = to_nanos(update.last_seen);
        let before = self.load_counters(fp)?;
        let mut change = Change::Repeated;
        let mut counters = match before.clone() {
            Some(counters) => counters,
            None => {
                change = Change::New;
                Counters::new(describe(update)?, first_seen, last_seen)
            }
        };
        let previous_count = counters.count;
        let release = crate::store::memory::update_release(update);
        if change == Change::New {
            counters.releases.first = release.map(str::to_owned);
        }
        counters.count = counters.count.saturating_add(update.count);
        counters.first_seen = counters.first_seen.min(first_seen);
        counters.last_seen = counters.last_seen.max(last_seen);
        counters.releases.last = crate::release::latest(counters.releases.last.take(), release);
        let reopens = counters
            .releases
            .resolved_in
            .as_ref()
            .is_none_or(|resolved| resolved.reopens(release));
        if counters.status == Status::Resolved && reopens {
            counters.status = Status::Unresolved;
            counters.regressed = true;
            counters.releases.resolved_in = None;
            change = Change::Regressed;
            super::notify::count_regression(&mut self.groups, fp)?;
        }
        let trimmed = self.add_samples(fp, encoded, &mut counters.samples)?;
        counters.dropped_samples = counters
            .dropped_samples
            .saturating_add(update.dropped_samples)
            .saturating_add(trimmed);
        self.count_hour(fp, &mut counters, hour_of(last_seen), update.count)?;
        match before {
            None => {
                self.tally.total += 1;
                self.tally.add(counters.status, 1);
                self.index(fp, &counters)?;
            }
            Some(old) => self.reindex(fp, &old, &counters)?,
        }
        self.store_counters(fp, &counters)?;
        Ok(RecordOutcome {
            fingerprint: update.fingerprint.clone(),
            change,
            previous_count,
            count: counters.count,
            status: counters.status,
        })
    }

    /// Merges the update's samples into the group's `kept` sample keys, keeping the newest
    /// `keep_samples` (as [`merge_samples`](crate::store::merge_samples) does), and writes or
    /// deletes their JSON to match; returns how many samples were left out.
    fn add_samples(
        &mut self,
        fp: &str,
        encoded: &EncodedUpdate<'_>,
        kept: &mut Vec<(i64, u128)>,
    ) -> Result<u64, Fail> {
        // (time, id, index of the new sample's JSON, or None for one already stored)
        let mut merged: Vec<(i64, u128, Option<usize>)> = kept
            .iter()
            .map(|&(time, id)| (time, id, None))
            .chain(
                encoded
                    .samples
                    .iter()
                    .enumerate()
                    .map(|(n, (time, id))| (*time, *id, Some(n))),
            )
            .collect();
        // A sample given twice (same time and id: the same occurrence) is kept once. The sort
        // is stable, so the stored copy comes first and is the one kept.
        merged.sort_by_key(|&(time, id, _)| (time, id));
        merged.dedup_by_key(|&mut (time, id, _)| (time, id));
        let excess = merged.len().saturating_sub(encoded.update.keep_samples);
        let (dropped, staying) = merged.split_at(excess);
        for &(time, id, new) in dropped {
            if new.is_none() {
                // Kept by an earlier update of this batch, whose sample is not written yet,
                // or by an earlier batch.
                let key = (time, id, fp.to_owned());
                if self.new_samples.remove(&key).is_none() {
                    self.sample_data.remove((time, id, fp))?;
                }
            }
        }
        for &(time, id, new) in staying {
            if let Some(n) = new {
                self.new_samples
                    .insert((time, id, fp.to_owned()), (encoded.index, n));
            }
        }
        *kept = staying.iter().map(|&(time, id, _)| (time, id)).collect();
        Ok(excess as u64)
    }

    /// Writes the samples the batch's updates kept, in key order (which appends them).
    pub fn insert_samples(&mut self, json: &SampleJson) -> Result<(), Fail> {
        let mut samples: Vec<_> = self.new_samples.drain().collect();
        samples.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for ((time, id, fp), (update, sample)) in samples {
            // The indices come from the batch `json` was encoded from.
            let Some(bytes) = json.get(update).and_then(|samples| samples.get(sample)) else {
                return Err(Fail::Store(StoreError::InvalidInput(format!(
                    "a sample of {fp} was not encoded"
                ))));
            };
            self.sample_data
                .insert((time, id, fp.as_str()), bytes.as_slice())?;
        }
        Ok(())
    }

    fn index(&mut self, fp: &str, counters: &Counters) -> Result<(), Fail> {
        let recent = recent_key(counters.last_seen);
        self.by_recent.insert((recent, fp), ())?;
        self.by_status
            .insert((status_code(counters.status), recent, fp), ())?;
        Ok(())
    }

    fn unindex(&mut self, fp: &str, counters: &Counters) -> Result<(), Fail> {
        let recent = recent_key(counters.last_seen);
        self.by_recent.remove((recent, fp))?;
        self.by_status
            .remove((status_code(counters.status), recent, fp))?;
        Ok(())
    }

    /// Moves the index entries of a group whose last-seen time or status changed.
    fn reindex(&mut self, fp: &str, old: &Counters, new: &Counters) -> Result<(), Fail> {
        if old.status != new.status {
            self.tally.add(old.status, -1);
            self.tally.add(new.status, 1);
        }
        if old.last_seen != new.last_seen {
            let (old_key, new_key) = (recent_key(old.last_seen), recent_key(new.last_seen));
            self.by_recent.remove((old_key, fp))?;
            self.by_recent.insert((new_key, fp), ())?;
        }
        if old.last_seen != new.last_seen || old.status != new.status {
            let old_status = status_code(old.status);
            self.by_status
                .remove((old_status, recent_key(old.last_seen), fp))?;
            self.by_status
                .insert((status_code(new.status), recent_key(new.last_seen), fp), ())?;
        }
        Ok(())
    }

    /// Adds `count` occurrences in `hour`: in the group's row when it is its newest hour (the
    /// usual case, which writes no other row), otherwise in a row of its own.
    fn count_hour(
        &mut self,
        fp: &str,
        counters: &mut Counters,
        hour: u32,
        count: u64,
    ) -> Result<(), Fail> {
        if hour < self.pruned_before()? {
            // That hour's histogram is gone already; a late count would never be pruned.
            return Ok(());
        }
        if counters.hour_count == 0 {
            // Empty (a new group, or its newest hour was pruned): the newer of the two hours
            // becomes the newest.
            counters.hour = counters.hour.max(hour);
            if counters.hour == hour {
                counters.hour_count = count;
                return Ok(());
            }
            return self.add_hour_row(fp, hour, count);
        }
        match hour.cmp(&counters.hour) {
            Ordering::Equal => {
                counters.hour_count = counters.hour_count.saturating_add(count);
                Ok(())
            }
            Ordering::Greater => {
                let (older, older_count) = (counters.hour, counters.hour_count);
                counters.hour = hour;
                counters.hour_count = count;
                self.add_hour_row(fp, older, older_count)
            }
            Ordering::Less => self.add_hour_row(fp, hour, count),
        }
    }

    /// Adds to the histogram row of an hour that is not the group's newest.
    fn add_hour_row(&mut self, fp: &str, hour: u32, count: u64) -> Result<(), Fail> {
        let previous = match self.groups.get(hour_key(fp, hour))? {
            None => None,
            Some(row) => Some(decode_count(row.value()).ok_or_else(|| damaged(fp, "histogram"))?),
        };
        let total = previous.unwrap_or(0).saturating_add(count);
        self.groups
            .insert(hour_key(fp, hour), encode_count(total).as_slice())?;
        if previous.is_none() {
            self.hours.insert((hour, fp), ())?;
        }
        Ok(())
    }

    /// The hour before which histograms were pruned, read once per transaction.
    fn pruned_before(&mut self) -> Result<u32, Fail> {
        if let Some(hour) = self.pruned_before {
            return Ok(hour);
        }
        let hour = u32::try_from(self.meta_value(PRUNED_BEFORE_KEY)?).unwrap_or(u32::MAX);
        self.pruned_before = Some(hour);
        Ok(hour)
    }

    /// Sets a group's status; `false` for an unknown fingerprint.
    pub fn set_status(&mut self, fp: &str, status: Status) -> Result<bool, Fail> {
        let Some(old) = self.load_counters(fp)? else {
            return Ok(false);
        };
        let mut new = old.clone();
        new.status = status;
        new.releases.resolved_in = None;
        if status == Status::Resolved {
            new.regressed = false;
        }
        if new != old {
            self.reindex(fp, &old, &new)?;
            self.store_counters(fp, &new)?;
        }
        Ok(true)
    }

    /// Resolves a group in a release; `false` for an unknown fingerprint.
    pub fn resolve_in(&mut self, fp: &str, resolved_in: crate::ResolvedIn) -> Result<bool, Fail> {
        let Some(old) = self.load_counters(fp)? else {
            return Ok(false);
        };
        let mut new = old.clone();
        new.status = Status::Resolved;
        new.regressed = false;
        new.releases.resolved_in = Some(resolved_in);
        if new != old {
            self.reindex(fp, &old, &new)?;
            self.store_counters(fp, &new)?;
        }
        Ok(true)
    }

    /// Deletes a group from every table; `false` for an unknown fingerprint.
    pub fn delete(&mut self, fp: &str) -> Result<bool, Fail> {
        let Some(counters) = self.load_counters(fp)? else {
            return Ok(false);
        };
        self.unindex(fp, &counters)?;
        self.tally.total -= 1;
        self.tally.add(counters.status, -1);
        let mut hours = Vec::new();
        for removed in self.groups.extract_from_if(all_rows(fp), |_, _| true)? {
            let (key, _) = removed?;
            let (_, kind, hour, _) = key.value();
            if kind == HOUR_ROW {
                hours.push(hour);
            }
        }
        for (time, id) in counters.samples {
            self.sample_data.remove((time, id, fp))?;
        }
        for hour in hours {
            // Hour rows are written from a u32; anything else is not in the index anyway.
            if let Ok(hour) = u32::try_from(hour) {
                self.hours.remove((hour, fp))?;
            }
        }
        Ok(true)
    }

    /// Deletes the given groups; returns how many existed.
    pub fn delete_all(&mut self, fingerprints: &[String]) -> Result<u64, Fail> {
        let mut deleted = 0;
        for fp in fingerprints {
            deleted += u64::from(self.delete(fp)?);
        }
        Ok(deleted)
    }

    /// Fingerprints of the groups last seen before `cutoff` (Unix nanoseconds), oldest last:
    /// the tail of `by_recent`, so this costs what it finds.
    pub fn seen_before(&self, cutoff: i64) -> Result<Vec<String>, Fail> {
        let Some(first_older) = recent_key(cutoff).checked_add(1) else {
            return Ok(Vec::new());
        };
        let lower: (u64, &str) = (first_older, "");
        self.by_recent
            .range::<(u64, &str)>((Bound::Included(lower), Bound::Unbounded))?
            .map(|entry| entry.map(|(key, _)| key.value().1.to_owned()))
            .collect::<Result<_, _>>()
            .map_err(Fail::from)
    }

    /// Fingerprints of the `n` least recently seen groups.
    pub fn least_recent(&self, n: u64) -> Result<Vec<String>, Fail> {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        self.by_recent
            .iter()?
            .rev()
            .take(n)
            .map(|entry| entry.map(|(key, _)| key.value().1.to_owned()))
            .collect::<Result<_, _>>()
            .map_err(Fail::from)
    }

    /// Removes the histogram hours before `hour`; returns how many (group, hour) counts went.
    ///
    /// Hours with rows of their own are found through [`HOURS`]. A group's newest hour, kept in
    /// its row, is before `hour` exactly when the group was last seen before `hour` started:
    /// those groups are a range of [`BY_RECENT`], of which only the part last seen since the
    /// previous pruning is read (older ones were emptied then), so this costs what it removes.
    pub fn prune_hours_before(&mut self, hour: u32) -> Result<u64, Fail> {
        let mut old: Vec<(u32, String)> = Vec::new();
        for removed in self
            .hours
            .extract_from_if::<(u32, &str), _>((0, "")..(hour, ""), |_, _| true)?
        {
            let (key, _) = removed?;
            let (h, fp) = key.value();
            old.push((h, fp.to_owned()));
        }
        for (h, fp) in &old {
            self.groups.remove(hour_key(fp, *h))?;
        }
        let mut pruned = old.len() as u64;
        let previous = self.pruned_before()?;
        if hour > previous {
            // Index keys grow as times get older: from the first group last seen before `hour`
            // started to the last one last seen since `previous` started.
            let newest = recent_key(to_nanos(hour_start(hour))).saturating_add(1);
            let oldest = match previous {
                0 => u64::MAX,
                _ => recent_key(to_nanos(hour_start(previous))),
            };
            let mut stale = Vec::new();
            for entry in self.by_recent.range::<(u64, &str)>((newest, "")..)? {
                let (key, _) = entry?;
                let (recent, fp) = key.value();
                if recent > oldest {
                    break;
                }
                stale.push(fp.to_owned());
            }
            for fp in &stale {
                let Some(mut counters) = self.load_counters(fp)? else {
                    return Err(damaged(fp, "index entry"));
                };
                if counters.hour_count > 0 && counters.hour < hour {
                    counters.hour_count = 0;
                    self.store_counters(fp, &counters)?;
                    pruned += 1;
                }
            }
            self.meta.insert(PRUNED_BEFORE_KEY, u64::from(hour))?;
            self.pruned_before = Some(hour);
        }
        Ok(pruned)
    }

    /// Writes the counts changed by this transaction into `meta`.
    pub fn finish(mut self) -> Result<(), Fail> {
        let tally = std::mem::take(&mut self.tally);
        let changes = [
            (TOTAL_KEY, tally.total),
            (status_key(Status::Unresolved), tally.by_status[0]),
            (status_key(Status::Resolved), tally.by_status[1]),
            (status_key(Status::Ignored), tally.by_status[2]),
        ];
        for (key, delta) in changes {
            if delta != 0 {
                let value = self.meta_value(key)?.saturating_add_signed(delta);
                self.meta.insert(key, value)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ::redb::{Database, ReadableDatabase, ReadableTableMetadata};
    use time::OffsetDateTime;

    use super::*;
    use crate::occurrence::Occurrence;
    use crate::store::{ListQuery, RedbStore, Store};

    fn update(fp: &str, samples: &[i64], keep: usize) -> GroupUpdate {
        let at = |secs: i64| OffsetDateTime::from_unix_timestamp(1_900_000_000 + secs).unwrap();
        let samples: Vec<Occurrence> = samples
            .iter()
            .map(|&secs| {
                let mut sample = Occurrence::new("event", format!("{fp} at {secs}"));
                sample.time = at(secs);
                sample
            })
            .collect();
        GroupUpdate {
            fingerprint: fp.to_owned(),
            grouping_version: 1,
            count: samples.len() as u64,
            first_seen: samples[0].time,
            last_seen: samples[samples.len() - 1].time,
            samples,
            dropped_samples: 0,
            keep_samples: keep,
        }
    }

    /// A batch large enough to have its JSON encoded on a helper thread, in which later
    /// updates of one group push out samples that earlier updates of the same batch kept:
    /// those are never written, and the group keeps exactly its newest samples.
    #[test]
    fn samples_pushed_out_within_a_large_batch_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.redb");
        let store = RedbStore::open(&path).unwrap();
        let mut batch: Vec<GroupUpdate> = (0..300)
            .map(|i| update(&format!("other{i}"), &[i], 3))
            .collect();
        batch.insert(10, update("same", &[1, 2], 2));
        batch.insert(200, update("same", &[3], 2));
        batch.push(update("same", &[4, 5], 2));
        assert!(batch.iter().map(|u| u.samples.len()).sum::<usize>() >= 256);
        store.record(&batch).unwrap();
        store.record(&[update("same", &[0], 2)]).unwrap();

        let same = store.get("same").unwrap().unwrap();
        assert_eq!(same.summary.count, 6);
        let times: Vec<i64> = same
            .samples
            .iter()
            .map(|s| s.time.unix_timestamp() - 1_900_000_000)
            .collect();
        assert_eq!(times, [4, 5]);
        assert_eq!(same.dropped_samples, 4);
        assert_eq!(store.list(&ListQuery::page(1, 1)).unwrap().total, 301);
        drop(store);
        let db = Database::open(&path).unwrap();
        let rows = db
            .begin_read()
            .unwrap()
            .open_table(SAMPLE_DATA)
            .unwrap()
            .len()
            .unwrap();
        assert_eq!(rows, 300 + 2, "one sample per other group, two for `same`");
    }

    /// A sample that cannot be encoded fails the whole batch, encoded on the helper thread or
    /// not, and nothing of it is stored.
    #[test]
    fn a_sample_that_cannot_be_encoded_fails_the_whole_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("bad.redb")).unwrap();
        for size in [3, 300] {
            let mut batch: Vec<GroupUpdate> = (0..size)
                .map(|i| update(&format!("g{i}"), &[i], 3))
                .collect();
            // RFC 3339 has no negative years.
            batch[1].samples[0].time =
                OffsetDateTime::from_unix_timestamp(-70_000_000_000).unwrap();
            let err = store.record(&batch).unwrap_err();
            assert!(
                matches!(&err, StoreError::InvalidInput(m) if m.contains("g1")),
                "{err:?}"
            );
            assert_eq!(store.list(&ListQuery::page(1, 1)).unwrap().total, 0);
        }
    }
}
