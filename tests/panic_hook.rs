//! The panic hook: panics are stored with message, location, thread and span context.

mod common;

use common::{all_groups, setup, single};

#[test]
fn a_panic_is_captured_with_context_and_the_previous_hook_still_runs() {
    let previous_ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = previous_ran.clone();
    std::panic::set_hook(Box::new(move |_| {
        flag.store(true, std::sync::atomic::Ordering::SeqCst)
    }));

    let (tracker, dispatch) = setup(common::builder());
    tracker.install_panic_hook();
    tracker.install_panic_hook(); // a second call must not capture every panic twice
    let joined = std::thread::Builder::new()
        .name("checkout-worker".into())
        .spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let _span = tracing::info_span!("checkout", cart = 12).entered();
                let secret = "Bearer abc.def";
                panic!("cart {} exploded with token {secret}", 12);
            })
        })
        .unwrap()
        .join();
    assert!(joined.is_err());
    assert!(previous_ran.load(std::sync::atomic::Ordering::SeqCst));

    let groups = all_groups(&tracker);
    let group = single(&groups);
    assert_eq!(group.summary.kind, "panic");
    assert_eq!(group.summary.count, 1);
    assert_eq!(group.summary.location.file.as_deref(), Some(file!()));
    let sample = &group.samples[0];
    assert!(
        sample
            .message
            .starts_with("cart 12 exploded with token Bearer "),
        "{}",
        sample.message
    );
    assert!(
        !sample.message.contains("abc.def"),
        "masked: {}",
        sample.message
    );
    assert_eq!(sample.thread.name.as_deref(), Some("checkout-worker"));
    assert_eq!(sample.spans[0].fields["cart"], 12);
}
