//! nginx (the Debian package `nginx-light`, which `.ci/run` installs) serving HTTP/2 on
//! loopback: h2c with prior knowledge on one port and TLS with ALPN h2 (a self-signed
//! certificate for `localhost` and 127.0.0.1) on another, each answering every request
//! 200 `{"access_token":"t"}`. Its own prefix folder, config and pid file, so that
//! `reload()` (`nginx -s reload`: new workers, and the old ones send GOAWAY to their
//! connections) touches this instance only. Dropped, it stops.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const LOGIN_BODY: &str = r#"{"access_token":"t"}"#;

pub struct Nginx {
    /// h2c (prior knowledge).
    pub h2c: SocketAddr,
    /// TLS, ALPN h2.
    pub tls: SocketAddr,
    /// The TLS certificate (DER), for a client's root store.
    pub cert_der: Vec<u8>,
    pub version: (u32, u32, u32),
    bin: PathBuf,
    dir: tempfile::TempDir,
}

/// nginx on PATH, or where Debian puts it (a non-root PATH may lack /usr/sbin).
pub fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from))
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

/// `nginx -v` → (1, 22, 1).
pub fn version(bin: &Path) -> (u32, u32, u32) {
    let out = Command::new(bin).arg("-v").output().expect("nginx -v");
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    let v = text
        .split("nginx/")
        .nth(1)
        .unwrap_or_else(|| panic!("nginx -v said {text:?}"));
    let mut n = v.split(|c: char| !c.is_ascii_digit()).map(|x| x.parse().unwrap_or(0));
    (n.next().unwrap_or(0), n.next().unwrap_or(0), n.next().unwrap_or(0))
}

/// The `listen` lines and the `http2` switch for this version: `listen … http2` before
/// 1.25.1, `http2 on;` from it on (the old form is deprecated there).
pub fn listen_directives(version: (u32, u32, u32), h2c: u16, tls: u16) -> String {
    if version >= (1, 25, 1) {
        format!("listen 127.0.0.1:{h2c};\n    listen 127.0.0.1:{tls} ssl;\n    http2 on;")
    } else {
        format!("listen 127.0.0.1:{h2c} http2;\n    listen 127.0.0.1:{tls} ssl http2;")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Nginx {
    /// Starts an instance; panics, saying how to install nginx, when there is none.
    pub fn start() -> Nginx {
        let bin = binary().expect(
            "nginx is not installed: `apt-get install nginx-light` (the README's test command, .ci/run, installs it)",
        );
        let version = version(&bin);
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        // A port taken between our look and nginx's bind: try again with others.
        for _ in 0..5 {
            let (h2c, tls) = (free_port(), free_port());
            let d = dir.path().display();
            let conf = format!(
                "worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log notice;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    {listen}
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    location / {{
      default_type application/json;
      return 200 '{LOGIN_BODY}';
    }}
  }}
}}
",
                listen = listen_directives(version, h2c, tls)
            );
            std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
            let out = command(&bin, dir.path(), &[]).output().unwrap();
            let why = String::from_utf8_lossy(&out.stderr).to_string();
            if !out.status.success() && why.contains("in use") {
                continue;
            }
            let nginx = Nginx {
                h2c: SocketAddr::from(([127, 0, 0, 1], h2c)),
                tls: SocketAddr::from(([127, 0, 0, 1], tls)),
                cert_der: cert.cert.der().to_vec(),
                version,
                bin,
                dir,
            };
            assert!(
                out.status.success(),
                "nginx {version:?} did not start: {why}\n{}",
                nginx.log()
            );
            nginx.wait_listening();
            return nginx;
        }
        panic!("nginx found no free pair of ports in 5 tries");
    }

    /// The folder nginx runs in (`-p`), its `nginx.conf` inside: what an action that
    /// reloads it names.
    #[allow(dead_code)]
    pub fn prefix(&self) -> &Path {
        self.dir.path()
    }

    /// The nginx binary's folder, for a PATH on which an action finds `nginx`.
    #[allow(dead_code)]
    pub fn bin_dir(&self) -> &Path {
        self.bin.parent().unwrap_or(Path::new("/"))
    }

    fn command(&self, args: &[&str]) -> Command {
        command(&self.bin, self.dir.path(), args)
    }

    fn wait_listening(&self) {
        let until = Instant::now() + Duration::from_secs(10);
        for addr in [self.h2c, self.tls] {
            while TcpStream::connect(addr).is_err() {
                assert!(
                    Instant::now() < until,
                    "nginx does not listen on {addr}\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// `nginx -s reload`: the master starts new workers with the config read again;
    /// the old ones finish what they serve, sending GOAWAY on HTTP/2 connections.
    pub fn reload(&self) {
        let out = self.command(&["-s", "reload"]).output().unwrap();
        assert!(
            out.status.success(),
            "nginx -s reload: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The instance's error log (notice level: reloads and worker exits are in it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/error.log")).unwrap_or_default()
    }
}

/// `nginx -p DIR -c DIR/nginx.conf ARGS`: this instance only.
fn command(bin: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.arg("-p").arg(dir).arg("-c").arg(dir.join("nginx.conf")).args(args);
    c
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.command(&["-s", "stop"]).output();
        // The master removes its pid file on exit; wait for it (bounded) so that the
        // folder is not removed under a running nginx.
        let pid = self.dir.path().join("nginx.pid");
        let until = Instant::now() + Duration::from_secs(5);
        while pid.exists() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
