//! The dashboard over HTTP: a real server on 127.0.0.1 with a redb file, and a real client.
#![cfg(feature = "dashboard")]

mod dashboard_common;

use std::sync::Arc;

use dashboard_common::{
    Answer, Server, client, get, numbered_store, open_dashboard, post_form, read, record, session,
};
use error_tracker::dashboard::{
    AllowAll, BasicAuth, BearerToken, CONTENT_SECURITY_POLICY, Dashboard, LoopbackOnly,
};
use error_tracker::{ListQuery, NotificationState, RedbStore, Status, Store, StoreError};
use time::OffsetDateTime;

/// The `href` of the link with `rel`, unescaped, if the page has one.
fn link(body: &str, rel: &str) -> Option<String> {
    let start = body.find(&format!("rel=\"{rel}\" href=\""))? + rel.len() + 13;
    let end = start + body[start..].find('"')?;
    Some(body[start..end].replace("&amp;", "&"))
}

/// The fingerprints listed on a page, in order.
fn listed(body: &str) -> Vec<String> {
    body.match_indices("<a class=\"kind\" href=\"/error/")
        .map(|(i, m)| {
            let rest = &body[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

fn status_of(store: &RedbStore, fingerprint: &str) -> Option<Status> {
    store.get(fingerprint).unwrap().map(|g| g.summary.status)
}

#[test]
fn paging_21_errors_5_per_page_like_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 21);
    let server = Server::start(open_dashboard(store).page_size(5).router());

    let page1 = get(&server.url("/"));
    assert_eq!(page1.status, 200);
    assert_eq!(
        listed(&page1.body),
        ["e21", "e20", "e19", "e18", "e17"],
        "newest first"
    );
    assert_eq!(link(&page1.body, "prev"), None);
    assert_eq!(link(&page1.body, "next").as_deref(), Some("/?page=2"));
    assert!(page1.body.contains("Page 1 of 5"));

    let page2 = get(&server.url("/?page=2"));
    assert_eq!(listed(&page2.body), ["e16", "e15", "e14", "e13", "e12"]);
    assert_eq!(link(&page2.body, "prev").as_deref(), Some("/"));
    assert_eq!(link(&page2.body, "next").as_deref(), Some("/?page=3"));

    let page4 = get(&server.url("/?page=4"));
    assert_eq!(link(&page4.body, "next").as_deref(), Some("/?page=5"));

    let page5 = get(&server.url("/?page=5"));
    assert_eq!(listed(&page5.body), ["e01"]);
    assert_eq!(link(&page5.body, "prev").as_deref(), Some("/?page=4"));
    assert_eq!(
        link(&page5.body, "next"),
        None,
        "only previous on the last page"
    );
    assert!(page5.body.contains("Page 5 of 5 · 21 errors"));
}

#[test]
fn bad_page_numbers_give_a_clear_page_never_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 21);
    let server = Server::start(open_dashboard(store).page_size(5).router());

    let abc = get(&server.url("/?page=abc"));
    assert_eq!(abc.status, 200);
    assert!(
        abc.body.contains("“abc” is not a page number"),
        "{}",
        abc.body
    );
    assert_eq!(listed(&abc.body).len(), 5, "page 1 is shown");

    for bad in ["0", "-1", "1e3", "99999999999999999999999999", "%FF"] {
        let answer = get(&server.url(&format!("/?page={bad}")));
        assert_eq!(answer.status, 200, "page={bad}");
        assert_eq!(listed(&answer.body).len(), 5, "page={bad}");
    }

    let past = get(&server.url("/?page=9"));
    assert_eq!(past.status, 200);
    assert!(
        past.body
            .contains("Page 9 is past the end: there are 5 pages"),
        "{}",
        past.body
    );
    assert!(
        past.body.contains("href=\"/?page=5\""),
        "a link to the last page"
    );
    assert_eq!(link(&past.body, "prev").as_deref(), Some("/?page=5"));
    assert_eq!(link(&past.body, "next"), None);

    let empty = get(&server.url("/?status=ignored&page=3"));
    assert_eq!(empty.status, 200);
    assert!(
        empty
            .body
            .contains("Page 3 is past the end: there is 1 page"),
        "{}",
        empty.body
    );
    assert!(empty.body.contains("Nothing matches these filters"));

    let status = get(&server.url("/?status=bogus"));
    assert_eq!(status.status, 200);
    assert!(status.body.contains("“bogus” is not a status"));
}

