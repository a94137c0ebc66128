//! Files of the repository the tests read.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The seed example requests of the APIG and ROMA "Creating a Plug-in" pages.
pub fn seed_requests() -> Vec<Value> {
    let path = workspace_root().join("tests/fixtures/seed-example-requests.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}
