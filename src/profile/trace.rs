//! Reboot traces: the storm as recorded, one timestamp per line or `t,count` rows.

use std::time::Duration;

use super::limits;
use crate::units::Dur;

/// Reads a trace: one timestamp per line (seconds from the trace's start), or `t,count`
/// rows. `#` starts a comment; a header line whose first field is not a number is
/// skipped. Returns (offset, count) rows, or the first bad line with the reason.
pub fn parse_trace(text: &str) -> Result<Vec<(Duration, f64)>, (usize, String)> {
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let l = line.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let mut fields = l.split(',').map(str::trim);
        let t = fields.next().unwrap_or("");
        let max = *limits::MODELLED.end();
        let t = match t.parse::<f64>() {
            Ok(v) if v.is_finite() && v > max.as_secs_f64() => {
                return Err((
                    line_no,
                    format!(
                        "time `{t}` is beyond {} (365 days), the longest modelled time a trace can use",
                        Dur(max)
                    ),
                ));
            }
            Ok(v) if v.is_finite() && v >= 0.0 => v,
            Ok(_) => return Err((line_no, format!("time `{t}` must be zero or more seconds"))),
            Err(_) if rows.is_empty() && !header_seen => {
                header_seen = true;
                continue;
            }
            Err(_) => return Err((line_no, format!("`{t}` is not a time in seconds"))),
        };
        let count = match fields.next() {
            None => 1.0,
            Some(c) => match c.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => v,
                _ => {
                    return Err((line_no, format!("count `{c}` must be a number, zero or more")));
                }
            },
        };
        if fields.next().is_some() {
            return Err((line_no, "expected `t` or `t,count`".into()));
        }
        rows.push((Duration::from_secs_f64(t), count));
    }
    if rows.is_empty() {
        return Err((1, "the trace has no rows".into()));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_parse_both_forms() {
        assert_eq!(parse_trace("t\n0\n1.5\n").unwrap().len(), 2);
        assert_eq!(
            parse_trace("# comment\n\nt,count\n0,3\n").unwrap(),
            vec![(Duration::ZERO, 3.0)]
        );
        assert_eq!(parse_trace("t\nx\n").unwrap_err().0, 2, "one header only");
        let rows = parse_trace("# counts\n0,10\n60,2.5\n").unwrap();
        assert_eq!(rows[1], (Duration::from_secs(60), 2.5));
        assert_eq!(parse_trace("0,1\nx,2\n").unwrap_err().0, 2);
        assert_eq!(parse_trace("0,-1\n").unwrap_err().0, 1);
    }

    #[test]
    fn times_and_counts_beyond_reason_are_refused() {
        for (text, line) in [
            ("1e300,1\n", 1),
            ("0,1\n1e300\n", 2),
            ("0,1e400\n", 1),
            ("0,inf\n", 1),
            ("t\n0\n1e300,1\n", 3),
        ] {
            let r = std::panic::catch_unwind(|| parse_trace(text)).unwrap_or_else(|_| panic!("{text} panicked"));
            assert_eq!(r.map_err(|e| e.0), Err(line), "{text}");
        }
        let e = parse_trace("0\n31536001\n").unwrap_err();
        assert!(e.1.contains("8760h"), "{e:?}");
        assert!(parse_trace("31536000,1\n").is_ok(), "365 days is the limit");
    }
}