/// Sends `GET target` over a plain socket; the status code of the answer, if one came.
fn raw_status(addr: std::net::SocketAddr, target: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    // The server may answer and close before the whole request is sent: a write error is
    // expected then, and the answer is still there to read.
    let _ = stream.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .map(|rest| rest.chars().take(3).collect())
}

#[test]
fn long_query_strings_are_refused_with_414_or_400() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 1);
    let server = Server::start(open_dashboard(store).router());

    let long = get(&server.url(&format!("/?q={}", "a".repeat(5000))));
    assert_eq!(long.status, 414);
    assert!(long.body.contains("Address too long"));

    // HTTP client libraries refuse such an address, so the request is written by hand. The
    // parser refuses it before the dashboard sees it, with the same status.
    let status = raw_status(server.addr, &format!("/?q={}", "a".repeat(1 << 20)));
    assert_eq!(status.as_deref(), Some("414"), "1 MB query");
    assert_eq!(
        get(&server.url("/")).status,
        200,
        "the server still answers"
    );
}

#[test]
fn filters_are_kept_by_the_paging_links_and_the_tabs() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 21);
    for i in (1..=21).step_by(2) {
        store
            .set_status(&format!("e{i:02}"), Status::Resolved)
            .unwrap();
    }
    let server = Server::start(open_dashboard(store).page_size(3).router());

    let resolved = get(&server.url("/?status=resolved&q=failure"));
    assert_eq!(listed(&resolved.body), ["e21", "e19", "e17"]);
    assert_eq!(
        link(&resolved.body, "next").as_deref(),
        Some("/?status=resolved&q=failure&page=2")
    );
    assert!(resolved.body.contains("Page 1 of 4 · 11 errors"));
    assert!(
        resolved.body.contains("value=\"failure\""),
        "the search box keeps the text"
    );
    for (tab, n) in [
        ("All", 21),
        ("Unresolved", 10),
        ("Resolved", 11),
        ("Ignored", 0),
    ] {
        assert!(
            resolved
                .body
                .contains(&format!("{tab} <span class=\"n\">{n}</span>")),
            "{tab} tab"
        );
    }
    assert!(
        resolved
            .body
            .contains("href=\"/?status=ignored&amp;q=failure\""),
        "the tabs keep the search"
    );

    let searched = get(&server.url("/?q=number+2"));
    assert_eq!(listed(&searched.body), ["e21", "e20", "e02"]);
    let nothing = get(&server.url("/?q=no+such+thing"));
    assert!(nothing.body.contains("Nothing matches these filters"));
}

#[test]
fn the_detail_page_shows_the_error_and_an_unknown_one_is_a_404_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("errors.redb")).unwrap());
    let now = OffsetDateTime::now_utc();
    record(
        store.as_ref(),
        "abc123",
        "DbError",
        "connection refused",
        4,
        now,
    );
    let server = Server::start(open_dashboard(store).router());

    let page = get(&server.url("/error/abc123"));
    assert_eq!(page.status, 200);
    for text in [
        "DbError",
        "connection refused",
        "src/orders.rs:42",
        "abc123",
        "Per hour, last 24 hours",
        "Per day, last 30 days",
        "4 in all",
        "Ticket and notifications",
        "Samples",
    ] {
        assert!(page.body.contains(text), "{text} missing: {}", page.body);
    }
    assert_eq!(page.body.matches("<svg").count(), 2);

    let missing = get(&server.url("/error/does-not-exist"));
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .body
            .contains("There is no error with fingerprint “does-not-exist”")
    );
    assert_eq!(get(&server.url("/no/such/page")).status, 404);
}

#[test]
fn the_detail_page_shows_the_ticket_and_the_notifications_sent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("errors.redb")).unwrap());
    let now = OffsetDateTime::now_utc();
    record(
        store.as_ref(),
        "abc123",
        "DbError",
        "connection refused",
        120,
        now,
    );
    let server = Server::start(open_dashboard(store.clone()).router());

    let before = get(&server.url("/error/abc123"));
    assert!(before.body.contains("None filed"), "{}", before.body);
    assert!(before.body.contains("None sent"), "{}", before.body);

    assert!(store.set_ticket("abc123", "OPS-<7>").unwrap());
    let state = NotificationState {
        new_notified: true,
        milestone_notified: 100,
        regressions_notified: 0,
        sent: 2,
        last_sent: Some(now),
    };
    assert!(store.set_notification("abc123", &state).unwrap());
    let after = get(&server.url("/error/abc123"));
    assert_eq!(after.status, 200);
    for text in [
        "OPS-&lt;7&gt;",
        "2 sent",
        "new, 100 occurrences",
        "Last sent",
    ] {
        assert!(after.body.contains(text), "{text} missing: {}", after.body);
    }
    assert!(!after.body.contains("None filed"));
}

