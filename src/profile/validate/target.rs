//! `target:`: where the storm goes (the embedded overlay or a list of nodes), how a
//! node is picked, the connection mode, and TLS trust.

use std::time::Duration;

use super::Validator;
use crate::profile::file::read_limited;
use crate::profile::spec::{ConnMode, Derived, DerivedOp, Endpoint, MetricsScrape, Pick, Population, Target, TlsSpec};
use crate::profile::{Node, Vars};
use crate::profile::{limits, raw};

impl Validator<'_> {
    pub(super) fn target(&mut self, raw: Option<&raw::RawTarget>, population: &Population) -> Option<Target> {
        let Some(t) = raw else {
            self.err("target", "missing: say `overlay: embedded` or list `nodes`");
            return None;
        };
        let timeout = self.span("target.timeout", &t.timeout, Duration::from_secs(2), limits::TIMEOUT);
        let endpoint = self.endpoint(t, timeout, population);
        let pick = self.choice("target.pick", &t.pick, Pick::RoundRobin);
        let connection = self.choice("target.connection", &t.connection, ConnMode::Fresh);
        let max_connections = self.value("target.max_connections", &t.max_connections, 256usize);
        let max_in_flight = self.value("target.max_in_flight", &t.max_in_flight, 20_000usize);
        if max_connections == 0 {
            self.err("target.max_connections", "must be at least 1");
        }
        if max_in_flight == 0 {
            self.err("target.max_in_flight", "must be at least 1");
        }
        let metrics = t.metrics.as_ref().map(|m| MetricsScrape {
            url: m.url.clone(),
            series: m.series.clone().unwrap_or_default(),
            derived: self.derived(m.derived.as_deref().unwrap_or_default()),
        });
        if let (Some(m), Some(Endpoint::Nodes(_))) = (&metrics, &endpoint)
            && m.url.is_none()
        {
            self.err(
                "target.metrics.url",
                "needed when the target is not the embedded overlay",
            );
        }
        let tls = self.tls(t.tls.as_ref());
        Some(Target {
            endpoint: endpoint?,
            pick,
            timeout,
            connection,
            max_connections,
            max_in_flight,
            metrics,
            tls,
        })
    }

    /// `overlay` (checked by the caller's overlay check) or `nodes`, never both.
    fn endpoint(&mut self, t: &raw::RawTarget, timeout: Duration, population: &Population) -> Option<Endpoint> {
        match (&t.overlay, &t.nodes) {
            (Some(_), Some(_)) => {
                self.err("target.nodes", "give either `overlay` or `nodes`, not both");
                None
            }
            (Some(o), None) => {
                let problems = (self.overlay)(o, timeout, population.simulated as u64);
                if problems.is_empty() {
                    Some(Endpoint::Embedded(o.clone()))
                } else {
                    for (path, msg) in problems {
                        let field = if path.is_empty() {
                            "target.overlay".to_string()
                        } else {
                            format!("target.overlay.{path}")
                        };
                        self.err(&field, msg);
                    }
                    None
                }
            }
            (None, Some(nodes)) if nodes.is_empty() => {
                self.err("target.nodes", "the list is empty");
                None
            }
            (None, Some(nodes)) => Some(Endpoint::Nodes(self.nodes(nodes))),
            (None, None) => {
                self.err("target", "say `overlay: embedded` or list `nodes`");
                None
            }
        }
    }

    /// Node URLs may use `${VAR}` and `{{node}}`; each is parsed once, here.
    fn nodes(&mut self, nodes: &[String]) -> Vec<Node> {
        let mut out = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let field = format!("target.nodes[{i}]");
            let url = self.template(&field, n).render(Vars {
                values: None,
                client: 0,
                attempt: 0,
                node: i,
            });
            // `${VAR}` may hold a secret: the node is shown, and its errors worded, as
            // written, never as expanded.
            match Node::parse(&url) {
                Ok(node) => out.push(Node {
                    shown: n.clone(),
                    ..node
                }),
                Err(e) => self.err(&field, e.to_string().replace(&url, n)),
            }
        }
        out
    }

    fn tls(&mut self, raw: Option<&raw::RawTls>) -> TlsSpec {
        let Some(t) = raw else {
            return TlsSpec::default();
        };
        let verify = self.value("target.tls.verify", &t.verify, true);
        let ca = t.ca.as_ref().and_then(|file| {
            let path = self.dir.join(file);
            let pem = match read_limited(&path, limits::CA_BYTES) {
                Ok(b) => b,
                Err(e) => {
                    self.err("target.tls.ca", e);
                    return None;
                }
            };
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs: Result<Vec<Vec<u8>>, _> = CertificateDer::pem_slice_iter(&pem)
                .map(|c| c.map(|c| c.as_ref().to_vec()))
                .collect();
            match certs {
                Ok(c) if !c.is_empty() => Some((file.clone(), c)),
                Ok(_) => {
                    self.err(
                        "target.tls.ca",
                        format!(
                            "`{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                            path.display()
                        ),
                    );
                    None
                }
                Err(e) => {
                    self.err("target.tls.ca", format!("`{}` is not valid PEM: {e}", path.display()));
                    None
                }
            }
        });
        if !verify && ca.is_some() {
            self.err("target.tls.ca", "has no use with `verify: false`: drop one of them");
        }
        TlsSpec { verify, ca }
    }
}

impl Validator<'_> {
    /// `target.metrics.derived`: `a / b` or `a - b` over two series names.
    fn derived(&mut self, list: &[raw::RawDerived]) -> Vec<Derived> {
        let mut out = Vec::new();
        for (i, d) in list.iter().enumerate() {
            let field = format!("target.metrics.derived[{i}]");
            let (Some(name), Some(expr)) = (d.name.as_deref(), d.expr.as_deref()) else {
                self.err(&field, "needs `name` and `expr` (e.g. `queue_depth / workers`)");
                continue;
            };
            // Spaces around the operator: a series name may hold `-` or `/` in its labels.
            let parsed = [(" / ", DerivedOp::Div), (" - ", DerivedOp::Sub)]
                .into_iter()
                .find_map(|(sym, op)| expr.split_once(sym).map(|(a, b)| (a.trim(), op, b.trim())));
            match parsed {
                Some((a, op, b)) if !a.is_empty() && !b.is_empty() && !name.trim().is_empty() => out.push(Derived {
                    name: name.trim().to_string(),
                    a: a.to_string(),
                    op,
                    b: b.to_string(),
                }),
                _ => self.err(
                    &format!("{field}.expr"),
                    format!("`{expr}`: write `SERIES / SERIES` or `SERIES - SERIES`, spaces around the operator"),
                ),
            }
        }
        out
    }
}
