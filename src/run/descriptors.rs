//! Open files: each held client is a socket in this process (and, with the embedded
//! overlay, a second one for the overlay's end), so a connected population needs as
//! many descriptors as it holds clients. The soft limit is raised to the hard one at
//! the start of a run (a shell's default soft limit, 1,024, would stop a storm at a
//! thousand clients); what the hard limit cannot hold is said before anything is sent.

use crate::profile::{Endpoint, Profile};

/// Descriptors beyond the held clients: listeners, the exporter, files, the logins'
/// own connections in flight.
const MARGIN: u64 = 1_024;

/// The descriptors a run of `p` holds at its peak for its connected population (every
/// simulated client and the background's, connected at once); None without one.
pub fn needed(p: &Profile, background: u64) -> Option<u64> {
    let held = p.client.session.as_ref().is_some_and(|s| s.connect.is_some());
    if !held {
        return None;
    }
    let ends = if matches!(p.target.endpoint, Endpoint::Embedded(_)) {
        2
    } else {
        1
    };
    Some((p.population.simulated as u64 + background) * ends + MARGIN)
}

/// (soft, hard) limits on open files; None where they cannot be read.
pub fn limits() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0).then_some((r.rlim_cur, r.rlim_max))
}

/// Raises the soft limit on open files to the hard one; returns the limit now in force.
pub fn raise() -> Option<u64> {
    let (soft, hard) = limits()?;
    if soft < hard {
        let r = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct it is given; raising the soft limit up to
        // the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } == 0 {
            return Some(hard);
        }
    }
    Some(soft)
}

/// A sentence when `need` descriptors will not fit under the hard limit.
pub fn shortfall(need: u64) -> Option<String> {
    let (_, hard) = limits()?;
    (need > hard).then(|| {
        format!(
            "this run may hold {need} connections' descriptors and the hard limit on open files is {hard}: \
             connects past it fail as the generator's own (raise `ulimit -Hn`, hold fewer clients, or \
             run the target in another process)"
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (_, hard) = super::limits().expect("Linux has limits");
        assert_eq!(super::raise(), Some(hard));
        assert_eq!(super::limits().map(|l| l.0), Some(hard));
        assert!(super::shortfall(hard + 1).unwrap().contains("hard limit on open files"));
        assert_eq!(super::shortfall(1), None);
    }
}