#[test]
fn each_action_changes_the_error_and_redirects_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 3);
    let server = Server::start(open_dashboard(store.clone()).router());
    let page = get(&server.url("/error/e02"));
    let (cookie, token) = session(&page);
    let action = |name: &str, return_to: &str| {
        post_form(
            &server.url(&format!("/error/e02/{name}")),
            Some(&cookie),
            &[("csrf", &token), ("return_to", return_to)],
            &[],
        )
    };

    let resolved = action("resolve", "/?page=1&status=unresolved");
    assert_eq!(resolved.status, 303);
    assert_eq!(
        resolved.header("location"),
        Some("/?page=1&status=unresolved")
    );
    assert_eq!(status_of(&store, "e02"), Some(Status::Resolved));

    let ignored = action("ignore", "/error/e02");
    assert_eq!(ignored.status, 303);
    assert_eq!(ignored.header("location"), Some("/error/e02"));
    assert_eq!(status_of(&store, "e02"), Some(Status::Ignored));

    // A return address outside the dashboard is replaced by the error's page.
    let reopened = action("reopen", "https://evil.example/");
    assert_eq!(reopened.status, 303);
    assert_eq!(reopened.header("location"), Some("/error/e02"));
    assert_eq!(status_of(&store, "e02"), Some(Status::Unresolved));
    assert_eq!(
        action("reopen", "//evil.example/").header("location"),
        Some("/error/e02")
    );

    // Deleting from the detail page goes back to the list, not to a page that is gone.
    let deleted = action("delete", "/error/e02");
    assert_eq!(deleted.status, 303);
    assert_eq!(deleted.header("location"), Some("/"));
    assert_eq!(status_of(&store, "e02"), None);
    assert_eq!(get(&server.url("/error/e02")).status, 404);
    assert_eq!(action("resolve", "/").status, 404, "unknown fingerprint");
    assert_eq!(
        status_of(&store, "e01"),
        Some(Status::Unresolved),
        "others untouched"
    );
}

#[test]
fn actions_without_a_valid_token_or_from_another_site_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 2);
    let dashboard = open_dashboard(store.clone());
    let server = Server::start(dashboard.router());
    let (cookie, token) = session(&get(&server.url("/")));
    let url = server.url("/error/e01/delete");

    let refused = [
        post_form(&url, None, &[("csrf", &token)], &[]),
        post_form(&url, Some(&cookie), &[], &[]),
        post_form(&url, Some(&cookie), &[("csrf", "00ff")], &[]),
        post_form(
            &url,
            Some(
                "error_tracker_csrf=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            &[("csrf", &token)],
            &[],
        ),
        post_form(
            &url,
            Some(&cookie),
            &[("csrf", &token)],
            &[("origin", "https://evil.example")],
        ),
        post_form(
            &url,
            Some(&cookie),
            &[("csrf", &token)],
            &[("sec-fetch-site", "cross-site")],
        ),
    ];
    for answer in &refused {
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert!(answer.body.contains("Action refused"));
    }
    assert_eq!(
        status_of(&store, "e01"),
        Some(Status::Unresolved),
        "nothing was deleted"
    );

    // A token from another dashboard (another secret) does not work here either.
    let other = Server::start(open_dashboard(store.clone()).router());
    let (other_cookie, other_token) = session(&get(&other.url("/")));
    assert_eq!(
        post_form(&url, Some(&other_cookie), &[("csrf", &other_token)], &[]).status,
        403
    );

    // Never by GET.
    let by_get = get(&url);
    assert_eq!(by_get.status, 405);
    assert_eq!(status_of(&store, "e01"), Some(Status::Unresolved));

    // The same form from the page itself works.
    let origin = format!("http://{}", server.addr);
    let accepted = post_form(
        &url,
        Some(&cookie),
        &[("csrf", &token)],
        &[("origin", &origin), ("sec-fetch-site", "same-origin")],
    );
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    assert_eq!(status_of(&store, "e01"), None);
}

