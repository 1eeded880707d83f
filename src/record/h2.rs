//! An HTTP/2 run's connection figures per window (`target.http: 2`): connections
//! opened, streams sent on them, streams sent again after a GOAWAY, and the drops by
//! cause (`goaway/NO_ERROR`, `ping_timeout`, `reset` ...), each in the window it
//! happened in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::counts::tally;

tally! {
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct H2Window {
        /// Connections opened (TCP, TLS with ALPN `h2` over https, the h2 handshake).
        pub connects: u64,
        /// Streams sent: every request (login step, keepalive, on-reboot) is one.
        pub streams: u64,
        /// Streams above a GOAWAY's last-stream-id (never processed by the server), sent
        /// again at once on a new connection: not failures, not counted against the
        /// client's backoff.
        pub goaway_retried: u64,
        /// Connections the server ended, by cause: `goaway/CODE` (the GOAWAY's error
        /// code), or the class of what ended it (`ping_timeout`, `reset`, ...).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub drops: BTreeMap<String, u64>,
    }
}

impl H2Window {
    /// Streams per connection opened in the window (None when none was opened).
    pub fn streams_per_connection(&self) -> Option<f64> {
        (self.connects > 0).then(|| self.streams as f64 / self.connects as f64)
    }

    /// Every drop, whatever its cause.
    pub fn dropped(&self) -> u64 {
        self.drops.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_add_counts_and_drops_by_cause() {
        let mut a = H2Window {
            connects: 2,
            streams: 6,
            goaway_retried: 1,
            drops: BTreeMap::from([("goaway/NO_ERROR".to_string(), 2)]),
        };
        let b = H2Window {
            connects: 1,
            streams: 3,
            goaway_retried: 0,
            drops: BTreeMap::from([("goaway/NO_ERROR".to_string(), 1), ("ping_timeout".to_string(), 1)]),
        };
        a += &b;
        assert_eq!((a.connects, a.streams, a.goaway_retried), (3, 9, 1));
        assert_eq!(a.drops["goaway/NO_ERROR"], 3);
        assert_eq!(a.dropped(), 4);
        assert_eq!(a.streams_per_connection(), Some(3.0));
    }
}
