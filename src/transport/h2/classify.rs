//! What became of an HTTP/2 stream, from h2's error: the class the report counts it
//! under. h2 tells a server's reset and GOAWAY apart from its own (`is_remote`), and
//! says its own limits in a GOAWAY's debug data.

use h2::Reason;

use super::sniff::Flood;
use crate::outcome::Class;
use crate::transport::failure::classify_io;

/// The class of a failed stream or connection (a stream above a GOAWAY's
/// last-stream-id is the caller's to tell apart: h2 fails it with the GOAWAY's error).
pub(super) fn class_of(e: &h2::Error) -> Class {
    if let Some(io) = e.get_io() {
        // The flood's own error, where h2 passes it on as it is (streams are told by
        // the connection's `flooded`: h2 gives them only the error's words).
        if io.get_ref().is_some_and(|inner| inner.is::<Flood>()) {
            return Class::H2SettingsFlood;
        }
        return classify_io(io);
    }
    let reason = e.reason().unwrap_or(Reason::PROTOCOL_ERROR);
    if e.is_remote() {
        return match reason {
            Reason::ENHANCE_YOUR_CALM => Class::EnhanceYourCalm,
            _ if e.is_go_away() => Class::GoAway,
            Reason::REFUSED_STREAM => Class::RefusedStream,
            _ => Class::StreamReset,
        };
    }
    // h2's own verdicts on what the server sent.
    let text = e.to_string();
    if text.contains("header_list_way_too_large") || text.contains("too_many_continuations") {
        return Class::H2HeadersTooBig;
    }
    match reason {
        // A header block over the limit but not twice over: h2 resets the stream with
        // PROTOCOL_ERROR (indistinguishable from a malformed one), or COMPRESSION_ERROR
        // for CONTINUATION frames past the limit.
        Reason::COMPRESSION_ERROR if e.is_go_away() => Class::H2HeadersTooBig,
        // h2's other abuse limits (resets, tiny DATA frames) and every broken frame.
        _ => Class::H2Protocol,
    }
}

/// The name a connection's drop is counted under in the windows: `goaway/NO_ERROR` for
/// a GOAWAY (by its code), else the class.
pub(super) fn goaway_name(code: u32) -> String {
    format!("goaway/{:?}", Reason::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goaway_drops_are_named_by_their_code() {
        assert_eq!(goaway_name(0), "goaway/NO_ERROR");
        assert_eq!(goaway_name(11), "goaway/ENHANCE_YOUR_CALM");
        assert_eq!(goaway_name(2), "goaway/INTERNAL_ERROR");
    }

    #[test]
    fn an_error_h2_found_in_what_the_server_sent_is_a_protocol_break() {
        let e: h2::Error = Reason::FRAME_SIZE_ERROR.into();
        assert!(!e.is_remote());
        assert_eq!(class_of(&e), Class::H2Protocol);
    }
}
