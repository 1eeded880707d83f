//! `target:`: where the storm goes (the embedded overlay or a list of nodes), how a
//! node is picked, the connection mode, and TLS trust.

use std::net::IpAddr;
use std::time::Duration;

use super::Validator;
use crate::profile::file::read_limited;
use crate::profile::spec::{
    ClientSpec, ConnMode, Derived, DerivedOp, Endpoint, HttpVersion, MetricsScrape, Pick, Population, Received, Target,
    TlsSpec,
};
use crate::profile::{Node, Vars};
use crate::profile::{limits, raw};
use strum::VariantNames;

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
        let http = self.http(t, endpoint.as_ref());
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
            received: m.received.as_ref().and_then(|r| self.received(r)),
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
        let source_addresses = self.sources(t.source_addresses.as_deref().unwrap_or_default());
        Some(Target {
            endpoint: endpoint?,
            pick,
            timeout,
            connection,
            http,
            max_connections,
            max_in_flight,
            metrics,
            tls,
            source_addresses,
        })
    }

    /// `target.http`: `1.1`, `2` or `auto`; `auto` only where ALPN can choose (every
    /// node `https://`): over `http://` nothing negotiates, and a run that says `auto`
    /// would not know which protocol it measured.
    fn http(&mut self, t: &raw::RawTarget, endpoint: Option<&Endpoint>) -> HttpVersion {
        let field = "target.http";
        let Some(crate::units::Text(s)) = &t.http else {
            return HttpVersion::default();
        };
        let v = match s.trim() {
            "2.0" => HttpVersion::Http2,
            s => match s.parse::<HttpVersion>() {
                Ok(v) => v,
                Err(_) => {
                    self.err(
                        field,
                        format!(
                            "`{s}` is not one of: {} (HTTP/3 is not spoken)",
                            HttpVersion::VARIANTS.join(", ")
                        ),
                    );
                    return HttpVersion::default();
                }
            },
        };
        let plain = match endpoint {
            Some(Endpoint::Nodes(nodes)) => nodes.iter().any(|n| !n.tls),
            Some(Endpoint::Embedded(_)) => true,
            None => false,
        };
        if v == HttpVersion::Auto && plain {
            self.err(
                field,
                "`auto` needs `https://` nodes (ALPN chooses the protocol there); over `http://` \
                 write `2` (h2c with prior knowledge) or `1.1`",
            );
        }
        v
    }

    /// `target.metrics.received`: a series selector (required), and a step.
    fn received(&mut self, r: &raw::RawReceived) -> Option<Received> {
        let field = "target.metrics.received.series";
        let series = match r.series.as_deref().map(str::trim) {
            None | Some("") => {
                self.err(
                    field,
                    "missing: name the counter of requests the target received, e.g. 'http_requests_total{path=\"/login\"}'",
                );
                return None;
            }
            Some(s) if crate::engine::parse_key(s).is_none() => {
                self.err(
                    field,
                    format!("`{s}` is not a series selector: write `name` or `name{{label=\"value\"}}`"),
                );
                return None;
            }
            Some(s) => s.to_string(),
        };
        Some(Received {
            series,
            step: r.step.as_ref().map(|s| s.trim().to_string()),
        })
    }

    /// `target.metrics.received.step` must name a login step (checked once the client's
    /// flow is known).
    pub(super) fn received_step(&mut self, target: Option<&Target>, client: &ClientSpec) {
        let Some(step) = target
            .and_then(|t| t.metrics.as_ref())
            .and_then(|m| m.received.as_ref())
            .and_then(|r| r.step.as_deref())
        else {
            return;
        };
        if !client.login.iter().any(|s| s.name == step) {
            let names: Vec<&str> = client.login.iter().map(|s| s.name.as_str()).collect();
            self.err(
                "target.metrics.received.step",
                format!("`{step}` is not a login step: write one of {}", names.join(", ")),
            );
        }
    }

    /// `source_addresses`: each entry an address or a CIDR range, expanded; at most
    /// `MAX_SOURCES` in all.
    fn sources(&mut self, list: &[String]) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let field = format!("target.source_addresses[{i}]");
            match expand(s.trim(), MAX_SOURCES - out.len()) {
                Ok(a) => out.extend(a),
                Err(e) => self.err(&field, e),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `overlay` (checked by the caller's overlay check) or `nodes`, never both.
    fn endpoint(&mut self, t: &raw::RawTarget, timeout: Duration, population: &Population) -> Option<Endpoint> {
        match (&t.overlay, &t.nodes) {
            (Some(_), Some(_)) => {
                self.err("target.nodes", "give either `overlay` or `nodes`, not both");
                None
            }
            (Some(o), None) => {
                let o = &self.overlay_env(o);
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

    /// The overlay's settings with an `admin_token: ${VAR}` read from the environment
    /// (the raw profile, which outputs echo, keeps `${VAR}`).
    fn overlay_env(&mut self, o: &serde_yaml::Value) -> serde_yaml::Value {
        match crate::profile::admin_token_env(o, self.env) {
            Ok(o) => o,
            Err(e) => {
                self.err("target.overlay.admin_token", e);
                o.clone()
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
                Err(e) if url == *n => self.err(&field, e),
                // The error would quote the expanded text (a port or host from `${VAR}`).
                Err(e) => self.err(
                    &field,
                    format!(
                        "`{n}` {} once its `${{VAR}}` are expanded (the values are not shown)",
                        e.what()
                    ),
                ),
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
            let path = self.named_file("target.tls.ca", file, "CA files")?;
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

/// The most source addresses a profile may expand to: 65,536 clients' worth of distinct
/// sources is more than one machine's NIC is given; a typo like `/8` must not allocate
/// 16 M addresses.
pub const MAX_SOURCES: usize = 65_536;

/// One entry of `source_addresses`: an address, or a CIDR range with at most `room`
/// addresses in it. An IPv4 range shorter than /31 leaves out its network and broadcast
/// addresses, which no host can bind.
fn expand(s: &str, room: usize) -> Result<Vec<IpAddr>, String> {
    let Some((addr, len)) = s.split_once('/') else {
        return s
            .parse::<IpAddr>()
            .map(|a| vec![a])
            .map_err(|_| format!("`{s}` is not an IP address or a CIDR range (like 127.0.1.0/24)"));
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("`{addr}` in `{s}` is not an IP address"))?;
    let bits: u32 = if ip.is_ipv4() { 32 } else { 128 };
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= bits)
        .ok_or_else(|| format!("`/{len}` in `{s}` is not a prefix length from 0 to {bits}"))?;
    let host_bits = bits - len;
    let (skip_ends, count) = match ip {
        IpAddr::V4(_) if host_bits >= 2 => (1u128, (1u128 << host_bits) - 2),
        _ => (0, 1u128.checked_shl(host_bits).unwrap_or(u128::MAX)),
    };
    if count > room as u128 {
        return Err(format!(
            "`{s}` holds {count} addresses: more than the {MAX_SOURCES} source addresses a profile may \
             expand to in all; give a longer prefix"
        ));
    }
    let mask = if host_bits >= 128 { 0 } else { u128::MAX << host_bits };
    let base = match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    } & mask;
    let first = match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    // `127.0.1.9/24` is more likely a slip than a way to say `127.0.1.0/24`.
    if first != base {
        return Err(format!(
            "`{s}` has host bits set: the range starts at the address with none"
        ));
    }
    Ok((0..count)
        .map(|k| base + skip_ends + k)
        .map(|v| match ip {
            IpAddr::V4(_) => IpAddr::from((v as u32).to_be_bytes()),
            IpAddr::V6(_) => IpAddr::from(v.to_be_bytes()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_addresses_and_ranges_within_the_cap() {
        assert_eq!(
            expand("127.0.2.5", 10).unwrap(),
            vec!["127.0.2.5".parse::<IpAddr>().unwrap()]
        );
        let r = expand("127.0.1.0/24", MAX_SOURCES).unwrap();
        assert_eq!(r.len(), 254, "network and broadcast left out");
        assert_eq!(r[0], "127.0.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(r[253], "127.0.1.254".parse::<IpAddr>().unwrap());
        assert_eq!(expand("10.0.0.4/31", 10).unwrap().len(), 2);
        assert_eq!(expand("10.0.0.4/32", 10).unwrap().len(), 1);
        assert_eq!(expand("fd00::/120", MAX_SOURCES).unwrap().len(), 256);
        let e = expand("10.0.0.0/8", MAX_SOURCES).unwrap_err();
        assert!(e.contains("16777214 addresses") && e.contains("65536"), "{e}");
        assert!(expand("::/0", MAX_SOURCES).is_err());
        assert!(expand("127.0.1.9/24", 300).unwrap_err().contains("host bits"));
        assert!(expand("127.0.1.0/33", 300).unwrap_err().contains("/33"));
        assert!(expand("localhost", 300).unwrap_err().contains("not an IP address"));
        assert!(expand("127.0.0.0/24", 100).is_err(), "the room left counts");
    }
}
