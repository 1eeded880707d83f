//! An HTTP/2 run's connections in words: the one line the summary, the Markdown table
//! and the page carry (connections, streams per connection, streams sent again after a
//! GOAWAY, drops by cause).

use super::Report;
use crate::units::thousands;

/// `h2c: 20 connections · 80 streams (4.0 per connection) · 3 sent again after a GOAWAY
/// · dropped: goaway/NO_ERROR 1`; None for an HTTP/1.1 run.
pub(crate) fn line(r: &Report) -> Option<String> {
    let t = r.totals.h2.as_ref()?;
    let mut s = format!(
        "{}: {} connections · {} streams",
        r.protocol,
        thousands(t.connects),
        thousands(t.streams)
    );
    if let Some(per) = t.streams_per_connection() {
        s.push_str(&format!(" ({per:.1} per connection)"));
    }
    if t.goaway_retried > 0 {
        s.push_str(&format!(" · {} sent again after a GOAWAY", thousands(t.goaway_retried)));
    }
    if !t.drops.is_empty() {
        let drops: Vec<String> = t.drops.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect();
        s.push_str(&format!(" · dropped: {}", drops.join(", ")));
    }
    Some(s)
}

/// The Markdown summary's and the JUnit output's row: the same line under the name of
/// the protocol that ran; nothing for an HTTP/1.1 run.
pub(crate) fn rows(r: &Report) -> Vec<(&'static str, String)> {
    line(r).map(|l| ("Connections (HTTP/2)", l)).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::record::H2Window;

    #[test]
    fn an_h2_run_says_its_protocol_connections_and_drops_and_a_plain_run_nothing() {
        let mut r = crate::report::testkit::held_report(30, 25, "h2");
        assert_eq!(super::line(&r), None);
        r.protocol = "h2c".into();
        r.totals.h2 = Some(H2Window {
            connects: 20,
            streams: 80,
            goaway_retried: 3,
            drops: BTreeMap::from([("goaway/NO_ERROR".to_string(), 20)]),
        });
        assert_eq!(
            super::line(&r).unwrap(),
            "h2c: 20 connections · 80 streams (4.0 per connection) · 3 sent again after a GOAWAY · dropped: goaway/NO_ERROR 20"
        );
        assert!(crate::report::terminal::summary(&r).contains("  h2c: 20 connections"));
        let page = crate::report::html::render(&r).unwrap();
        assert!(
            page.contains("<th>protocol</th><td>h2c</td>"),
            "the page names the protocol"
        );
        assert!(page.contains("h2c: 20 connections"), "and the connections");
        let md = crate::report::markdown::markdown(&r).unwrap();
        assert!(
            md.contains("| Connections (HTTP/2) | h2c: 20 connections · 80 streams"),
            "the Markdown summary: {md}"
        );
        let xml = crate::report::junit::junit(&r);
        assert!(
            xml.contains("&#10;Connections (HTTP/2): h2c: 20 connections"),
            "the JUnit output: {xml}"
        );
    }
}
