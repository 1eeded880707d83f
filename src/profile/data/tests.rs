use super::*;

fn rows(d: &DataFile) -> Vec<Vec<String>> {
    (0..d.rows as u64)
        .map(|i| d.row(i).map(str::to_string).collect())
        .collect()
}

#[test]
fn reads_a_header_and_rows_or_places_the_problem() {
    let d = parse_csv("x.csv", "username,password\nann,pw1\nbob,\"p,w\"\"\"\n", None).unwrap();
    assert_eq!(d.columns, vec!["username", "password"]);
    assert_eq!(rows(&d)[1], vec!["bob".to_string(), "p,w\"".to_string()]);
    let e = parse_csv("x.csv", "username,password\nann,pw1\nbob\n", None).unwrap_err();
    assert!(
        e.starts_with("line 3:") && e.contains("1 fields where the header has 2"),
        "{e}"
    );
    assert!(parse_csv("x.csv", "username\n", None).unwrap_err().contains("no row"));
    assert!(
        parse_csv("x.csv", "a,a\n1,2\n", None)
            .unwrap_err()
            .contains("two columns")
    );
    assert!(parse_csv("x.csv", "", None).is_err());
}

/// A file that is not a data file (`/etc/passwd`, a credentials store, the process's
/// environment) is refused without a byte of it in the message.
#[test]
fn a_header_that_names_no_columns_is_never_echoed() {
    for text in [
        "root:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/:\n",
        "https://user:hunter2@github.com\n",
        "PATH=/usr/bin\0HOME=/root\0SECRET=hunter2\0\n",
        "user,pass word\nann,x\n",
        "user,{{x}}\nann,x\n",
        "1user,pass\nann,x\n",
    ] {
        let e = parse_csv("x.csv", text, None).unwrap_err();
        for secret in ["root", "hunter2", "github", "PATH", "pass word", "{{x}}", "1user"] {
            assert!(!e.contains(secret), "{text:?} echoed `{secret}`: {e}");
        }
        assert!(e.starts_with("line 1:"), "{e}");
    }
    let long = format!("{},b\n1,2\n", "a".repeat(MAX_NAME + 1));
    assert!(
        parse_csv("x.csv", &long, None)
            .unwrap_err()
            .contains("column 1 has no usable name")
    );
}

/// 100,000 columns took 13.5 s to check for duplicates (quadratic); now refused by count
/// at once, and a full header of distinct names is checked in linear time.
#[test]
fn a_header_of_many_columns_is_refused_at_once() {
    let names: Vec<String> = (0..1_000_000).map(|i| format!("c{i}")).collect();
    let text = format!("{}\n", names.join(","));
    let t = std::time::Instant::now();
    let e = parse_csv("x.csv", &text, None).unwrap_err();
    assert!(e.contains("1000000 columns") && e.contains("at most 256"), "{e}");
    let full = format!(
        "{}\n{}\n",
        names[..MAX_COLUMNS].join(","),
        vec!["v"; MAX_COLUMNS].join(",")
    );
    assert_eq!(parse_csv("x.csv", &full, None).unwrap().columns.len(), MAX_COLUMNS);
    assert!(t.elapsed() < std::time::Duration::from_secs(3), "{:?}", t.elapsed());
}

/// Rows are one buffer and offsets: a file of tiny rows takes about its own size,
/// where a string per value took 46–75 times it.
#[test]
fn rows_take_about_the_files_size() {
    let mut text = String::from("u,p\n");
    for i in 0..200_000 {
        text.push_str(&format!("{i},x\n"));
    }
    let d = parse_csv("x.csv", &text, None).unwrap();
    assert_eq!((d.rows, d.kept()), (200_000, 200_000));
    assert!(
        d.heap_bytes() <= 2 * text.len(),
        "{} for a {}-byte file",
        d.heap_bytes(),
        text.len()
    );
    assert_eq!(d.row(199_999).collect::<Vec<_>>(), ["199999", "x"]);
}

#[test]
fn rows_beyond_the_runs_clients_are_not_kept() {
    let mut d = parse_csv("x.csv", "u\na\nb\nc\nd\ne\n", None).unwrap();
    let before = d.heap_bytes();
    d.keep(2);
    assert_eq!((d.rows, d.kept()), (5, 2));
    assert!(d.heap_bytes() < before);
    assert_eq!((d.row(0).next(), d.row(1).next()), (Some("a"), Some("b")));
    d.keep(10);
    assert_eq!(d.kept(), 2, "never grows back");
}

#[test]
fn clients_take_rows_round_and_a_shuffle_is_seeded() {
    let text = "u\na\nb\nc\nd\ne\n";
    let d = parse_csv("x.csv", text, None).unwrap();
    assert_eq!((d.row(0).next(), d.row(6).next()), (Some("a"), Some("b")));
    let a = rows(&parse_csv("x.csv", text, Some(7)).unwrap());
    let b = rows(&parse_csv("x.csv", text, Some(7)).unwrap());
    let c = rows(&parse_csv("x.csv", text, Some(8)).unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, rows(&d), "a permutation: every row once");
    assert!(format!("{d:?}").contains("rows: 5") && !format!("{d:?}").contains("\"a\""));
}
