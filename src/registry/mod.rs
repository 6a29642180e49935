//! The resident registry (住民基本台帳): full import, daily 異動 deltas, history.

pub mod cli;

use serde::{Deserialize, Serialize};

/// `[registry]` in chiiki.toml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {}
