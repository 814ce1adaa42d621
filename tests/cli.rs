//! The `error-tracker` command on real database files, as a user or a script runs it.
#![cfg(feature = "cli")]

mod dashboard_common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use dashboard_common::{numbered_store, read, record};
use error_tracker::{Durability, RedbOptions, RedbStore, Status, Store};
use time::OffsetDateTime;

fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_error-tracker"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("ERROR_TRACKER_DB")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed; its standard output.
fn ok(db: &Path, args: &[&str]) -> String {
    let output = cli(db, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

fn json(db: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(db, &all)).expect("JSON output")
}

fn status_of(db: &Path, fingerprint: &str) -> Option<Status> {
    RedbStore::open_read_only(db)
        .unwrap()
        .get(fingerprint)
        .unwrap()
        .map(|g| g.summary.status)
}

#[test]
fn list_pages_filters_and_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    drop(numbered_store(dir.path(), 21));
    let db = dir.path().join("errors.redb");

    let page2 = ok(&db, &["list", "--page", "2", "--page-size", "5"]);
    let rows: Vec<&str> = page2
        .lines()
        .filter(|l| l.contains("failure number"))
        .collect();
    assert_eq!(rows.len(), 5, "{page2}");
    assert!(
        rows[0].contains("e16") && rows[4].contains("e12"),
        "{page2}"
    );
    assert!(
        page2.contains("FINGERPRINT") && page2.contains("LAST SEEN"),
        "{page2}"
    );
    assert!(
        page2.contains("Page 2 of 5 · 21 errors · next: --page 3"),
        "{page2}"
    );

    let last = ok(&db, &["list", "--page", "5", "--page-size", "5"]);
    assert!(last.contains("e01") && !last.contains("next:"), "{last}");

    let listed = json(&db, &["list", "--page-size", "5"]);
    assert_eq!(listed["total"], 21);
    assert_eq!(listed["items"].as_array().unwrap().len(), 5);
    assert_eq!(listed["items"][0]["fingerprint"], "e21");

    let searched = json(&db, &["list", "--search", "NUMBER 1"]);
    assert_eq!(searched["total"], 11, "1 and 10 to 19");
    ok(&db, &["resolve", "e03"]);
    let resolved = json(&db, &["list", "--status", "resolved"]);
    assert_eq!(resolved["total"], 1);
    assert_eq!(resolved["items"][0]["fingerprint"], "e03");

    let usage = cli(&db, &["list", "--page", "0"]);
    assert_eq!(usage.status.code(), Some(2), "a usage error");
    assert!(stderr(&usage).contains("--page"), "{}", stderr(&usage));
    let bad_status = cli(&db, &["list", "--status", "fixed"]);
    assert_eq!(bad_status.status.code(), Some(2));
}

