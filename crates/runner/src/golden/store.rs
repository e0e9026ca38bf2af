//! Golden files in insta's `.snap` format: a YAML header between `---` lines, then the content.
//!
//! A mismatch writes `<name>.snap.new` beside the golden file (as insta does) and never touches
//! the golden file itself; `emr-harness review` or `--update` are the only ways a golden changes,
//! and every write is a write-to-temp-then-rename, so a crash never leaves half a file. With
//! `CI=true` nothing is written at all.

use std::path::{Path, PathBuf};

use crate::write::write_atomically;
use emr_core::check::snapshot::{normalize, parse_snap, unified_diff};
use emr_core::report::CheckResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Compare; on a difference or a missing golden, write `.snap.new` for review and fail.
    Review,
    /// Compare; write the golden file directly when it differs or is missing (`--update`).
    Update,
    /// Compare only; write nothing, and a missing golden is a failure (`CI=true`).
    Ci,
}

#[derive(Debug, Clone)]
pub struct SnapshotStore {
    pub dir: PathBuf,
    pub mode: SnapshotMode,
}

/// Metadata written in a snapshot's header, so a reviewer knows where it came from.
pub struct SnapshotKey<'a> {
    pub scenario: &'a str,
    pub scenario_file: &'a Path,
    pub step: &'a str,
    pub name: &'a str,
}

impl SnapshotStore {
    pub fn path_for(&self, scenario: &str, name: &str) -> PathBuf {
        self.dir.join(format!(
            "{}__{}.snap",
            emr_core::scenario::load::slug(scenario),
            name
        ))
    }

    pub fn check(&self, key: &SnapshotKey, content: &str) -> CheckResult {
        let path = self.path_for(key.scenario, key.name);
        let pending = pending_path(&path);
        let field = "expect.snapshot".to_string();
        let shown = path.display().to_string();
        let mut result = CheckResult {
            kind: "snapshot".into(),
            field,
            passed: false,
            expected: shown.clone(),
            actual: String::new(),
            message: None,
            diff: None,
        };
        let golden = match std::fs::read_to_string(&path) {
            Ok(text) => Some(parse_snap(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                result.message = Some(format!("cannot read {shown}: {e}"));
                return result;
            }
        };
        let write = |target: &Path| -> Result<(), String> {
            write_atomically(target, &render_snap(key, content))
                .map_err(|e| format!("cannot write {}: {e}", target.display()))
        };
        match golden {
            Some(old) if normalize(&old) == normalize(content) => {
                result.passed = true;
                result.actual = "matches".into();
                // A pending file from an earlier failing run is stale now.
                if self.mode != SnapshotMode::Ci && pending.exists() {
                    let _ = std::fs::remove_file(&pending);
                }
            }
            Some(old) => {
                result.actual = "differs".into();
                result.diff = Some(unified_diff(&old, content));
                match self.mode {
                    SnapshotMode::Ci => {
                        result.message = Some("snapshot differs (CI: nothing written)".into())
                    }
                    SnapshotMode::Review => {
                        result.message = Some(match write(&pending) {
                            Ok(()) => format!(
                                "snapshot differs; new version in {}; run `emr-harness review`",
                                pending.display()
                            ),
                            Err(e) => e,
                        });
                    }
                    SnapshotMode::Update => match write(&path) {
                        Ok(()) => {
                            result.passed = true;
                            result.actual = "updated".into();
                            result.message = Some("golden file updated (--update)".into());
                            let _ = std::fs::remove_file(&pending);
                        }
                        Err(e) => result.message = Some(e),
                    },
                }
            }
            None => {
                result.actual = "missing".into();
                match self.mode {
                    SnapshotMode::Ci => {
                        result.message = Some(
                            "no golden file (CI: nothing written; run with --update locally)"
                                .into(),
                        )
                    }
                    SnapshotMode::Review => {
                        result.diff = Some(unified_diff("", content));
                        result.message = Some(match write(&pending) {
                            Ok(()) => format!(
                                "new snapshot in {}; run `emr-harness review` to accept it",
                                pending.display()
                            ),
                            Err(e) => e,
                        });
                    }
                    SnapshotMode::Update => match write(&path) {
                        Ok(()) => {
                            result.passed = true;
                            result.actual = "created".into();
                            result.message = Some("golden file created (--update)".into());
                        }
                        Err(e) => result.message = Some(e),
                    },
                }
            }
        }
        result
    }
}

pub fn pending_path(golden: &Path) -> PathBuf {
    let mut s = golden.as_os_str().to_os_string();
    s.push(".new");
    PathBuf::from(s)
}

fn render_snap(key: &SnapshotKey, content: &str) -> String {
    let header = serde_json::json!({
        "source": key.scenario_file.display().to_string(),
        "expression": format!("{} / {}", key.scenario, key.step),
    });
    // insta's header is YAML; JSON strings are valid YAML scalars and need no YAML writer here.
    let mut out = String::from("---\n");
    if let Some(map) = header.as_object() {
        for (k, v) in map {
            out.push_str(&format!("{k}: {v}\n"));
        }
    }
    out.push_str("---\n");
    out.push_str(content.trim_end_matches('\n'));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SnapshotKey<'static> {
        SnapshotKey {
            scenario: "Patient lifecycle",
            scenario_file: Path::new("scenarios/p.yaml"),
            step: "read",
            name: "read",
        }
    }

    #[test]
    fn review_mode_writes_pending_and_never_the_golden() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore {
            dir: dir.path().to_path_buf(),
            mode: SnapshotMode::Review,
        };
        let golden = store.path_for("Patient lifecycle", "read");
        assert!(golden.ends_with("patient-lifecycle__read.snap"));

        let r = store.check(&key(), "HTTP 200\n");
        assert!(!r.passed);
        assert!(!golden.exists());
        assert!(pending_path(&golden).exists());

        std::fs::rename(pending_path(&golden), &golden).unwrap();
        assert!(store.check(&key(), "HTTP 200\n").passed);

        let r = store.check(&key(), "HTTP 404\n");
        assert!(!r.passed);
        assert!(r.diff.as_deref().unwrap().contains("-HTTP 200\n+HTTP 404"));
        assert_eq!(
            parse_snap(&std::fs::read_to_string(&golden).unwrap()),
            "HTTP 200\n"
        );
        assert_eq!(
            parse_snap(&std::fs::read_to_string(pending_path(&golden)).unwrap()),
            "HTTP 404\n"
        );
    }

    #[test]
    fn ci_mode_writes_nothing_and_update_mode_writes_golden() {
        let dir = tempfile::tempdir().unwrap();
        let ci = SnapshotStore {
            dir: dir.path().to_path_buf(),
            mode: SnapshotMode::Ci,
        };
        let r = ci.check(&key(), "HTTP 200\n");
        assert!(!r.passed && r.actual == "missing");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let up = SnapshotStore {
            dir: dir.path().to_path_buf(),
            mode: SnapshotMode::Update,
        };
        assert!(up.check(&key(), "HTTP 200\n").passed);
        let text = std::fs::read_to_string(up.path_for("Patient lifecycle", "read")).unwrap();
        assert!(text.starts_with("---\nexpression: \"Patient lifecycle / read\"\nsource: \"scenarios/p.yaml\"\n---\nHTTP 200\n"), "{text}");
        assert!(ci.check(&key(), "HTTP 200\n").passed);
    }
}
