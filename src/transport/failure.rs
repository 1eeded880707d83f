//! Why a request failed, in words: the class it is counted under and the cause a
//! person reads, and the first example of each class that the report keeps.

use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::http1;
use crate::outcome::Class;

pub fn classify_io(e: &io::Error) -> Class {
    use io::ErrorKind as K;
    if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
        return Class::Fds;
    }
    match e.kind() {
        K::ConnectionRefused => Class::Refused,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => Class::Reset,
        K::TimedOut => Class::Timeout,
        K::AddrNotAvailable | K::AddrInUse => Class::Ports,
        _ => Class::Connect,
    }
}

/// What to change when this client runs out of local ports.
const PORTS_FIX: &str = " (this client ran out of local ports towards the target: give more \
target.source_addresses, widen net.ipv4.ip_local_port_range, or use connection: reuse)";

/// What to change when the generator runs out of file descriptors.
const FDS_FIX: &str = " (the generator ran out of file descriptors: its own failure, not the target's; \
raise `ulimit -n`, lower target.max_in_flight, or look for what else holds this process's descriptors)";

/// Why a request failed: its class, and the cause that says why in words.
#[derive(Debug)]
pub(super) struct Failure {
    pub class: Class,
    pub cause: Cause,
}

#[derive(Debug)]
pub(super) enum Cause {
    Io(io::Error),
    Bad(http1::BadResponse),
    ClosedEarly,
    CutBody,
    /// The request head composed from captured values and cookies would be this long,
    /// over [`super::http1::MAX_REQUEST_HEAD`].
    RequestTooLong(usize),
    /// An HTTP/2 stream or connection failed (h2's words, or ours).
    H2(String),
}

impl Failure {
    pub fn io(e: io::Error) -> Failure {
        Failure {
            class: classify_io(&e),
            cause: Cause::Io(e),
        }
    }

    pub fn body(cause: Cause) -> Failure {
        Failure {
            class: Class::Body,
            cause,
        }
    }

    /// An answer that cannot be read: `head` when its head is at fault, else `body`.
    pub fn bad(why: http1::BadResponse) -> Failure {
        Failure {
            class: if why.is_head() { Class::Head } else { Class::Body },
            cause: Cause::Bad(why),
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Io(e) => {
                write!(f, "{e}")?;
                match classify_io(e) {
                    Class::Ports => return f.write_str(PORTS_FIX),
                    Class::Fds => return f.write_str(FDS_FIX),
                    _ => {}
                }
                let unknown_issuer = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|r| {
                        matches!(
                            r,
                            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
                        )
                    });
                if unknown_issuer {
                    f.write_str(
                        " (trust its issuer with target.tls.ca, or set target.tls.verify: false for a test target)",
                    )?;
                }
                Ok(())
            }
            Cause::Bad(b) => write!(f, "{b}"),
            Cause::ClosedEarly => f.write_str("the server closed the connection before a whole answer"),
            Cause::CutBody => f.write_str("the server closed the connection in the middle of the body"),
            Cause::H2(why) => f.write_str(why),
            Cause::RequestTooLong(n) => write!(
                f,
                "the request head would be {n} bytes, over the {} a request may have (captured values or cookies too long): not sent",
                super::http1::MAX_REQUEST_HEAD
            ),
        }
    }
}

/// The first failure of each class, in words: a report that counts 20,000 `tls`
/// failures also says what the first one was. Costs one atomic load per failure after
/// the first of its class, nothing on success.
#[derive(Debug, Default)]
pub(super) struct Examples {
    seen: AtomicU32,
    list: Mutex<BTreeMap<String, String>>,
}

impl Examples {
    pub fn note(&self, class: Class, why: impl FnOnce() -> String) {
        let bit = 1u32
            << match class {
                Class::Timeout => 0,
                Class::Refused => 1,
                Class::Reset => 2,
                Class::Tls => 3,
                Class::Body => 4,
                Class::Connect => 5,
                Class::Capture => 6,
                Class::Check => 7,
                Class::Ports => 8,
                Class::Fds => 9,
                Class::Head => 10,
                Class::TimeoutMidAnswer => 11,
                Class::H2NotNegotiated => 12,
                Class::GoAway => 13,
                Class::RefusedStream => 14,
                Class::EnhanceYourCalm => 15,
                Class::StreamReset => 16,
                Class::PingTimeout => 17,
                Class::H2Protocol => 18,
                Class::H2FlowStall => 19,
                Class::H2HeadersTooBig => 20,
                Class::H2SettingsFlood => 21,
                _ => return,
            };
        // A plain load first: in a failure storm the bit is set, and threads sharing
        // the transport then only read the line.
        if self.seen.load(Ordering::Relaxed) & bit == 0 && self.seen.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            let mut l = self.list.lock().unwrap_or_else(|e| e.into_inner());
            l.insert(class.to_string(), why());
        }
    }

    pub fn list(&self) -> BTreeMap<String, String> {
        self.list.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_ports_is_its_own_class_and_names_the_fix() {
        for kind in [io::ErrorKind::AddrNotAvailable, io::ErrorKind::AddrInUse] {
            let f = Failure::io(io::Error::from(kind));
            assert_eq!(f.class, Class::Ports);
            let why = f.cause.to_string();
            assert!(
                why.contains("source_addresses") && why.contains("ip_local_port_range"),
                "{why}"
            );
        }
        for errno in [libc::EMFILE, libc::ENFILE] {
            let f = Failure::io(io::Error::from_raw_os_error(errno));
            assert_eq!(f.class, Class::Fds);
            assert!(f.class.is_generator_side());
            assert!(f.cause.to_string().contains("not the target's"), "{}", f.cause);
        }
        let refused = Failure::io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.class, Class::Refused);
        assert!(!refused.cause.to_string().contains("ports"));
    }
}
