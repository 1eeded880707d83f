//! `--stream FILE|-`: one JSON line per closed window (the `Window` objects of
//! report.json's `windows`), flushed per line, for a pipe. Windows closed during the
//! run go out as they close; the last ones, which close only when the run ends, go out
//! from the finished report, so every window of the report is streamed exactly once.
//! Each line also names the protocol that ran (`"protocol": "h2c"`), once the
//! transport knows it, so a consumer of the stream alone can tell an HTTP/2 run.

use std::io::Write;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::record::Window;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("--stream: cannot write window {index}: {source}")]
    Write { index: u32, source: std::io::Error },
    #[error("--stream: cannot encode window {index}: {source}")]
    Encode { index: u32, source: serde_json::Error },
    #[error("--stream: cannot start its writer: {0}")]
    Start(std::io::Error),
    #[error("--stream: its writer stopped without a result")]
    Lost,
}

/// Writes on a thread of its own: a slow reader at the end of a pipe must hold up the
/// writer, never the engine (on one engine thread, windows are announced from its loop).
pub struct Stream {
    lines: Option<mpsc::Sender<(u32, Vec<u8>)>>,
    writer: Option<JoinHandle<Result<(), StreamError>>>,
    /// The index of the next window to write: a window is written once.
    next: u32,
    /// A window that could not be encoded; nothing more is sent after it.
    failed: Option<StreamError>,
    /// The protocol the run speaks (`http/1.1`, `h2`, `h2c`), set when the transport
    /// is up: every window comes after that.
    protocol: Option<&'static str>,
}

/// One line: the window's fields, and the protocol beside them.
#[derive(serde::Serialize)]
struct Line<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
    #[serde(flatten)]
    window: &'a Window,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("next", &self.next).finish()
    }
}

impl Stream {
    pub fn new(mut out: Box<dyn Write + Send>) -> Result<Stream, StreamError> {
        let (tx, rx) = mpsc::channel::<(u32, Vec<u8>)>();
        let writer = std::thread::Builder::new()
            .name("stampede-stream".into())
            .spawn(move || {
                // The first failure ends the writing (a closed pipe stays closed); the
                // lines still sent are dropped.
                for (index, line) in rx {
                    out.write_all(&line)
                        .and_then(|()| out.flush())
                        .map_err(|source| StreamError::Write { index, source })?;
                }
                Ok(())
            })
            .map_err(StreamError::Start)?;
        Ok(Stream {
            lines: Some(tx),
            writer: Some(writer),
            next: 0,
            failed: None,
            protocol: None,
        })
    }

    /// Names the protocol on every line from now on.
    pub fn set_protocol(&mut self, protocol: &'static str) {
        self.protocol = Some(protocol);
    }

    /// Hands a closed window to the writer, unless it was written already.
    pub fn window(&mut self, w: &Window) {
        if self.failed.is_some() || w.index < self.next {
            return;
        }
        let index = w.index;
        let mut line = match serde_json::to_vec(&Line {
            protocol: self.protocol,
            window: w,
        }) {
            Ok(l) => l,
            Err(source) => {
                self.failed = Some(StreamError::Encode { index, source });
                return;
            }
        };
        line.push(b'\n');
        self.next = index + 1;
        if let Some(tx) = &self.lines {
            // A send fails only when the writer ended on an error, which finish reports.
            let _ = tx.send((index, line));
        }
    }

    /// Writes the windows not yet written (those that closed as the run ended), waits
    /// for the writer, and says whether every window went out.
    pub fn finish(&mut self, windows: &[Window]) -> Result<(), StreamError> {
        for w in windows {
            self.window(w);
        }
        self.lines = None;
        let written = match self.writer.take() {
            Some(j) => j.join().unwrap_or(Err(StreamError::Lost)),
            None => Ok(()),
        };
        match self.failed.take() {
            Some(e) => Err(e),
            None => written,
        }
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
        let mut s = Stream::new(Box::new(buf.clone())).unwrap();
        s.window(&win(0));
        s.window(&win(1));
        s.window(&win(1));
        s.finish(&[win(0), win(1), win(2)]).unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let back: Vec<Window> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(back, vec![win(0), win(1), win(2)]);
        assert!(
            !text.contains("protocol"),
            "none named before the transport is up: {text}"
        );
    }

    #[test]
    fn each_line_names_the_protocol_once_it_is_known() {
        let buf = Shared::default();
        let mut s = Stream::new(Box::new(buf.clone())).unwrap();
        s.set_protocol("h2c");
        s.finish(&[win(0), win(1)]).unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        for (i, l) in text.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["protocol"], "h2c", "{l}");
            assert_eq!(v["index"], i as u64, "{l}");
            // Still a window for a reader that knows only windows.
            assert_eq!(serde_json::from_value::<Window>(v).unwrap(), win(i as u32));
        }
    }

    #[test]
    fn a_closed_pipe_is_reported_once_with_the_window() {
        let mut s = Stream::new(Box::new(Closed)).unwrap();
        s.window(&win(0));
        let e = s.finish(&[win(0), win(1)]).unwrap_err();
        assert!(e.to_string().contains("cannot write window 0"), "{e}");
    }
}
