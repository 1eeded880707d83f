//! `client.data`: a CSV file with a header row whose columns are template variables
//! (`{{data.username}}`); virtual client N takes row N mod rows, in file order or
//! shuffled once by the profile's seed. Values go on the wire only: the report keeps
//! the file's name and row count.

use std::sync::Arc;

use crate::rng::mix64;

/// The rows of a data file, as the run hands them to clients.
#[derive(Clone)]
pub struct DataFile {
    /// As written in the profile (the report's name for it).
    pub file: String,
    pub columns: Vec<String>,
    pub rows: Arc<[Row]>,
}

impl std::fmt::Debug for DataFile {
    /// Names and counts only: a row holds credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFile")
            .field("file", &self.file)
            .field("columns", &self.columns)
            .field("rows", &self.rows.len())
            .finish()
    }
}

impl DataFile {
    /// The row of virtual client `client`.
    pub fn row(&self, client: u64) -> &[String] {
        &self.rows[(client % self.rows.len() as u64) as usize]
    }
}

/// One row's values, in column order.
pub type Row = Box<[String]>;

/// Parses CSV `text` with a header row into (columns, rows). Errors name the file's line.
pub fn parse_csv(text: &str) -> Result<(Vec<String>, Vec<Row>), String> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let line = |e: &csv::Error| e.position().map_or(1, |p| p.line());
    let columns: Vec<String> = match r.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_string()).collect(),
        Err(e) => return Err(format!("line {}: {e}", line(&e))),
    };
    if columns.iter().all(String::is_empty) {
        return Err("line 1: the header row is empty: name the columns, e.g. `username,password`".into());
    }
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() || c.contains(['{', '}']) {
            return Err(format!("line 1: column {} has no usable name", i + 1));
        }
        if columns[..i].contains(c) {
            return Err(format!("line 1: `{c}` names two columns"));
        }
    }
    let mut rows = Vec::new();
    for rec in r.records() {
        match rec {
            Ok(rec) => rows.push(rec.iter().map(str::to_string).collect()),
            // csv's message says which record and how many fields, never a value.
            Err(e) => return Err(format!("line {}: {e}", line(&e))),
        }
    }
    if rows.is_empty() {
        return Err("no row below the header".into());
    }
    Ok((columns, rows))
}

/// Shuffles rows once, by the profile's seed (Fisher–Yates on counter-based draws:
/// the same seed gives the same order on every machine).
pub fn shuffle(rows: &mut [Row], seed: u64) {
    const DOMAIN: u64 = 0xDA7A_F11E;
    for i in (1..rows.len()).rev() {
        let j = (mix64(mix64(seed ^ DOMAIN) ^ i as u64) % (i as u64 + 1)) as usize;
        rows.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_header_and_rows_or_places_the_problem() {
        let (c, r) = parse_csv("username,password\nann,pw1\nbob,\"p,w\"\n").unwrap();
        assert_eq!(c, vec!["username", "password"]);
        assert_eq!(&*r[1], &["bob".to_string(), "p,w".to_string()]);
        let e = parse_csv("username,password\nann,pw1\nbob\n").unwrap_err();
        assert!(e.starts_with("line 3:"), "{e}");
        assert!(parse_csv("username\n").unwrap_err().contains("no row"));
        assert!(parse_csv("a,a\n1,2\n").unwrap_err().contains("two columns"));
        assert!(parse_csv("").is_err());
    }

    #[test]
    fn clients_take_rows_round_and_a_shuffle_is_seeded() {
        let (columns, rows) = parse_csv("u\na\nb\nc\nd\ne\n").unwrap();
        let d = DataFile {
            file: "x.csv".into(),
            columns,
            rows: rows.clone().into(),
        };
        assert_eq!((d.row(0)[0].as_str(), d.row(6)[0].as_str()), ("a", "b"));
        let (mut a, mut b, mut c) = (rows.clone(), rows.clone(), rows);
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        shuffle(&mut c, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted.len(), 5, "a permutation: every row once");
        assert!(format!("{d:?}").contains("rows: 5") && !format!("{d:?}").contains("\"a\""));
    }
}