#[test]
fn show_prints_the_error_and_its_newest_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("errors.redb");
    dashboard_common::capture_demo_errors(&db);
    let store = RedbStore::open_read_only(&db).unwrap();
    let listed = store.list(&error_tracker::ListQuery::page(1, 50)).unwrap();
    let query_failed = listed
        .items
        .iter()
        .find(|e| e.kind == "QueryFailed")
        .unwrap();
    let fingerprint = query_failed.fingerprint.clone();
    drop(store);

    let text = ok(&db, &["show", &fingerprint]);
    for expected in [
        "QueryFailed: loading order 0 failed",
        "Count        7",
        "Status       unresolved",
        "QueryFailed: could not load the order",
        "PoolTimeout: timed out waiting for a connection from the pool",
        "password = *************",
        "region = eu-west-1",
        "path=/orders/{id}",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(!text.contains("hunter2"));

    let group = json(&db, &["show", &fingerprint]);
    assert_eq!(group["count"], 7);
    assert_eq!(group["samples"].as_array().unwrap().len(), 7);

    let missing = cli(&db, &["show", "0000000000000000"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(stderr(&missing).contains("no error with fingerprint \"0000000000000000\""));
}

#[test]
fn actions_change_the_file() {
    let dir = tempfile::tempdir().unwrap();
    drop(numbered_store(dir.path(), 3));
    let db = dir.path().join("errors.redb");

    assert_eq!(ok(&db, &["resolve", "e01"]).trim(), "e01 is now resolved");
    assert_eq!(status_of(&db, "e01"), Some(Status::Resolved));
    assert_eq!(ok(&db, &["ignore", "e01"]).trim(), "e01 is now ignored");
    assert_eq!(status_of(&db, "e01"), Some(Status::Ignored));
    let reopened = json(&db, &["reopen", "e01"]);
    assert_eq!(reopened["status"], "unresolved");
    assert_eq!(status_of(&db, "e01"), Some(Status::Unresolved));
    assert_eq!(ok(&db, &["delete", "e02"]).trim(), "e02 deleted");
    assert_eq!(status_of(&db, "e02"), None);

    for action in ["resolve", "ignore", "reopen", "delete"] {
        let missing = cli(&db, &[action, "e02"]);
        assert_eq!(missing.status.code(), Some(3), "{action}");
    }
    assert_eq!(
        status_of(&db, "e03"),
        Some(Status::Unresolved),
        "others untouched"
    );
}

#[test]
fn purge_deletes_what_is_older_and_export_writes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = numbered_store(dir.path(), 4);
    let now = OffsetDateTime::now_utc();
    record(
        store.as_ref(),
        "old1",
        "E",
        "stale",
        2,
        now - time::Duration::days(40),
    );
    record(
        store.as_ref(),
        "old2",
        "E",
        "stale",
        2,
        now - time::Duration::days(31),
    );
    drop(store);
    let db = dir.path().join("errors.redb");

    let export = json(&db, &["export", "--format", "json"]);
    let errors = export.as_array().unwrap();
    assert_eq!(errors.len(), 6);
    assert!(
        errors
            .iter()
            .all(|e| e["samples"].as_array().unwrap().len() == 1)
    );
    assert_eq!(errors[0]["fingerprint"], "e04", "newest first");
    // Without --json too: the export is JSON whatever the output mode.
    let plain: serde_json::Value = serde_json::from_str(&ok(&db, &["export"])).unwrap();
    assert_eq!(plain.as_array().unwrap().len(), 6);

    let purged = ok(&db, &["purge", "--older-than", "30d"]);
    assert!(purged.starts_with("2 errors not seen since "), "{purged}");
    assert_eq!(status_of(&db, "old1"), None);
    assert_eq!(status_of(&db, "e01"), Some(Status::Unresolved));
    assert_eq!(
        json(&db, &["purge", "--older-than", "30days"])["deleted"],
        0
    );
    let bad = cli(&db, &["purge", "--older-than", "a month"]);
    assert_eq!(bad.status.code(), Some(2));

    let empty = tempfile::tempdir().unwrap();
    let empty_db = empty.path().join("errors.redb");
    drop(RedbStore::open(&empty_db).unwrap());
    assert_eq!(json(&empty_db, &["export"]), serde_json::json!([]));
    assert_eq!(ok(&empty_db, &["list"]).trim(), "No errors.");
}

#[test]
fn clear_errors_for_a_missing_locked_or_newer_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.redb");
    for args in [&["list"][..], &["resolve", "e01"], &["serve"]] {
        let output = cli(&missing, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).contains(&format!("no database at {}", missing.display())),
            "{}",
            stderr(&output)
        );
    }
    assert!(!missing.exists(), "no empty database was created");

    // Held exclusively by an application using eventual durability.
    let locked = dir.path().join("locked.redb");
    let holder = RedbStore::open_with(
        &locked,
        RedbOptions {
            durability: Durability::Eventual,
            ..RedbOptions::default()
        },
    )
    .unwrap();
    for args in [&["list"][..], &["resolve", "e01"]] {
        let output = cli(&locked, args);
        assert_eq!(output.status.code(), Some(1));
        let message = stderr(&output);
        assert!(
            message.contains("is locked by another process"),
            "{message}"
        );
        assert!(message.contains(&locked.display().to_string()), "{message}");
    }
    drop(holder);
    assert!(
        cli(&locked, &["list"]).status.success(),
        "usable once released"
    );

    // Written by a newer release.
    let newer = dir.path().join("newer.redb");
    drop(RedbStore::open(&newer).unwrap());
    {
        let db = redb::Database::create(&newer).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let output = cli(&newer, &["list"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("schema version 99"),
        "{}",
        stderr(&output)
    );

    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, b"this is not a database").unwrap();
    let output = cli(&garbage, &["show", "e01"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("corrupt"), "{}", stderr(&output));
}

/// `error-tracker serve` on an ephemeral port; stopped when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(db: &Path) -> Served {
        Served::start_with(db, &[])
    }

    fn start_with(db: &Path, options: &[&str]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_error-tracker"))
            .arg("--db")
            .arg(db)
            .args(["serve", "--addr", "127.0.0.1:0", "--page-size", "50"])
            .args(options)
            .env_remove("ERROR_TRACKER_TOKEN")
            .env_remove("ERROR_TRACKER_BASIC")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let mut line = String::new();
        // The address is printed on standard output.
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let start = line
            .find("http://")
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let base = line[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        if options.is_empty() {
            assert!(line.contains("clients on this machine only"), "{line}");
        }
        Served { child, base }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_shows_what_another_process_writes_and_acts_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let writer = numbered_store(dir.path(), 2);
    let db = dir.path().join("errors.redb");
    let served = Served::start(&db);
    let total = || {
        let answer = dashboard_common::get(&format!("{}/api/errors", served.base));
        assert_eq!(answer.status, 200, "{}", answer.body);
        serde_json::from_str::<serde_json::Value>(&answer.body).unwrap()["total"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(total(), 2);

    // This process keeps writing while the server reads and writes the same file.
    let writing = std::thread::spawn(move || {
        for i in 0..40 {
            record(
                writer.as_ref(),
                &format!("w{i:02}"),
                "E",
                "written while serving",
                1,
                OffsetDateTime::now_utc(),
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        writer
    });
    // Read while the writer commits: the server sees each commit, never one backwards.
    let mut seen = 0;
    while !writing.is_finished() {
        let now = total();
        assert!(now >= seen, "the total went from {seen} back to {now}");
        seen = now;
    }
    let writer = writing.join().unwrap();
    assert_eq!(total(), 42, "every commit of the writer is visible");

    // An action through the server lands in the file the writer holds open.
    let resolved = read(
        dashboard_common::client()
            .post(&format!("{}/api/errors/w07/status", served.base))
            .header("content-type", "application/json")
            .send(r#"{"status":"resolved"}"#)
            .unwrap(),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(
        writer.get("w07").unwrap().unwrap().summary.status,
        Status::Resolved
    );
    // And the writer's next occurrence of it is a regression the server shows.
    record(
        writer.as_ref(),
        "w07",
        "E",
        "written while serving",
        1,
        OffsetDateTime::now_utc(),
    );
    let detail = dashboard_common::get(&format!("{}/error/w07", served.base));
    assert!(detail.body.contains("regressed"), "{}", detail.body);

    // The command-line actions work beside both.
    assert!(cli(&db, &["ignore", "w01"]).status.success());
    assert_eq!(
        writer.get("w01").unwrap().unwrap().summary.status,
        Status::Ignored
    );
}

#[test]
fn terminal_escape_sequences_in_stored_text_are_not_printed_raw() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("errors.redb")).unwrap();
    // Escape sequences, a forged line, and a right-to-left override that reverses what
    // follows on screen.
    let hostile =
        "red \u{1b}[31malert\u{1b}]0;title\u{7}\nStatus       resolved \u{202e}evil\u{2066}";
    record(
        &store,
        "esc",
        "E\u{1b}[2J",
        hostile,
        1,
        OffsetDateTime::now_utc(),
    );
    drop(store);
    let db = dir.path().join("errors.redb");
    for args in [&["list"][..], &["show", "esc"]] {
        let text = ok(&db, args);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{args:?}: {text:?}"
        );
        assert!(
            !text.contains('\u{202e}') && !text.contains('\u{2066}'),
            "{args:?}: {text:?}"
        );
        assert!(
            !text
                .lines()
                .any(|line| line.starts_with("Status       resolved")),
            "a stored message forged a line: {text}"
        );
        assert!(text.contains("red \\u{1b}[31malert"), "{args:?}: {text}");
    }
    // JSON keeps the text exactly, escaped the JSON way.
    assert_eq!(json(&db, &["show", "esc"])["message"], hostile);
}

#[test]
fn serve_with_a_password_or_a_token() {
    let dir = tempfile::tempdir().unwrap();
    drop(numbered_store(dir.path(), 1));
    let db = dir.path().join("errors.redb");

    let basic = Served::start_with(&db, &["--basic", "admin:s3cret", "--title", "shop-api"]);
    let refused = dashboard_common::get(&format!("{}/", basic.base));
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    let page = read(
        dashboard_common::client()
            .get(&format!("{}/", basic.base))
            .header("authorization", "Basic YWRtaW46czNjcmV0")
            .call()
            .unwrap(),
    );
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<title>All errors · shop-api</title>"),
        "{}",
        page.body
    );

    let token = Served::start_with(&db, &["--token", "t0ken"]);
    let api = |value: &str| {
        dashboard_common::client()
            .get(&format!("{}/api/errors", token.base))
            .header("authorization", value)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(api("Bearer t0ken"), 200);
    assert_eq!(api("Bearer nope"), 401);

    let both = cli(&db, &["serve", "--token", "a", "--allow-all"]);
    assert_eq!(both.status.code(), Some(2), "one way in at a time");
    let bad = cli(
        &db,
        &["serve", "--basic", "no-colon", "--addr", "127.0.0.1:0"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--basic takes USER:PASSWORD"));
}

#[test]
fn serve_answers_only_for_its_own_host_names() {
    let dir = tempfile::tempdir().unwrap();
    drop(numbered_store(dir.path(), 1));
    let db = dir.path().join("errors.redb");
    let served = Served::start(&db);
    let port = served.base.rsplit(':').next().unwrap().to_owned();
    let agent = dashboard_common::client();
    let ask = |method: &str, host: &str| {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{}/api/errors/e01", served.base))
            .header("host", host)
            .header("origin", format!("http://{host}"))
            .body(())
            .unwrap();
        agent.run(request).unwrap().status().as_u16()
    };
    // DNS rebinding: another site's name resolving to this machine.
    let rebound = format!("attacker.example:{port}");
    assert_eq!(ask("GET", &rebound), 421);
    assert_eq!(ask("DELETE", &rebound), 421);
    assert!(status_of(&db, "e01").is_some(), "the error was not deleted");
    // Its own names are answered.
    assert_eq!(ask("GET", &format!("127.0.0.1:{port}")), 200);
    assert_eq!(ask("GET", &format!("localhost:{port}")), 200);
    drop(served);

    let served = Served::start_with(&db, &["--host", "errors.internal"]);
    let port = served.base.rsplit(':').next().unwrap().to_owned();
    let request = axum::http::Request::builder()
        .uri(format!("{}/api/errors", served.base))
        .header("host", format!("errors.internal:{port}"))
        .body(())
        .unwrap();
    assert_eq!(agent.run(request).unwrap().status().as_u16(), 200);
}
