//! The files a profile reads beside itself: what has to travel with it.

use std::path::PathBuf;

use super::{Profile, StormSource};

impl Profile {
    /// The files besides itself this profile reads when it loads (`client.data`,
    /// `storm.trace`, `target.tls.ca`), where this process opens them: whatever runs it
    /// elsewhere (a ConfigMap, a shard host) must carry them too.
    pub fn files(&self) -> Vec<(&'static str, PathBuf)> {
        let dir = self.path.parent().unwrap_or(std::path::Path::new(""));
        let mut out = Vec::new();
        if let Some(d) = &self.client.data {
            out.push(("client.data", dir.join(&d.file)));
        }
        if let StormSource::Trace { path, .. } = &self.storm.source {
            out.push(("storm.trace", path.clone()));
        }
        if let Some((ca, _)) = &self.target.tls.ca {
            out.push(("target.tls.ca", dir.join(ca)));
        }
        out
    }
}
