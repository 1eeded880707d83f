//! A trial as a person reads it: each request and answer with the headers that matter
//! and a bounded excerpt of its body, masked on the way in.

use std::fmt::Write as _;

use super::{BODY_EXCERPT, Mask, StepShown, Trial};
use crate::transport::Exchange;
use crate::units::Dur;

/// Answer headers worth a line: how the body is framed and typed, where it sends the
/// client, when to come back, how to authenticate, what it sets.
const ANSWER_HEADERS: [&str; 8] = [
    "content-type",
    "content-length",
    "transfer-encoding",
    "location",
    "retry-after",
    "www-authenticate",
    "set-cookie",
    "connection",
];

/// One step's exchange, masked: request line, headers and body; status line, the
/// answer headers that matter and its body.
/// `scheme` is the node's (`http`, `https`): the request line shows the whole URL.
pub(super) fn exchange(x: &Exchange, scheme: &str, mask: &Mask) -> StepShown {
    let mut s = StepShown {
        name: x.step.clone(),
        ..StepShown::default()
    };
    let (req_head, req_body) = split_head(&x.request);
    let mut lines = req_head.lines();
    s.request_line = mask.text(lines.next().unwrap_or("(not sent: the connection failed first)"));
    if let Some(line) = s.request_line.strip_suffix(" HTTP/1.1") {
        s.request_line = line.to_string();
    }
    s.request_headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), mask.header(n.trim(), v.trim())))
        .collect();
    let host = s.request_headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host"));
    if let (Some((_, host)), Some((method, path))) = (host, s.request_line.split_once(' ')) {
        s.request_line = format!("{method} {scheme}://{host}{path}");
    }
    s.request_body = excerpt(req_body, mask);
    if !x.head.is_empty() {
        let (head, _) = split_head(&x.head);
        let mut lines = head.lines();
        s.status_line = lines.next().map(|l| mask.text(l));
        s.answer_headers = lines
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| ANSWER_HEADERS.contains(&n.trim().to_ascii_lowercase().as_str()))
            .map(|(n, v)| (n.trim().to_string(), mask.header(n.trim(), v.trim())))
            .collect();
        s.answer_body = excerpt(&x.body, mask);
    }
    s
}

/// The head as text and the bytes after it.
fn split_head(bytes: &[u8]) -> (String, &[u8]) {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match end {
        Some(i) => (&bytes[..i], &bytes[i + 4..]),
        None => (bytes, &bytes[bytes.len()..]),
    };
    (String::from_utf8_lossy(head).into_owned(), body)
}

/// At most `BODY_EXCERPT` bytes of a body, masked, on one line (control characters
/// shown as `·`), with its length when cut.
fn excerpt(body: &[u8], mask: &Mask) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    // Masked whole first: a token cut in two by the excerpt would escape the mask.
    let text = mask.text(&String::from_utf8_lossy(body));
    let mut shown: String = text
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .take(BODY_EXCERPT)
        .collect();
    if shown.len() < text.len() {
        let _ = write!(shown, "… ({} bytes in all)", body.len());
    }
    Some(shown)
}

/// The trial as text for the terminal, ending with the outcome line.
pub fn render(t: &Trial) -> String {
    let mut o = String::new();
    let data = match &t.data {
        Some((file, row)) => format!(" (data row {row} of {file})"),
        None => String::new(),
    };
    let _ = writeln!(
        o,
        "stampede try · {} · client {}{data} · {}",
        t.profile, t.client, t.target
    );
    for f in &t.flows {
        let _ = writeln!(o, "\n{}: {} in {}", f.what, f.class, Dur(f.took));
        for s in &f.steps {
            let _ = writeln!(o, "  step `{}`", s.name);
            let _ = writeln!(o, "    → {}", s.request_line);
            for (n, v) in &s.request_headers {
                let _ = writeln!(o, "      {n}: {v}");
            }
            if let Some(b) = &s.request_body {
                let _ = writeln!(o, "      {b}");
            }
            match &s.status_line {
                Some(l) => {
                    let _ = writeln!(o, "    ← {l} ({})", Dur(s.took));
                }
                None => {
                    let _ = writeln!(o, "    ← no answer ({})", Dur(s.took));
                }
            }
            for (n, v) in &s.answer_headers {
                let _ = writeln!(o, "      {n}: {v}");
            }
            if let Some(b) = &s.answer_body {
                let _ = writeln!(o, "      {b}");
            }
            for line in &s.findings {
                let _ = writeln!(o, "    {line}");
            }
        }
        if let Some(why) = &f.why {
            let _ = writeln!(o, "  failed: {why}");
        }
    }
    let verdict = if t.ok() {
        "ok: the flow works; `stampede run` is next"
    } else {
        "FAILED: a storm of this profile would fail the same way"
    };
    let names: Vec<String> = t.flows.iter().map(|f| format!("{} {}", f.what, f.class)).collect();
    let _ = writeln!(o, "\nresult: {verdict} ({})", names.join(" · "));
    o
}
