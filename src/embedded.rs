//! Starting the reference overlay in-process for a profile whose target is
//! `overlay: embedded` (or a preset name, or a mapping of overlay settings).

use crate::profile::{Node, Profile};

pub struct Handle;

pub async fn start(
    _settings: &serde_yaml::Value,
    _p: &Profile,
) -> Result<(Node, String, Handle), String> {
    Err("the reference overlay is not built into this version yet".into())
}

pub async fn stop(_h: Handle) {}
