//! Recording: live traffic (the `record` proxies) and captures in other formats (`import har`,
//! `import hl7`) become scenario files. Every source produces the same `Exchange`s; `build` turns
//! them into one scenario (with captures where a later request reuses an earlier answer) and its
//! golden snapshots; `scrub` replaces patient data on the way.

pub mod build;
pub mod proxy;
pub mod scrub;

use std::path::Path;

use crate::golden::store::{SnapshotKey, SnapshotMode, SnapshotStore};

/// Writes the scenario (atomically; `header` lines become a comment on top) and its golden
/// snapshots into `golden`. Returns the number of snapshots written or already identical.
pub fn write(
    out: &Path,
    golden: &Path,
    built: &build::Built,
    header: &[String],
) -> Result<usize, String> {
    let yaml = emr_core::scenario::write::to_yaml(&built.scenario)?;
    let mut text = String::new();
    for h in header {
        text.push_str(&format!("# {h}\n"));
    }
    text.push_str(&yaml);
    crate::write::write_atomically(out, &text)
        .map_err(|e| format!("writing {}: {e}", out.display()))?;
    let name = built.scenario["name"].as_str().unwrap_or("recording");
    let store = SnapshotStore {
        dir: golden.to_path_buf(),
        mode: SnapshotMode::Update,
    };
    let mut written = 0;
    for (snap, step, content) in &built.snapshots {
        let key = SnapshotKey {
            scenario: name,
            scenario_file: out,
            step,
            name: snap,
        };
        let r = store.check(&key, content);
        if r.passed || r.message.is_none() {
            written += 1;
        } else if let Some(m) = r.message {
            return Err(m);
        }
    }
    Ok(written)
}
