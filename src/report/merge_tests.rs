//! Merging shard reports window by window: what each shard's stream hands over, and
//! what the merge refuses while streaming.

use std::cell::RefCell;
use std::rc::Rc;

use super::merge::{MergeError, gather, merge_files, merge_parts};
use super::testkit::report;
use super::{Report, ShardFacts};
use crate::plan::Part;

fn shard(index: u32) -> Report {
    let mut r = report(30, 0, "one", "");
    r.shard = Some(Part { index, count: 2 });
    r
}

#[test]
fn a_report_read_window_by_window_hands_each_over_in_order_and_keeps_none() {
    let r = shard(0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.json");
    std::fs::write(&file, r.to_json()).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let into = seen.clone();
    let got = Report::read_windows(&file, move |w| {
        into.borrow_mut().push(w.index);
        Ok(())
    })
    .unwrap();
    assert!(got.windows.is_empty(), "the windows went to the sink, not the report");
    assert_eq!(*seen.borrow(), (0..30).collect::<Vec<u32>>());
    assert_eq!(ShardFacts::of(&got).with_windows(30, None), ShardFacts::of(&r));
    // The sink is gone once the read ends: a plain read keeps the windows again.
    assert_eq!(Report::read(&file).unwrap().windows.len(), 30);

    // A sink's refusal stops the read there and is in the error.
    let calls = Rc::new(RefCell::new(0));
    let counted = calls.clone();
    let err = Report::read_windows(&file, move |w| {
        *counted.borrow_mut() += 1;
        if w.index == 3 {
            Err("no room for window 3".into())
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert!(err.to_string().contains("no room for window 3"), "{err}");
    assert_eq!(*calls.borrow(), 4);
    assert_eq!(Report::read(&file).unwrap().windows.len(), 30);
}

#[test]
fn a_streamed_merge_equals_the_merge_of_whole_reports_and_sees_a_shard_change() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = (shard(0), shard(1));
    // Shard 2 ran a window longer: its last window is appended, not added.
    let mut extra = b.windows.last().unwrap().clone();
    extra.index += 1;
    extra.start_ms += extra.len_ms;
    b.windows.push(extra);
    b.plan.ended_ms += b.plan.window_ms;
    for (i, r) in [&a, &b].into_iter().enumerate() {
        let d = dir.path().join(format!("s{i}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("report.json"), r.to_json()).unwrap();
    }
    let found = gather(&[dir.path().to_path_buf()]).unwrap();
    let streamed = merge_files(&found).unwrap();
    let whole = merge_parts(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(streamed.to_json(), whole.to_json());
    assert_eq!(streamed.windows.len(), 31);
    let attempts: u64 = a.windows.iter().chain(&b.windows).map(|w| w.counts.attempts).sum();
    assert_eq!(streamed.totals.counts.attempts, attempts);

    // A shard rewritten after it was checked (a window fewer, or one out of place): the
    // windows the stream counted are not the checked ones.
    let mut fewer = b.clone();
    fewer.windows.pop();
    std::fs::write(dir.path().join("s1/report.json"), fewer.to_json()).unwrap();
    let err = merge_files(&found).unwrap_err();
    assert!(matches!(err, MergeError::Changed(_)), "{err:?}");
    let mut moved = b.clone();
    moved.windows.swap(3, 4);
    std::fs::write(dir.path().join("s1/report.json"), moved.to_json()).unwrap();
    assert!(matches!(merge_files(&found).unwrap_err(), MergeError::Changed(_)));

    // A window whose histogram does not decode stops the merge with the histogram's error.
    let mut broken = b.clone();
    broken.windows[5].latency_ms.hist = "not base64!".into();
    std::fs::write(dir.path().join("s1/report.json"), broken.to_json()).unwrap();
    let err = merge_files(&found).unwrap_err();
    assert!(matches!(err, MergeError::Hist(_)), "{err:?}");
}