#[test]
fn the_default_permission_answers_401_to_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 1);
    let server = Server::start(Dashboard::new(store.clone()).router());
    for path in [
        "/",
        "/?page=2",
        "/error/e01",
        "/api/errors",
        "/api/errors/e01",
    ] {
        let answer = get(&server.url(path));
        assert_eq!(answer.status, 401, "{path}");
        assert!(
            !answer.body.contains("failure number 1"),
            "{path} leaks data"
        );
    }
    let post = post_form(&server.url("/error/e01/delete"), None, &[], &[]);
    assert_eq!(post.status, 401);
    assert!(store.get("e01").unwrap().is_some());
    // The stylesheet holds no data and is served to everyone, so the 401 page is styled.
    assert_eq!(get(&server.url("/assets/style.css")).status, 200);
}

#[test]
fn ready_made_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 1);

    let basic = Server::start(
        Dashboard::new(store.clone())
            .permission(BasicAuth::new("admin", "s3cret"))
            .router(),
    );
    let refused = get(&basic.url("/"));
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Basic realm=\"error-tracker\", charset=\"UTF-8\"")
    );
    let with = |value: &str| {
        read(
            client()
                .get(&basic.url("/"))
                .header("authorization", value)
                .call()
                .unwrap(),
        )
    };
    assert_eq!(with("Basic YWRtaW46czNjcmV0").status, 200); // admin:s3cret
    assert_eq!(with("Basic YWRtaW46d3Jvbmc=").status, 401); // admin:wrong

    let bearer = Server::start(
        Dashboard::new(store.clone())
            .permission(BearerToken::new("t0ken"))
            .router(),
    );
    let api = |token: &str| {
        client()
            .get(&bearer.url("/api/errors"))
            .header("authorization", format!("Bearer {token}"))
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(api("t0ken"), 200);
    assert_eq!(api("t0ken-not"), 401);

    // The client is on 127.0.0.1, so loopback lets it in.
    let loopback = Server::start(
        Dashboard::new(store.clone())
            .permission(LoopbackOnly)
            .router(),
    );
    assert_eq!(get(&loopback.url("/")).status, 200);

    // Without the peer address (served without connect info), loopback refuses.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let router = Dashboard::new(store.clone())
        .permission(LoopbackOnly)
        .router();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, router).await });
    assert_eq!(get(&format!("http://{addr}/")).status, 401);

    // A closure is a permission too; a panicking one refuses.
    let custom = Server::start(
        Dashboard::new(store.clone())
            .permission(|request: &axum::http::request::Parts| {
                if request.headers.contains_key("x-admin") {
                    error_tracker::dashboard::Decision::Allow
                } else {
                    panic!("no header")
                }
            })
            .router(),
    );
    assert_eq!(get(&custom.url("/")).status, 401);
    let admin = client()
        .get(&custom.url("/"))
        .header("x-admin", "1")
        .call()
        .unwrap();
    assert_eq!(admin.status().as_u16(), 200);
}

#[test]
fn hostile_text_is_rendered_inert() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("errors.redb")).unwrap());
    let now = OffsetDateTime::now_utc();
    let payload = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    record(
        store.as_ref(),
        "xss",
        "\"><svg onload=alert(3)>",
        payload,
        1,
        now,
    );
    let server = Server::start(open_dashboard(store).router());

    for path in ["/", "/error/xss", "/?q=%3Cscript%3E"] {
        let page = get(&server.url(path));
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("<script"), "{path}: {}", page.body);
        assert!(!page.body.contains("<img"), "{path}");
        assert!(!page.body.contains("<svg onload"), "{path}");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
        assert_eq!(
            page.header("content-security-policy"),
            Some(CONTENT_SECURITY_POLICY)
        );
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
    }
    let missing = get(&server.url("/error/%3Cscript%3Ealert(4)%3C%2Fscript%3E"));
    assert_eq!(missing.status, 404);
    assert!(!missing.body.contains("<script"), "{}", missing.body);
    assert!(
        missing.body.contains("&lt;script&gt;alert(4)"),
        "{}",
        missing.body
    );
    let search = get(&server.url("/?q=%22%3E%3Cb%3Ebold"));
    assert!(
        search.body.contains("value=\"&quot;&gt;&lt;b&gt;bold\""),
        "{}",
        search.body
    );
}

