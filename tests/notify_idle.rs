//! The notifier thread sleeps while it backs off from a failing server, even when the cap's
//! window ends meanwhile (an earlier version spun a core there). Alone in its test binary, so
//! that the process's CPU time is this scenario's.

mod notify_support;

use std::time::Duration;

use error_tracker::NotifyPolicy;
use notify_support::{SmtpServer, free_port, policy, settle, tracker};

/// User + system CPU time of this process, in clock ticks (`/proc/self/stat`).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn backing_off_from_a_dead_server_does_not_spin() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = SmtpServer::start_on(port, dir.path());
    let policy = NotifyPolicy {
        window: Duration::from_millis(300),
        retry_initial: Duration::from_secs(30),
        retry_max: Duration::from_secs(30),
        ..policy()
    };
    let (tracker, dispatch) = tracker(&dir.path().join("e.redb"), port, policy);
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("sent"));
    settle(&tracker);
    assert_eq!(server.wait_for(1).len(), 1);
    drop(server);
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("not sent"));
    assert!(tracker.flush(Duration::from_secs(10)));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tracker.stats().notifications.failures == 0 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    // The window ends during the 30 s back-off; the thread must sleep through it.
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks() - before;
    assert!(used < 40, "{used} clock ticks of CPU in 2 s of back-off");
    let stats = tracker.stats().notifications;
    assert_eq!(
        (stats.sent, stats.failures, stats.pending),
        (1, 1, 1),
        "{stats:?}"
    );
}
