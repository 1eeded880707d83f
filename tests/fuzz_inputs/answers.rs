//! Hostile answers for `fuzz_inputs`: a server whose every answer is a different
//! hostile one (tokens up to a megabyte, dozens of cookies of any size and attributes, a
//! garbled head), and one storm of a capture-and-cookie flow against it.

use std::path::Path;
use std::time::Duration;

use super::common;
use super::mutate::{Gen, VALUES};
use super::mutated;

/// A hostile answer to capture from and take cookies from: a token of any length, many
/// cookies of any size and attributes, a head cut or garbled.
fn answer(g: &mut Gen) -> Vec<u8> {
    let token = "t".repeat(match g.below(4) {
        0 => g.below(64),
        1 => g.below(16 << 10),
        2 => g.below(1 << 20),
        _ => 8 << 10,
    });
    let body = format!(r#"{{"token":"{token}","n":{}}}"#, g.pick(VALUES).len());
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for _ in 0..g.below(20) {
        let most = if g.chance(20) { 70_000 } else { 5_000 };
        let value = "c".repeat(g.below(most));
        let attrs = *g.pick(&[
            "; Path=/",
            "; Max-Age=18446744073709551616",
            "; Max-Age=-1",
            "; Domain=.127.0.0.1",
            "; Domain=example.com",
            "; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
            "; Path=/; Path=/x; Secure; HttpOnly; SameSite=None",
            "",
        ]);
        let line = format!("set-cookie: k{}={value}{attrs}", g.below(100));
        let line = if g.chance(20) { mutated(g, &line) } else { line };
        head.push_str(&line.replace(['\r', '\n'], ""));
        head.push_str("\r\n");
    }
    head.push_str(&format!(
        "location: /{}\r\ncontent-length: {}\r\n\r\n",
        g.below(9),
        body.len()
    ));
    let mut out = if g.chance(5) { mutated(g, &head) } else { head }.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Serves a different hostile answer to every request; counts them.
async fn hostile_answers(seed: u64, served: std::sync::Arc<std::sync::atomic::AtomicU64>) -> std::net::SocketAddr {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let served = served.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while common::read_request(&mut s, &mut buf).await {
                    let n = served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let a = answer(&mut Gen::new(seed, n));
                    if s.write_all(&a).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// What storms against [`hostile_answers`] came to: answers served (each a case),
/// attempts left without an outcome class, engine failures (a panic on the engine
/// path), storms over the time limit twice, storms re-run after going over it once.
#[derive(Debug, Default)]
pub struct Answers {
    pub served: u64,
    pub storms: u64,
    pub unclassified: u64,
    pub panics: u64,
    pub hangs: u64,
    pub reran: u64,
    pub bad: Vec<String>,
}

impl Answers {
    /// The family's row (`guard::row`): the answers served as accepted cases.
    pub fn row(&self) -> [u64; 6] {
        [self.served, 0, self.unclassified, self.panics, self.hangs, self.reran]
    }
}

/// A storm over this is a hang (its clients' timeouts are 1 s; it lasts some seconds).
const STORM_LIMIT: Duration = Duration::from_secs(60);

/// Storms of `clients` clients against [`hostile_answers`] until `cases` answers were
/// served (every answer is a different one): each run must end with its report, every
/// attempt classified, no engine failure. A storm over the limit is run again once.
pub async fn answers(cases: u64, clients: u64, seed: u64) -> Answers {
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let addr = hostile_answers(seed, served.clone()).await;
    let text = format!(
        r#"
name: fuzz-answers
target: {{ nodes: ["http://{addr}"], timeout: 1s, connection: reuse }}
population: {{ simulate: {clients} }}
storm: {{ waves: [ {{ share: 100%, spread: "uniform(2s)" }} ] }}
client:
  cookies: true
  retry: {{ policy: none }}
  login:
    - name: auth
      request: POST /login
      capture: {{ token: {{ json: /token }}, n: {{ json: /n }}, loc: {{ header: location }}, re: {{ regex: 'token":"(t*)' }} }}
    - {{ name: join, request: 'POST /join{{{{loc}}}}', headers: {{ authorization: "Bearer {{{{token}}}}", x-re: "{{{{re}}}}" }} }}
  session: {{ keepalive: {{ request: POST /k, headers: {{ x-n: "{{{{n}}}}{{{{token}}}}" }} }}, every: 200ms, initially_online: false }}
observe: {{ window: 250ms, until_recovered: 1s }}
"#
    );
    let p = stampede::run::parse(&text, Path::new("a.yaml"), &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Answers::default();
    while out.served < cases {
        let mut run = None;
        for attempt in 0..2 {
            let mut quiet = ();
            let storm = stampede::run::run(&p, stampede::run::RunOptions::default(), &mut quiet);
            match tokio::time::timeout(STORM_LIMIT, storm).await {
                Ok(r) => {
                    out.reran += attempt;
                    run = Some(r);
                    break;
                }
                Err(_) => continue,
            }
        }
        out.storms += 1;
        out.served = served.load(std::sync::atomic::Ordering::Relaxed);
        let Some(r) = run else {
            out.hangs += 1;
            out.bad
                .push(format!("storm {}: over {STORM_LIMIT:?} twice", out.storms));
            continue;
        };
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                out.panics += 1;
                out.bad.push(format!("storm {}: no report: {e}", out.storms));
                continue;
            }
        };
        if !r.engine.stats.failures.is_empty() {
            out.panics += r.engine.stats.failures.len() as u64;
            out.bad
                .push(format!("storm {}: {:?}", out.storms, r.engine.stats.failures));
        }
        let classified: u64 = r.totals.outcomes.values().sum();
        let c = &r.totals.counts;
        let due = c.attempts + c.unstarted + c.throttled + c.generator_failed;
        if classified != due {
            out.unclassified += due.abs_diff(classified);
            out.bad.push(format!(
                "storm {}: {classified} classified of {due}: {:?}",
                out.storms, r.totals.outcomes
            ));
        }
    }
    out
}