#[test]
fn the_router_works_under_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 3);
    let app = axum::Router::new().nest(
        "/admin/errors",
        open_dashboard(store.clone()).page_size(2).router(),
    );
    let server = Server::start(app);

    let list = get(&server.url("/admin/errors"));
    assert_eq!(list.status, 200);
    assert!(
        list.body
            .contains("href=\"/admin/errors/assets/style.css\"")
    );
    assert!(list.body.contains("href=\"/admin/errors/error/e03\""));
    assert_eq!(
        link(&list.body, "next").as_deref(),
        Some("/admin/errors?page=2")
    );
    assert_eq!(get(&server.url("/admin/errors?page=2")).status, 200);
    assert_eq!(
        get(&server.url("/admin/errors/assets/style.css")).status,
        200
    );

    let detail = get(&server.url("/admin/errors/error/e03"));
    assert_eq!(detail.status, 200);
    assert!(
        detail.body.contains("href=\"/admin/errors\""),
        "the way back to the list"
    );
    let (cookie, token) = session(&detail);
    assert!(cookie.starts_with("error_tracker_csrf="));
    assert!(
        detail
            .header("set-cookie")
            .unwrap()
            .contains("Path=/admin/errors;")
    );
    let resolved = post_form(
        &server.url("/admin/errors/error/e03/resolve"),
        Some(&cookie),
        &[("csrf", &token), ("return_to", "/admin/errors?page=1")],
        &[],
    );
    assert_eq!(resolved.status, 303);
    assert_eq!(resolved.header("location"), Some("/admin/errors?page=1"));
    assert_eq!(status_of(&store, "e03"), Some(Status::Resolved));
}

