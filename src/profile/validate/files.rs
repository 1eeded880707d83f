//! The files a profile names (`client.data`, `storm.trace`, `target.tls.ca`) follow
//! one folder rule: the profile's own folder (or below it), or a folder the operator
//! named in `STAMPEDE_DATA_DIRS`. A profile from a pull request, run by CI, must not
//! make the runner read (and echo) its secrets.

use std::path::{Path, PathBuf};

use super::Validator;

/// The environment variable naming folders beyond the profile's own that the files a
/// profile names may be read from: the operator's permission, which a profile cannot
/// give itself.
pub const DATA_DIRS: &str = "STAMPEDE_DATA_DIRS";

impl Validator<'_> {
    /// The path of `file`, as `field` names it (relative to the profile), if the folder
    /// rule allows it; else a problem at `field` that says so (`what`: "data files").
    pub(super) fn named_file(&mut self, field: &str, file: &str, what: &str) -> Option<PathBuf> {
        let path = self.dir.join(file);
        match self.allowed(&path) {
            true => Some(path),
            false => {
                self.err(
                    field,
                    format!(
                        "`{}` is outside the profile's folder: a profile may only name {what} beside it or below it; \
                         to read it from there, name its folder in ${DATA_DIRS} (`:`-separated)",
                        path.display()
                    ),
                );
                None
            }
        }
    }

    /// Inside the profile's folder or one of `STAMPEDE_DATA_DIRS`, links followed. A
    /// path that does not resolve (absent, unreadable) passes: its read says so.
    fn allowed(&self, path: &Path) -> bool {
        let Ok(real) = path.canonicalize() else {
            return true;
        };
        let mut dirs = vec![self.dir.clone()];
        if let Some(list) = (self.env)(DATA_DIRS) {
            dirs.extend(list.split(':').filter(|d| !d.is_empty()).map(PathBuf::from));
        }
        dirs.iter()
            .filter_map(|d| d.canonicalize().ok())
            .any(|d| real.starts_with(d))
    }
}
