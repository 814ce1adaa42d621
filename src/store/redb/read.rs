//! Reads inside one read transaction: listing pages, one group with its samples, histograms.

use ::redb::{ReadOnlyTable, ReadTransaction, ReadableTable, StorageError};
use time::OffsetDateTime;

use super::error::Fail;
use super::layout::{
    BY_RECENT, BY_STATUS, COUNTERS_ROW, Counters, GROUPS, GroupKey, HOUR_ROW, META, SAMPLE_DATA,
    TOTAL_KEY, decode_count, hour_key, hour_of, hour_start, row_key, rows_of, status_code,
    status_key, to_nanos,
};
use crate::occurrence::Occurrence;
use crate::store::{ErrorGroup, ErrorSummary, ListQuery, Page, Status, StatusCounts, StoreError};

/// The tables readers use, opened once per read transaction.
pub(super) struct Reader {
    meta: ReadOnlyTable<&'static str, u64>,
    groups: ReadOnlyTable<GroupKey, &'static [u8]>,
    by_recent: ReadOnlyTable<(u64, &'static str), ()>,
    by_status: ReadOnlyTable<(u8, u64, &'static str), ()>,
    sample_data: ReadOnlyTable<(i64, u128, &'static str), &'static [u8]>,
}

fn corrupt(message: String) -> Fail {
    Fail::Store(StoreError::Corrupt(message))
}

type Fingerprints<'a> = Box<dyn Iterator<Item = Result<String, StorageError>> + 'a>;

impl Reader {
    pub fn open(txn: &ReadTransaction) -> Result<Self, Fail> {
        Ok(Reader {
            meta: txn.open_table(META)?,
            groups: txn.open_table(GROUPS)?,
            by_recent: txn.open_table(BY_RECENT)?,
            by_status: txn.open_table(BY_STATUS)?,
            sample_data: txn.open_table(SAMPLE_DATA)?,
        })
    }

    fn load_counters(&self, fp: &str) -> Result<Option<Counters>, Fail> {
        match self.groups.get(row_key(fp, COUNTERS_ROW))? {
            None => Ok(None),
            Some(row) => Counters::decode(row.value())
                .map(Some)
                .ok_or_else(|| corrupt(format!("the counters of {fp} cannot be read"))),
        }
    }

    fn summary(&self, fp: &str) -> Result<Option<ErrorSummary>, Fail> {
        Ok(self.summary_and_counters(fp)?.map(|(summary, _)| summary))
    }

    fn summary_and_counters(&self, fp: &str) -> Result<Option<(ErrorSummary, Counters)>, Fail> {
        let Some(counters) = self.load_counters(fp)? else {
            return Ok(None);
        };
        Ok(Some((counters.info.summary(fp, &counters), counters)))
    }

    /// Like [`Self::summary`], for a fingerprint an index names: it must exist.
    fn indexed_summary(&self, fp: &str) -> Result<ErrorSummary, Fail> {
        self.summary(fp)?
            .ok_or_else(|| corrupt(format!("an index names {fp}, which has no counters")))
    }

    /// The fingerprints matching `query`'s status filter, newest first.
    fn fingerprints(&self, query: &ListQuery) -> Result<Fingerprints<'_>, Fail> {
        Ok(match query.status {
            None => Box::new(
                self.by_recent
                    .iter()?
                    .map(|entry| entry.map(|(key, _)| key.value().1.to_owned())),
            ),
            Some(status) => {
                let code = status_code(status);
                Box::new(
                    self.by_status
                        .range::<(u8, u64, &str)>((code, 0, "")..(code + 1, 0, ""))?
                        .map(|entry| entry.map(|(key, _)| key.value().2.to_owned())),
                )
            }
        })
    }

    /// One page of `query`. Without a search text this walks the index only as far as the
    /// page and reads the total from `meta`; a search reads every group the status filter
    /// lets through, since a substring cannot be indexed.
    pub fn list(&self, query: &ListQuery) -> Result<Page<ErrorSummary>, Fail> {
        let offset = query.offset();
        let searching = query
            .search
            .as_deref()
            .is_some_and(|text| !text.trim().is_empty());
        let mut items = Vec::with_capacity(query.page_size.min(1024));
        let total = if searching {
            let mut matches = 0usize;
            for fp in self.fingerprints(query)? {
                let summary = self.indexed_summary(&fp?)?;
                if query.matches(&summary) {
                    if matches >= offset && items.len() < query.page_size {
                        items.push(summary);
                    }
                    matches += 1;
                }
            }
            matches as u64
        } else {
            for fp in self.fingerprints(query)?.skip(offset).take(query.page_size) {
                items.push(self.indexed_summary(&fp?)?);
            }
            let key = query.status.map_or(TOTAL_KEY, status_key);
            self.meta.get(key)?.map_or(0, |v| v.value())
        };
        Ok(Page {
            items,
            page: query.page,
            page_size: query.page_size,
            total,
        })
    }

    /// Groups per status: the counts kept in `meta` without a search text; with one, a single
    /// pass over the `groups` table in key order (sequential reads, no index lookups).
    pub fn status_counts(&self, search: Option<&str>) -> Result<StatusCounts, Fail> {
        let query = ListQuery {
            page: 1,
            page_size: 1,
            status: None,
            search: search.map(str::to_owned),
        };
        if search.is_none_or(|text| text.trim().is_empty()) {
            let kept = |status| -> Result<u64, Fail> {
                Ok(self.meta.get(status_key(status))?.map_or(0, |v| v.value()))
            };
            return Ok(StatusCounts {
                unresolved: kept(Status::Unresolved)?,
                resolved: kept(Status::Resolved)?,
                ignored: kept(Status::Ignored)?,
            });
        }
        let mut counts = StatusCounts::default();
        for entry in self.groups.iter()? {
            let (key, row) = entry?;
            let (fp, kind, _, _) = key.value();
            if kind != COUNTERS_ROW {
                continue;
            }
            let counters = Counters::decode(row.value())
                .ok_or_else(|| corrupt(format!("the counters of {fp} cannot be read")))?;
            let summary = counters.info.summary(fp, &counters);
            if query.matches(&summary) {
                counts.add(summary.status);
            }
        }
        Ok(counts)
    }

    pub fn get(&self, fp: &str) -> Result<Option<ErrorGroup>, Fail> {
        let Some((summary, counters)) = self.summary_and_counters(fp)? else {
            return Ok(None);
        };
        let mut samples = Vec::new();
        for &(time, id) in &counters.samples {
            let Some(json) = self.sample_data.get((time, id, fp))? else {
                return Err(corrupt(format!("a sample of {fp} is listed but missing")));
            };
            let sample: Occurrence = serde_json::from_slice(json.value())
                .map_err(|err| corrupt(format!("a sample of {fp} cannot be read: {err}")))?;
            samples.push(sample);
        }
        let notify = super::notify::load(&self.groups, fp)?;
        Ok(Some(ErrorGroup {
            summary,
            samples,
            dropped_samples: counters.dropped_samples,
            regressions: notify.regressions,
            notification: notify.notification,
            ticket: notify.ticket,
        }))
    }

    pub fn hourly_counts(
        &self,
        fp: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, u64)>, Fail> {
        let first = hour_of(to_nanos(since));
        let Some(counters) = self.load_counters(fp)? else {
            return Ok(Vec::new());
        };
        // Older hours in rows of their own, in hour order, then the newest, from the group's
        // row (rows are only written for hours older than it, but adding up is the safe side).
        let mut counts: Vec<(u32, u64)> = Vec::new();
        let end = *rows_of(fp, HOUR_ROW).end();
        for entry in self.groups.range(hour_key(fp, first)..=end)? {
            let (key, count) = entry?;
            let count = decode_count(count.value())
                .ok_or_else(|| corrupt(format!("the histogram of {fp} cannot be read")))?;
            let hour = u32::try_from(key.value().2)
                .map_err(|_| corrupt(format!("the histogram of {fp} has a bad hour")))?;
            counts.push((hour, count));
        }
        if counters.hour_count > 0 && counters.hour >= first {
            match counts.iter_mut().find(|(hour, _)| *hour == counters.hour) {
                Some((_, count)) => *count = count.saturating_add(counters.hour_count),
                None => counts.push((counters.hour, counters.hour_count)),
            }
            counts.sort_unstable_by_key(|&(hour, _)| hour);
        }
        Ok(counts
            .into_iter()
            .filter(|&(_, count)| count > 0)
            .map(|(hour, count)| (hour_start(hour), count))
            .collect())
    }
}