#[test]
fn the_json_api_lists_shows_and_changes_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 7);
    let server = Server::start(
        Dashboard::new(store.clone())
            .permission(AllowAll)
            .page_size(3)
            .router(),
    );
    let json =
        |answer: &Answer| -> serde_json::Value { serde_json::from_str(&answer.body).unwrap() };

    let list = get(&server.url("/api/errors?page=3"));
    assert_eq!(list.status, 200);
    assert_eq!(list.header("content-type"), Some("application/json"));
    let body = json(&list);
    assert_eq!(body["total"], 7);
    assert_eq!(body["page_count"], 3);
    assert_eq!(body["has_next"], false);
    assert_eq!(body["has_previous"], true);
    assert_eq!(body["items"][0]["fingerprint"], "e01");

    let bad = get(&server.url("/api/errors?page=abc"));
    assert_eq!(bad.status, 400);
    assert!(
        json(&bad)["detail"]
            .as_str()
            .unwrap()
            .contains("not a page number")
    );

    let detail = json(&get(&server.url("/api/errors/e07")));
    assert_eq!(detail["error"]["count"], 7);
    assert_eq!(detail["error"]["samples"].as_array().unwrap().len(), 1);
    assert_eq!(detail["per_hour"].as_array().unwrap().len(), 24);
    assert_eq!(detail["per_day"].as_array().unwrap().len(), 30);
    let day_total: u64 = detail["per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(day_total, 7);

    let missing = get(&server.url("/api/errors/nope"));
    assert_eq!(missing.status, 404);
    assert_eq!(json(&missing)["status"], 404);

    let set = |body: &str, content_type: &str| {
        read(
            client()
                .post(&server.url("/api/errors/e07/status"))
                .header("content-type", content_type)
                .send(body)
                .unwrap(),
        )
    };
    let ok = set(r#"{"status": "ignored"}"#, "application/json");
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(json(&ok)["status"], "ignored");
    assert_eq!(status_of(&store, "e07"), Some(Status::Ignored));
    assert_eq!(set(r#"{"status": "resolved"}"#, "text/plain").status, 415);
    assert_eq!(
        set("status=resolved", "application/x-www-form-urlencoded").status,
        415
    );
    assert_eq!(set(r#"{"status": "gone"}"#, "application/json").status, 400);
    assert_eq!(status_of(&store, "e07"), Some(Status::Ignored));

    let cross = read(
        client()
            .delete(&server.url("/api/errors/e07"))
            .header("origin", "https://evil.example")
            .call()
            .unwrap(),
    );
    assert_eq!(cross.status, 403);
    let deleted = read(
        client()
            .delete(&server.url("/api/errors/e07"))
            .call()
            .unwrap(),
    );
    assert_eq!(deleted.status, 200);
    assert_eq!(json(&deleted)["deleted"], true);
    assert_eq!(status_of(&store, "e07"), None);
    let again = read(
        client()
            .delete(&server.url("/api/errors/e07"))
            .call()
            .unwrap(),
    );
    assert_eq!(again.status, 404);
}

#[test]
fn the_tracker_hands_out_a_dashboard_with_its_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = error_tracker::ErrorTracker::builder()
        .database_path(dir.path().join("errors.redb"))
        .page_size(2)
        .build()
        .unwrap();
    let now = OffsetDateTime::now_utc();
    for i in 0..3 {
        record(tracker.store().as_ref(), &format!("t{i}"), "E", "m", 1, now);
    }
    let server = Server::start(tracker.dashboard().permission(AllowAll).router());
    let page = get(&server.url("/"));
    assert_eq!(listed(&page.body).len(), 2);
    assert!(page.body.contains("Page 1 of 2"));
    assert_eq!(
        get(&Server::start(tracker.dashboard().router()).url("/")).status,
        401
    );
}

#[test]
fn any_store_will_do() {
    let store = Arc::new(error_tracker::MemoryStore::new());
    let now = OffsetDateTime::now_utc();
    record(store.as_ref(), "m1", "E", "kept in memory", 3, now);
    let server = Server::start(open_dashboard(store.clone()).router());
    assert_eq!(listed(&get(&server.url("/")).body), ["m1"]);
    let detail = get(&server.url("/api/errors/m1"));
    let body: serde_json::Value = serde_json::from_str(&detail.body).unwrap();
    let hours = body["per_hour"].as_array().unwrap();
    let counted: u64 = hours.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 3, "counted in the last 24 hours");
    let (cookie, token) = session(&get(&server.url("/error/m1")));
    let resolved = post_form(
        &server.url("/error/m1/resolve"),
        Some(&cookie),
        &[("csrf", &token)],
        &[],
    );
    assert_eq!(resolved.status, 303);
    assert_eq!(resolved.header("location"), Some("/error/m1"));
    assert_eq!(
        store.get("m1").unwrap().unwrap().summary.status,
        Status::Resolved
    );
}

/// A memory store whose histogram cannot be read.
struct NoHistogram(error_tracker::MemoryStore);

impl Store for NoHistogram {
    fn record(
        &self,
        batch: &[error_tracker::store::GroupUpdate],
    ) -> Result<Vec<error_tracker::store::RecordOutcome>, StoreError> {
        self.0.record(batch)
    }
    fn list(
        &self,
        query: &ListQuery,
    ) -> Result<error_tracker::store::Page<error_tracker::ErrorSummary>, StoreError> {
        self.0.list(query)
    }
    fn get(&self, fingerprint: &str) -> Result<Option<error_tracker::ErrorGroup>, StoreError> {
        self.0.get(fingerprint)
    }
    fn set_status(&self, fingerprint: &str, status: Status) -> Result<bool, StoreError> {
        self.0.set_status(fingerprint, status)
    }
    fn resolve_in(
        &self,
        fingerprint: &str,
        resolved_in: error_tracker::ResolvedIn,
    ) -> Result<bool, StoreError> {
        self.0.resolve_in(fingerprint, resolved_in)
    }
    fn delete(&self, fingerprint: &str) -> Result<bool, StoreError> {
        self.0.delete(fingerprint)
    }
    fn purge(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        self.0.purge(cutoff)
    }
    fn hourly_counts(
        &self,
        _fingerprint: &str,
        _since: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, u64)>, StoreError> {
        Err(StoreError::Unavailable("histogram <offline>".to_owned()))
    }
}

/// When the histogram cannot be read, the detail page and the API still show the error,
/// with the reason (escaped) in place of the charts.
#[test]
fn the_error_is_shown_without_charts_when_its_histogram_fails() {
    let store = Arc::new(NoHistogram(error_tracker::MemoryStore::new()));
    record(
        store.as_ref(),
        "h1",
        "E",
        "histogram gone",
        2,
        OffsetDateTime::now_utc(),
    );
    let server = Server::start(open_dashboard(store).router());
    let page = get(&server.url("/error/h1"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("histogram gone"), "{}", page.body);
    assert!(
        page.body
            .contains("The charts cannot be shown: store unavailable: histogram &lt;offline&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<svg"), "{}", page.body);
    let api = get(&server.url("/api/errors/h1"));
    assert_eq!(api.status, 200, "{}", api.body);
    let body: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(body["error"]["count"], 2);
    assert!(
        body["per_hour"].is_null() && body["per_day"].is_null(),
        "{body}"
    );
    assert!(
        body["charts_error"].as_str().unwrap().contains("offline"),
        "{body}"
    );
}
