//! The listing: its filters, read leniently from the query string, and its page.

use maud::{Markup, html};
use time::OffsetDateTime;

use super::Base;
use super::html::{count, hidden, short_location, status_badge, when};
use crate::store::{ErrorSummary, ListQuery, Page, Status, StatusCounts};

/// Longest search text kept; the rest is cut.
const MAX_SEARCH_CHARS: usize = 200;

/// The listing's filters. A malformed parameter never fails the request: it is left out, and
/// a notice says so.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Filters {
    pub(crate) page: usize,
    pub(crate) status: Option<Status>,
    pub(crate) search: Option<String>,
    /// What was wrong with the query string, in words for the page or the API.
    pub(crate) notices: Vec<String>,
}

impl Filters {
    /// Reads `page`, `status` and `q` (or `search`) from a raw query string.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let mut filters = Filters {
            page: 1,
            ..Filters::default()
        };
        let pairs: Vec<(String, String)> = match raw {
            None => Vec::new(),
            Some(raw) => serde_urlencoded::from_str(raw).unwrap_or_else(|_| {
                filters
                    .notices
                    .push("The query string could not be read; showing everything.".to_owned());
                Vec::new()
            }),
        };
        for (key, value) in pairs {
            match key.as_str() {
                "page" => match value.trim().parse::<usize>() {
                    Ok(page) if page >= 1 => filters.page = page,
                    _ => filters.notices.push(format!(
                        "“{}” is not a page number (pages start at 1); showing page 1.",
                        shorten(&value)
                    )),
                },
                "status" => match value.trim() {
                    "" | "all" => filters.status = None,
                    other => match other.parse::<Status>() {
                        Ok(status) => filters.status = Some(status),
                        Err(_) => filters.notices.push(format!(
                            "“{}” is not a status (unresolved, resolved or ignored); showing \
                             every status.",
                            shorten(other)
                        )),
                    },
                },
                "q" | "search" => {
                    let text: String = value.trim().chars().take(MAX_SEARCH_CHARS).collect();
                    filters.search = (!text.is_empty()).then_some(text);
                }
                _ => {}
            }
        }
        filters
    }

    /// The store query for these filters.
    pub(crate) fn query(&self, page_size: usize) -> ListQuery {
        ListQuery {
            page: self.page,
            page_size,
            status: self.status,
            search: self.search.clone(),
        }
    }

    /// The query string for `page` with the same filters: what the previous and next links
    /// carry.
    pub(crate) fn query_string(&self, page: usize) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(search) = &self.search {
            pairs.push(("q", search.clone()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// A link to the listing with `query` (no `?` when empty).
pub(crate) fn listing_href(base: &Base, query: &str) -> String {
    if query.is_empty() {
        base.home.clone()
    } else {
        format!("{}?{query}", base.home)
    }
}

/// What the listing page shows.
pub(crate) struct ListView<'a> {
    pub(crate) base: &'a Base,
    pub(crate) filters: &'a Filters,
    pub(crate) page: &'a Page<ErrorSummary>,
    /// The numbers on the status tabs (with the search text, when there is one).
    pub(crate) totals: StatusCounts,
    pub(crate) csrf_token: &'a str,
    pub(crate) now: OffsetDateTime,
}

/// The listing page's body.
pub(crate) fn render(view: &ListView<'_>) -> Markup {
    let ListView {
        base,
        filters,
        page,
        totals,
        csrf_token,
        now,
    } = view;
    let page_count = page.page_count();
    let past_end = page.page as u64 > page_count;
    let this_page = listing_href(base, &filters.query_string(page.page));
    let tab = |label: &str, status: Option<Status>, n: u64| {
        let tab_filters = Filters {
            page: 1,
            status,
            search: filters.search.clone(),
            notices: Vec::new(),
        };
        let href = listing_href(base, &tab_filters.query_string(1));
        let current = filters.status == status;
        html! {
            a.tab.current[current] href=(href) aria-current=[current.then_some("page")] {
                (label) " " span.n { (count(n)) }
            }
        }
    };
    html! {
        div.toolbar {
            nav.tabs aria-label="Status" {
                (tab("All", None, totals.total()))
                (tab("Unresolved", Some(Status::Unresolved), totals.unresolved))
                (tab("Resolved", Some(Status::Resolved), totals.resolved))
                (tab("Ignored", Some(Status::Ignored), totals.ignored))
            }
            form.search method="get" action=(base.home) role="search" {
                @if let Some(status) = filters.status {
                    (hidden("status", status.as_str()))
                }
                input type="search" name="q" placeholder="Search kind or message"
                    value=[filters.search.as_deref()] aria-label="Search kind or message";
                button type="submit" { "Search" }
                @if filters.search.is_some() {
                    a.clear href=(listing_href(base, &Filters { search: None, ..(*filters).clone() }.query_string(1))) { "Clear" }
                }
            }
        }
        @for notice in &filters.notices {
            p.notice role="status" { (notice) }
        }
        @if past_end {
            p.notice role="status" {
                "Page " (page.page) " is past the end: there "
                @if page_count == 1 { "is 1 page" } @else { "are " (page_count) " pages" }
                ". "
                a href=(listing_href(base, &filters.query_string(page_count as usize))) { "Go to the last page" }
            }
        }
        @if page.total == 0 {
            section.empty {
                h2 { "No errors here" }
                @if filters.search.is_some() || filters.status.is_some() {
                    p { "Nothing matches these filters. " a href=(base.home) { "Show all errors" } }
                } @else {
                    p { "Nothing has been captured yet. Errors appear here as soon as they are stored." }
                }
            }
        } @else if !page.items.is_empty() {
            table.errors {
                thead {
                    tr {
                        th scope="col" { "Error" }
                        th scope="col" { "Location" }
                        th.num scope="col" { "Count" }
                        th scope="col" { "First seen" }
                        th scope="col" { "Last seen" }
                        th scope="col" { "Status" }
                        th scope="col" { span.visually-hidden { "Actions" } }
                    }
                }
                tbody {
                    @for error in &page.items {
                        @let detail = base.path(&format!("/error/{}", error.fingerprint));
                        tr.row {
                            td.error {
                                a.kind href=(detail) { (error.kind) }
                                div.message { (error.message) }
                            }
                            td.location { code { (short_location(&error.location)) } }
                            td.num { (count(error.count)) }
                            td.time { (when(error.first_seen, *now)) }
                            td.time { (when(error.last_seen, *now)) }
                            td { (status_badge(error.status, error.regressed)) }
                            td.actions {
                                (quick_actions(base, &error.fingerprint, error.status, csrf_token, &this_page))
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if page.has_previous() {
                @let previous = (page.page - 1).min(page_count as usize);
                a.prev rel="prev" href=(listing_href(base, &filters.query_string(previous))) { "← Previous" }
            } @else {
                span.prev.disabled { "← Previous" }
            }
            span.where {
                "Page " (page.page) " of " (page_count) " · " (count(page.total))
                @if page.total == 1 { " error" } @else { " errors" }
            }
            @if page.has_next() {
                a.next rel="next" href=(listing_href(base, &filters.query_string(page.page + 1))) { "Next →" }
            } @else {
                span.next.disabled { "Next →" }
            }
        }
    }
}

/// The small resolve / ignore / reopen buttons of a row.
fn quick_actions(
    base: &Base,
    fingerprint: &str,
    status: Status,
    csrf_token: &str,
    return_to: &str,
) -> Markup {
    let actions: &[(&str, &str)] = match status {
        Status::Unresolved => &[("resolve", "Resolve"), ("ignore", "Ignore")],
        Status::Resolved | Status::Ignored => &[("reopen", "Reopen")],
    };
    html! {
        @for (action, label) in actions {
            form.inline method="post" action=(base.path(&format!("/error/{fingerprint}/{action}"))) {
                (hidden(super::csrf::FIELD_NAME, csrf_token))
                (hidden("return_to", return_to))
                button type="submit" class={ "small " (action) } { (label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_become_notices() {
        let filters = Filters::parse(Some("page=abc&status=nope&q=%20timeout%20"));
        assert_eq!(filters.page, 1);
        assert_eq!(filters.status, None);
        assert_eq!(filters.search.as_deref(), Some("timeout"));
        assert_eq!(filters.notices.len(), 2);
        assert_eq!(Filters::parse(Some("page=0")).page, 1);
        assert_eq!(Filters::parse(Some("page=-3")).notices.len(), 1);
        assert_eq!(Filters::parse(Some("page=99999999999999999999999")).page, 1);
        assert_eq!(Filters::parse(Some("page=%FF%FE")).page, 1);
    }

    #[test]
    fn links_keep_the_filters() {
        let filters = Filters::parse(Some("status=resolved&q=a%26b&page=3"));
        assert_eq!(filters.page, 3);
        assert_eq!(filters.query_string(4), "status=resolved&q=a%26b&page=4");
        assert_eq!(filters.query_string(1), "status=resolved&q=a%26b");
        assert_eq!(Filters::parse(None).query_string(1), "");
    }
}
