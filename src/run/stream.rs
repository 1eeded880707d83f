//! `--stream FILE|-`: one JSON line per closed window (the `Window` objects of
//! report.json's `windows`), flushed per line, for a pipe. Windows closed during the
//! run go out as they close; the last ones, which close only when the run ends, go out
//! from the finished report, so every window of the report is streamed exactly once.

use std::io::Write;

use crate::record::Window;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("--stream: cannot write window {index}: {source}")]
    Write { index: u32, source: std::io::Error },
    #[error("--stream: cannot encode window {index}: {source}")]
    Encode { index: u32, source: serde_json::Error },
}

pub struct Stream {
    out: Box<dyn Write + Send>,
    /// The index of the next window to write: a window is written once.
    next: u32,
    /// The first failure; nothing more is written after it (a closed pipe stays closed).
    failed: Option<StreamError>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("next", &self.next).finish()
    }
}

impl Stream {
    pub fn new(out: Box<dyn Write + Send>) -> Stream {
        Stream {
            out,
            next: 0,
            failed: None,
        }
    }

    /// Writes a closed window, unless it was written already or the stream failed.
    pub fn window(&mut self, w: &Window) {
        if self.failed.is_some() || w.index < self.next {
            return;
        }
        let index = w.index;
        let mut line = match serde_json::to_vec(w) {
            Ok(l) => l,
            Err(source) => {
                self.failed = Some(StreamError::Encode { index, source });
                return;
            }
        };
        line.push(b'\n');
        match self.out.write_all(&line).and_then(|()| self.out.flush()) {
            Ok(()) => self.next = index + 1,
            Err(source) => self.failed = Some(StreamError::Write { index, source }),
        }
    }

    /// Writes the windows not yet written (those that closed as the run ended) and says
    /// whether every window went out.
    pub fn finish(&mut self, windows: &[Window]) -> Result<(), StreamError> {
        for w in windows {
            self.window(w);
        }
        self.failed.take().map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn win(index: u32) -> Window {
        Window {
            index,
            start_ms: index as u64 * 1000,
            len_ms: 1000,
            ..Window::default()
        }
    }

    #[test]
    fn each_window_goes_out_once_as_one_json_line() {
        let buf = Shared::default();
        let mut s = Stream::new(Box::new(buf.clone()));
        s.window(&win(0));
        s.window(&win(1));
        s.window(&win(1));
        s.finish(&[win(0), win(1), win(2)]).unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let back: Vec<Window> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(back, vec![win(0), win(1), win(2)]);
    }

    #[test]
    fn a_closed_pipe_is_reported_once_with_the_window() {
        let mut s = Stream::new(Box::new(Closed));
        s.window(&win(0));
        let e = s.finish(&[win(0), win(1)]).unwrap_err();
        assert!(e.to_string().contains("cannot write window 0"), "{e}");
    }
}
