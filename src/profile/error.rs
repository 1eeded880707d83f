//! What is wrong with a profile: every problem, each with its line and field.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// One problem in a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

/// Everything wrong with one profile file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ProfileError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{}: {} problem{}",
            self.file.display(),
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            let at = match p.line {
                Some(l) => format!("{}:{}", self.file.display(), l),
                None => self.file.display().to_string(),
            };
            if p.field.is_empty() {
                writeln!(f, "  {at}: {}", p.message)?;
            } else {
                writeln!(f, "  {at}: {}: {}", p.field, p.message)?;
            }
        }
        Ok(())
    }
}
