//! Hostile profiles made from the shipped ones: a case is a pure function of its
//! number and the run's seed (the crate's own counter-based `rng`), so a failing case
//! is reproduced by its number alone.

use stampede::rng::mix64;

/// A case's draws: (seed, case, k) through SplitMix64.
pub struct Gen {
    state: u64,
}

impl Gen {
    pub fn new(seed: u64, case: u64) -> Gen {
        Gen {
            state: mix64(seed ^ mix64(case)),
        }
    }
    pub fn next(&mut self) -> u64 {
        self.state = mix64(self.state);
        self.state
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Scalars no profile should hold, and some it may: absurd numbers and units, empty and
/// typed YAML, unicode, grammar near-misses.
pub const VALUES: &[&str] = &[
    "1e308",
    "-1",
    "NaN",
    ".nan",
    ".inf",
    "-.inf",
    "99999999999999999999h",
    "0",
    "0s",
    "-0",
    "1e19",
    "1e-300",
    "18446744073709551616",
    "4294967296",
    "4294967295",
    "1_000_000_000",
    "0x10",
    "1e7/s",
    "1e308/1ms",
    "5/0s",
    "1e6/ms",
    "2000/s",
    "-5/s",
    "NaN/s",
    "100%",
    "1000%",
    "-5%",
    "35%",
    "0.35",
    "2d",
    "9999d",
    "1y",
    "168h",
    "169h",
    "1h 30m",
    "1.5s",
    "250ms",
    "1e-9",
    "uniform(1e19)",
    "uniform(30s, 3m)",
    "uniform(3m, 30s)",
    "normal(sd 1e300)",
    "normal(mean -5m, sd 1s)",
    "exponential(-5m)",
    "exponential(0s)",
    "fixed(1e308)",
    "spike",
    "~",
    "null",
    "''",
    "[]",
    "{}",
    "[1, [2, [3]]]",
    "{a: {b: {c: 1}}}",
    "true",
    "é",
    "😀",
    "中文",
    "\u{202e}evil",
    "\u{200f}1s",
    "'\u{feff}'",
    "\"\\u0000\"",
    "\"\\xff\"",
    "POST /login",
    "GET",
    "POST  ",
    "'{{client'",
    "'{{nope}}'",
    "'${UNSET_FUZZ_VAR}'",
    "http://[::1",
    "http://127.0.0.1:0",
    "https://é.example",
    "ftp://x",
    "failover",
    "fresh",
    "reuse",
    "embedded",
    "bug-2007",
    "healthy",
    "poisson",
    "uniform",
    "even",
    "\"recovery_time < 3m\"",
    "\"login.p99 <\"",
    "[\"nonsense > 1\"]",
    "1e15",
    "65535",
    "65536",
    "-9223372036854775808",
];

/// Keys a mutation may add where none was.
const KEYS: &[&str] = &[
    "seed",
    "time_scale",
    "arrivals",
    "rate",
    "duration",
    "window",
    "until_recovered",
    "simulate",
    "clients",
    "share",
    "spread",
    "downtime",
    "timeout",
    "max_in_flight",
    "max_connections",
    "every",
    "base",
    "cap",
    "max_attempts",
    "trace",
    "counts",
    "hold",
    "p99",
    "success_rate",
    "min_requests",
    "capacity",
    "é",
    "😀",
];

/// Hostile trace files, made once per run in a temporary directory (see `traces`).
pub const TRACES: &[&str] = &[
    "rows.csv",
    "negative.csv",
    "nan.csv",
    "huge-count.csv",
    "garbage.bin",
    "empty.csv",
    "fractions.csv",
    "missing.csv",
];

/// Writes the hostile traces into `dir`; `rows.csv` has `rows` timestamps (1e6 in the
/// long run: 6.9 MB).
pub fn traces(dir: &std::path::Path, rows_n: u32) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut rows = String::new();
    for i in 0..rows_n {
        let _ = writeln!(rows, "{}.{:03}", i / 1000, i % 1000);
    }
    std::fs::write(dir.join("rows.csv"), rows)?;
    std::fs::write(dir.join("negative.csv"), "-5,10\n-1e300,1\n0,1\n")?;
    std::fs::write(dir.join("nan.csv"), "NaN,1\n1,NaN\ninf,1\n")?;
    std::fs::write(dir.join("huge-count.csv"), "0,1e300\n1,18446744073709551616\n")?;
    std::fs::write(
        dir.join("garbage.bin"),
        [0xff, 0xfe, 0, 1, 0xc3, 0x28, b'\n', b'1', b',', 0x80],
    )?;
    std::fs::write(dir.join("empty.csv"), "")?;
    let mut fr = String::new();
    for i in 0..10_000u32 {
        let _ = writeln!(fr, "{i},0.001");
    }
    std::fs::write(dir.join("fractions.csv"), fr)
}

/// One hostile variant of `base`: 1 to 4 mutations stacked. Bytes, since some cases
/// are not UTF-8. `heavy` lets valid plans grow to the budget's limit (tens of millions
/// of events: seconds each in a debug build).
pub fn mutate(base: &str, g: &mut Gen, heavy: bool) -> Vec<u8> {
    let mut text = base.to_string();
    let mut bytes = None;
    for _ in 0..1 + g.below(4) {
        match g.below(100) {
            0..=14 => text = delete_line(&text, g),
            15..=39 => text = replace_value(&text, g),
            40..=49 => text = insert_key(&text, g),
            50..=57 => text = swap_type(&text, g),
            58..=63 => text = unicode(&text, g),
            64..=67 => text = deep(&text, g),
            68..=71 => text = alias_bomb(&text, g),
            72..=75 => text = second_document(&text, g),
            76..=83 => text = trace(&text, g),
            84..=89 => text = big_numbers(&text, g, heavy),
            90..=94 => bytes = Some(invalid_utf8(&text, g)),
            _ => text = shuffle_indent(&text, g),
        }
    }
    bytes.unwrap_or_else(|| text.into_bytes())
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn join(lines: Vec<String>) -> String {
    lines.join("\n") + "\n"
}

/// Lines holding `key: value` (not comments).
fn valued(lines: &[String]) -> Vec<usize> {
    (0..lines.len())
        .filter(|&i| {
            let t = lines[i].trim_start();
            !t.starts_with('#') && t.contains(": ")
        })
        .collect()
}

fn delete_line(text: &str, g: &mut Gen) -> String {
    let mut l = lines(text);
    if !l.is_empty() {
        l.remove(g.below(l.len()));
    }
    join(l)
}

/// A scalar after some `key: ` replaced: the last `: ` of a line holding one, so flow
/// mappings get their inner values hit too.
fn replace_value(text: &str, g: &mut Gen) -> String {
    let mut l = lines(text);
    let v = valued(&l);
    if v.is_empty() {
        return text.to_string();
    }
    let i = *g.pick(&v);
    let line = &l[i];
    let colons: Vec<usize> = line.match_indices(": ").map(|(p, _)| p).collect();
    let at = *g.pick(&colons) + 2;
    let rest = &line[at..];
    // The value runs to the next `,` or `}` in a flow mapping, else to the line's end.
    let end = rest.find([',', '}', ']']).map(|e| at + e).unwrap_or(line.len());
    let value = g.pick(VALUES);
    l[i] = format!("{}{}{}", &line[..at], value, &line[end..]);
    join(l)
}

fn insert_key(text: &str, g: &mut Gen) -> String {
    let mut l = lines(text);
    let i = g.below(l.len() + 1);
    let indent = if i < l.len() {
        l[i].len() - l[i].trim_start().len()
    } else {
        0
    };
    let entry = format!("{}{}: {}", " ".repeat(indent), g.pick(KEYS), g.pick(VALUES));
    l.insert(i, entry);
    join(l)
}

/// A value turned into another type: a sequence, a mapping, a number, a string.
fn swap_type(text: &str, g: &mut Gen) -> String {
    let mut l = lines(text);
    let v = valued(&l);
    if v.is_empty() {
        return text.to_string();
    }
    let i = *g.pick(&v);
    let (key, value) = l[i]
        .split_once(": ")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .unwrap();
    let swapped = match g.below(5) {
        0 => format!("[{value}]"),
        1 => format!("{{ x: {value} }}"),
        2 => "12345".to_string(),
        3 => format!("'{}'", value.replace('\'', "")),
        _ => format!("[[{value}], {{}}]"),
    };
    l[i] = format!("{key}: {swapped}");
    join(l)
}

fn unicode(text: &str, g: &mut Gen) -> String {
    let marks = [
        "é", "😀", "中", "\u{feff}", "\u{200f}", "\u{202e}", "\u{0}", "\u{85}", "\u{2028}", "ǅ",
    ];
    let m = g.pick(&marks);
    match g.below(3) {
        0 => format!("{m}{text}"),
        1 => {
            // At a char boundary inside the text.
            let mut at = g.below(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            format!("{}{m}{}", &text[..at], &text[at..])
        }
        _ => text.replace("name: ", &format!("name: {m}")),
    }
}

fn deep(text: &str, g: &mut Gen) -> String {
    let n = [1, 10, 63, 64, 65, 200, 5_000][g.below(7)];
    let nest = match g.below(3) {
        0 => format!("{}1{}", "[".repeat(n), "]".repeat(n)),
        1 => format!("{}1{}", "{a: ".repeat(n), "}".repeat(n)),
        _ => {
            let mut s = String::from("\n");
            for d in 0..n.min(300) {
                s.push_str(&format!("{}- \n", "  ".repeat(d)));
            }
            s
        }
    };
    let key = g.pick(&["x", "storm", "client", "baseline", "gate", "target"]);
    format!("{text}{key}: {nest}\n")
}

fn alias_bomb(text: &str, g: &mut Gen) -> String {
    let levels = 1 + g.below(10);
    let width = 2 + g.below(9);
    let mut s = String::from("bomb0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..levels {
        let refs = vec![format!("*b{}", i - 1); width].join(", ");
        s.push_str(&format!("bomb{i}: &b{i} [{refs}]\n"));
    }
    let last = format!("*b{}", levels - 1);
    let tail = match g.below(3) {
        0 => format!("target: {{ overlay: {last} }}\n"),
        1 => format!("gate: {last}\n"),
        _ => String::new(),
    };
    format!("{s}{text}{tail}")
}

fn second_document(text: &str, g: &mut Gen) -> String {
    match g.below(3) {
        0 => format!("{text}---\n{text}"),
        1 => format!("---\n{text}...\n"),
        _ => format!("{text}---\n"),
    }
}

fn trace(text: &str, g: &mut Gen) -> String {
    let file = g.pick(TRACES);
    let spec = match g.below(3) {
        0 => file.to_string(),
        1 => format!("{{ file: {file}, counts: simulated }}"),
        _ => format!("{{ file: {file}, counts: modelled }}"),
    };
    // Drop the waves' lines so that the trace is the storm's only source, sometimes.
    let drop = g.chance(70);
    let mut out = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim_start();
        if drop && t.starts_with("waves:") {
            skipping = true;
            out.push(line.replace(t, &format!("trace: {spec}")));
            continue;
        }
        if skipping && t.starts_with("- ") {
            continue;
        }
        skipping = false;
        out.push(line.to_string());
    }
    if !drop {
        out.push(format!("storm: {{ trace: {spec} }}"));
    }
    join(out)
}

/// The fields that size a plan, at absurd or merely large values.
fn big_numbers(text: &str, g: &mut Gen, heavy: bool) -> String {
    let rates = if heavy {
        ["1e7/s", "1e9/s", "2e6/s", "5e5/s", "1e308/s"]
    } else {
        ["1e7/s", "1e9/s", "2e4/s", "5e3/s", "1e308/s"]
    };
    let edits = [
        ("rate: ", rates),
        (
            "simulate: ",
            ["50000000", "50000001", "4294967295", "30_000_000", "25000000"],
        ),
        // 27 h at 20/s is two million events: in the light corpus, 2 h.
        (
            "until_recovered: ",
            ["168h", "1000000h", if heavy { "27h" } else { "2h" }, "1e12", "100h"],
        ),
        ("window: ", ["10ms", "1ms", "1h", "9ms", "0s"]),
        ("time_scale: ", ["1e-9", "0.001", "1e6", "1e-3", "-1"]),
        ("duration: ", ["168h", "1e19", "100h", "-1s", "0s"]),
    ];
    let (key, values) = g.pick(&edits);
    let value = g.pick(values);
    let mut done = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if !done && let Some(at) = line.find(key) {
            let start = at + key.len();
            let end = line[start..].find([',', '}']).map(|e| start + e).unwrap_or(line.len());
            out.push(format!("{}{}{}", &line[..start], value, &line[end..]));
            done = true;
        } else {
            out.push(line.to_string());
        }
    }
    if !done {
        out.push(format!("{}{}", key.replace(": ", ": { x: 1 }\n# "), value));
    }
    join(out)
}

fn invalid_utf8(text: &str, g: &mut Gen) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    let bad: &[&[u8]] = &[
        b"\xff",
        b"\xc3\x28",
        b"\xe2\x82",
        b"\xf0\x28\x8c\xbc",
        b"\x80",
        b"\xed\xa0\x80",
    ];
    let at = g.below(b.len() + 1);
    let junk = g.pick(bad);
    b.splice(at..at, junk.iter().copied());
    b
}

/// A line's indent moved by one or two spaces: structure that no longer lines up.
fn shuffle_indent(text: &str, g: &mut Gen) -> String {
    let mut l = lines(text);
    if l.is_empty() {
        return text.to_string();
    }
    let i = g.below(l.len());
    l[i] = if g.chance(50) {
        format!("{}{}", " ".repeat(1 + g.below(2)), l[i])
    } else {
        l[i].trim_start().to_string()
    };
    join(l)
}
