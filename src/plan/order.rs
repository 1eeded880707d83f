//! The plan's events put in order without sorting what is already in order.
//!
//! The background's logins are generated in order (instants rising, client ids
//! rising), after the storm's; only the storm's need sorting. Sorting the whole plan
//! spent half of the 7 s a plan near the 50,000,000-event budget took to build (a
//! background of 2,000,000/s, on a loaded machine): the storm's events are now sorted
//! alone and merged with the background's through a copy of the shorter of the two
//! runs, when it is at most an eighth of the plan (100 MB beside the 800 a plan may
//! take); otherwise the plan is sorted whole, as before.

use super::Event;

fn key(e: &Event) -> (u64, u32, super::EventKind) {
    (e.at_us, e.client, e.kind)
}

/// `events` sorted by (instant, client, kind), given that `events[ordered_from..]` is
/// already in that order. The result is the one a whole sort gives.
pub(super) fn order(events: &mut [Event], ordered_from: usize) {
    let (head, tail) = events.split_at_mut(ordered_from);
    debug_assert!(tail.is_sorted_by_key(key), "the background is generated in order");
    head.sort_unstable_by_key(key);
    let shorter = head.len().min(tail.len());
    if shorter == 0 {
        return;
    }
    if shorter > events.len() / 8 {
        events.sort_unstable_by_key(key);
        return;
    }
    let n = events.len();
    if ordered_from <= n - ordered_from {
        // Forward: the head copied out; the output never overtakes the tail's reader.
        let left = events[..ordered_from].to_vec();
        let (mut i, mut j) = (0, ordered_from);
        for out in 0..n {
            if i == left.len() {
                break;
            }
            if j < n && key(&events[j]) < key(&left[i]) {
                events[out] = events[j];
                j += 1;
            } else {
                events[out] = left[i];
                i += 1;
            }
        }
    } else {
        // Backward: the tail copied out; the output never undercuts the head's reader.
        let right = events[ordered_from..].to_vec();
        let (mut i, mut j) = (ordered_from, right.len());
        for out in (0..n).rev() {
            if j == 0 {
                break;
            }
            if i > 0 && key(&events[i - 1]) > key(&right[j - 1]) {
                events[out] = events[i - 1];
                i -= 1;
            } else {
                events[out] = right[j - 1];
                j -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::EventKind;
    use crate::rng::mix64;

    /// A storm's events in any order, then a background's in order.
    fn events(storm: usize, background: usize, seed: u64) -> Vec<Event> {
        let mut v: Vec<Event> = (0..storm as u64)
            .map(|i| Event {
                at_us: mix64(seed ^ i) % 1_000,
                client: (mix64(i) % 50) as u32,
                kind: if i % 3 == 0 {
                    EventKind::Reboot
                } else {
                    EventKind::Login
                },
            })
            .collect();
        v.extend((0..background as u64).map(|i| Event {
            at_us: i * 1_000 / (background as u64).max(1) + i % 2,
            client: 100 + i as u32,
            kind: EventKind::Login,
        }));
        v
    }

    #[test]
    fn ordering_gives_what_a_whole_sort_gives_on_every_path() {
        // (storm events, background events): no storm, no background, a short storm
        // (forward merge), a short background (backward merge), both long (whole sort),
        // ties of instants across the two runs.
        for (storm, background) in [(0, 50), (50, 0), (3, 200), (200, 3), (100, 100), (1, 1), (7, 64)] {
            for seed in 0..4 {
                let mut got = events(storm, background, seed);
                let mut want = got.clone();
                want.sort_unstable_by_key(key);
                order(&mut got, storm);
                assert_eq!(got, want, "{storm} storm events, {background} background, seed {seed}");
            }
        }
    }
}
