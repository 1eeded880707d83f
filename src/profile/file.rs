//! The profile file and the files it names (traces, CA certificates), read with a size
//! limit: `trace: /dev/zero` or a FIFO must be refused, not read without end.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{Problem, ProfileError, limits};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the file `{}`: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("`{}` is not a regular file", .0.display())]
    NotRegular(PathBuf),
    #[error("`{}` is larger than {} MiB", path.display(), limit >> 20)]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("`{}` is not UTF-8 text: byte {offset} (line {line}) is not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf, offset: usize, line: usize },
}

/// A regular file of at most `limit` bytes, opened, with a reader that stops one byte
/// past the limit (the file may grow while it is read: the caller checks).
pub fn open_limited(path: &Path, limit: u64) -> Result<io::Take<File>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Looked at before opening: opening a FIFO blocks until someone writes to it.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(ReadError::NotRegular(path.to_path_buf()));
    }
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(path.to_path_buf()));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(file.take(limit + 1))
}

/// The bytes of a regular file of at most `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    open_limited(path, limit)?
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_limited`] as UTF-8 text; bad UTF-8 is placed by byte offset and line.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_limited(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count();
        ReadError::NotUtf8 {
            path: path.to_path_buf(),
            offset,
            line,
        }
    })
}

/// Reads a profile file for [`super::parse`]: a regular file of at most
/// [`limits::PROFILE_BYTES`], UTF-8 (bad bytes placed by offset and line), a leading
/// byte-order mark dropped.
pub fn read_profile(path: &Path) -> Result<String, ProfileError> {
    match read_text(path, limits::PROFILE_BYTES) {
        Ok(text) => Ok(match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_string(),
            None => text,
        }),
        Err(e) => Err(ProfileError {
            file: path.to_path_buf(),
            problems: vec![Problem {
                line: match e {
                    ReadError::NotUtf8 { line, .. } => Some(line),
                    _ => None,
                },
                field: String::new(),
                message: e.to_string(),
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, "0,1\n").unwrap();
        assert_eq!(read_limited(&small, 4).unwrap(), b"0,1\n");
        assert!(matches!(read_limited(&small, 3), Err(ReadError::TooLarge { .. })));
        assert!(matches!(
            read_limited(Path::new("/dev/zero"), 1 << 20),
            Err(ReadError::NotRegular(_))
        ));
        assert!(matches!(
            read_limited(dir.path(), 1 << 20),
            Err(ReadError::NotRegular(_))
        ));
        assert!(matches!(
            read_limited(&dir.path().join("absent"), 1 << 20),
            Err(ReadError::Io { .. })
        ));
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"t\n0\n\xff1\n").unwrap();
        match read_text(&bad, 1 << 20) {
            Err(ReadError::NotUtf8 { offset: 4, line: 3, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_profile_file_is_text_without_its_bom_or_a_placed_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "\u{feff}name: x\n").unwrap();
        assert_eq!(read_profile(&path).unwrap(), "name: x\n");
        std::fs::write(&path, b"name: x\nseed: \xc3\x28\n").unwrap();
        let e = read_profile(&path).unwrap_err();
        assert_eq!(e.problems[0].line, Some(2));
        assert!(e.to_string().contains("byte 14 (line 2)"), "{e}");
        let e = read_profile(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
