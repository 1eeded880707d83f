//! `client.data`: a CSV file with a header row whose columns are template variables
//! (`{{data.username}}`); virtual client N takes row N mod rows, in file order or
//! shuffled once by the profile's seed. Values go on the wire only: the report keeps
//! the file's name and row count.
//!
//! The file is named by a profile, which may come from someone else (a pull request run
//! by CI): nothing of it is echoed until its header has proved to be a list of column
//! names, and its rows are held as one buffer and offsets (a row of two short values is
//! 8 bytes of offsets beside its text), only as many as the run has clients.

use std::collections::HashSet;
use std::sync::Arc;

use crate::rng::mix64;

/// Columns a data file may have: credentials take two or three.
pub const MAX_COLUMNS: usize = 256;
/// The longest column name.
pub const MAX_NAME: usize = 64;

/// The rows of a data file, as the run hands them to clients.
#[derive(Clone)]
pub struct DataFile {
    /// As written in the profile (the report's name for it).
    pub file: String,
    pub columns: Vec<String>,
    /// Rows in the file: client N takes row N mod `rows`.
    pub rows: usize,
    /// The kept rows' values, one after the other, in the order clients take them.
    values: Arc<str>,
    /// Where each kept value ends in `values`: `columns.len()` per kept row.
    ends: Arc<[u32]>,
}

impl std::fmt::Debug for DataFile {
    /// Names and counts only: a row holds credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFile")
            .field("file", &self.file)
            .field("columns", &self.columns)
            .field("rows", &self.rows)
            .field("kept", &self.kept())
            .finish()
    }
}

impl DataFile {
    /// Rows held: at most as many as the run can have clients.
    pub fn kept(&self) -> usize {
        self.ends.len() / self.columns.len().max(1)
    }

    /// The values of virtual client `client`'s row, in column order.
    pub fn row(&self, client: u64) -> impl Iterator<Item = &str> {
        let kept = self.kept().max(1) as u64;
        let mut i = client % self.rows.max(1) as u64;
        // Only a client beyond the run's bound (a background count far over its
        // expectation) lands past the kept rows.
        if i >= kept {
            i %= kept;
        }
        let n = self.columns.len();
        let first = i as usize * n;
        (first..first + n).map(move |k| {
            let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
            &self.values[start..self.ends[k] as usize]
        })
    }

    /// Bytes the rows hold: their values' text and 4 bytes of offset per value.
    pub fn heap_bytes(&self) -> usize {
        self.values.len() + 4 * self.ends.len()
    }

    /// Keeps only the first `clients` rows (the run's clients never take the others).
    pub fn keep(&mut self, clients: u64) {
        let kept = self.kept() as u64;
        if clients >= kept {
            return;
        }
        let fields = clients as usize * self.columns.len();
        let end = if fields == 0 { 0 } else { self.ends[fields - 1] as usize };
        self.values = self.values[..end].into();
        self.ends = self.ends[..fields].into();
    }
}

/// Is `c` usable as a column name (and so safe to echo)? Letters, digits, `_` and `-`,
/// starting with a letter or `_`, at most [`MAX_NAME`] bytes.
fn is_name(c: &str) -> bool {
    let mut b = c.bytes();
    c.len() <= MAX_NAME
        && b.next().is_some_and(|f| f.is_ascii_alphabetic() || f == b'_')
        && b.all(|x| x.is_ascii_alphanumeric() || x == b'_' || x == b'-')
}

/// Parses CSV `text` with a header row into a [`DataFile`] named `file`, its rows in
/// file order, or shuffled by `seed`. Errors name the file's line, and never quote the
/// file: a header that is not a list of column names is said to be so, not shown.
pub fn parse_csv(file: &str, text: &str, shuffled: Option<u64>) -> Result<DataFile, String> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let line = |e: &csv::Error| e.position().map_or(1, |p| p.line());
    let header = match r.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(format!("line {}: the header row is not CSV: {}", line(&e), kind(&e))),
    };
    if header.len() > MAX_COLUMNS {
        return Err(format!(
            "line 1: {} columns; a data file has at most {MAX_COLUMNS} (is this the file you meant?)",
            header.len()
        ));
    }
    let columns: Vec<String> = header.iter().map(|c| c.trim().to_string()).collect();
    if columns.iter().all(String::is_empty) {
        return Err("line 1: the header row is empty: name the columns, e.g. `username,password`".into());
    }
    if let Some(i) = columns.iter().position(|c| !is_name(c)) {
        return Err(format!(
            "line 1: column {} has no usable name (letters, digits, `_` and `-`, starting with a letter or `_`, \
             at most {MAX_NAME}): the header row must name the columns, e.g. `username,password` (is this the file you meant?)",
            i + 1
        ));
    }
    let mut seen = HashSet::with_capacity(columns.len());
    for c in &columns {
        if !seen.insert(c.as_str()) {
            return Err(format!("line 1: `{c}` names two columns"));
        }
    }
    let mut values = String::new();
    let mut ends: Vec<u32> = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match r.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                for v in rec.iter() {
                    values.push_str(v);
                    // The text is at most `limits::DATA_BYTES` (64 MiB): it fits.
                    ends.push(u32::try_from(values.len()).map_err(|_| "the data file is too large".to_string())?);
                }
            }
            // csv's message says which record and how many fields, never a value.
            Err(e) => return Err(format!("line {}: {}", line(&e), kind(&e))),
        }
    }
    let n = columns.len();
    let rows = ends.len() / n;
    if rows == 0 {
        return Err("no row below the header".into());
    }
    let mut d = DataFile {
        file: file.to_string(),
        columns,
        rows,
        values: values.into(),
        ends: ends.into(),
    };
    if let Some(seed) = shuffled {
        d = d.reordered(&shuffle_order(rows, seed));
    }
    Ok(d)
}

/// A csv error in words that hold no part of the file.
fn kind(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
        _ => "not CSV".into(),
    }
}

impl DataFile {
    /// The rows in `order` (indices of the current rows), rebuilt into a new buffer.
    fn reordered(&self, order: &[u32]) -> DataFile {
        let mut values = String::with_capacity(self.values.len());
        let mut ends = Vec::with_capacity(self.ends.len());
        for &row in order {
            for v in self.row(u64::from(row)) {
                values.push_str(v);
                ends.push(values.len() as u32);
            }
        }
        DataFile {
            values: values.into(),
            ends: ends.into(),
            ..self.clone()
        }
    }
}

/// A permutation of `rows` row indices, by the profile's seed (Fisher–Yates on
/// counter-based draws: the same seed gives the same order on every machine).
pub fn shuffle_order(rows: usize, seed: u64) -> Vec<u32> {
    const DOMAIN: u64 = 0xDA7A_F11E;
    let mut order: Vec<u32> = (0..rows as u32).collect();
    for i in (1..rows).rev() {
        let j = (mix64(mix64(seed ^ DOMAIN) ^ i as u64) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests;
