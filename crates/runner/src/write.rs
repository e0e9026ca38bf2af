//! Files the tool writes (reports, goldens, generated scenarios) are written whole or not at all,
//! and scrubbed of every registered secret on the way out.

use std::io::Write as _;
use std::path::Path;

/// Writes `path` via a temporary file in the same folder and a rename, so readers see either the
/// old file or the new one, never a torn write.
pub fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    // Every report, golden and generated scenario is written here: the last place a secret that
    // slipped into some text can be caught.
    let content = emr_core::secret::scrub(content);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("snap");
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    // A failed write (a full disk) must not leave its temp file behind: a run writing hundreds
    // of goldens would otherwise leave hundreds.
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
