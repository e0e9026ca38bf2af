//! `emr-harness review`: accept or reject pending snapshots (`.snap.new`), as `cargo insta review`.
//! A decision is applied with one rename or one delete; nothing else touches a golden file.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use emr_core::check::snapshot::{parse_snap, unified_diff};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub golden: PathBuf,
    pub pending: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Reject,
    Skip,
}

/// Every `.snap.new` under `dir`, sorted.
pub fn find_pending(dir: &Path) -> std::io::Result<Vec<Pending>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    walk(dir, &mut out)?;
    out.sort_by(|a, b| a.pending.cmp(&b.pending));
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Pending>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if let Some(name) = path.to_str().and_then(|p| p.strip_suffix(".new")) {
            if name.ends_with(".snap") {
                out.push(Pending {
                    golden: PathBuf::from(name),
                    pending: path.clone(),
                });
            }
        }
    }
    Ok(())
}

pub fn apply(p: &Pending, decision: Decision) -> std::io::Result<()> {
    match decision {
        Decision::Accept => std::fs::rename(&p.pending, &p.golden),
        Decision::Reject => std::fs::remove_file(&p.pending),
        Decision::Skip => Ok(()),
    }
}

/// The diff golden → pending, for display.
pub fn diff(p: &Pending) -> std::io::Result<String> {
    let old = match std::fs::read_to_string(&p.golden) {
        Ok(t) => parse_snap(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let new = parse_snap(&std::fs::read_to_string(&p.pending)?);
    Ok(unified_diff(&old, &new))
}

/// Asks about each pending snapshot on `input`/`output`. Returns (accepted, rejected, skipped).
pub fn interactive(
    pending: &[Pending],
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    color: bool,
) -> std::io::Result<(usize, usize, usize)> {
    let mut counts = (0, 0, 0);
    for (i, p) in pending.iter().enumerate() {
        let is_new = !p.golden.exists();
        writeln!(
            output,
            "\n[{}/{}] {} ({})",
            i + 1,
            pending.len(),
            p.golden.display(),
            if is_new { "new snapshot" } else { "changed" }
        )?;
        write!(output, "{}", colorize_diff(&diff(p)?, color))?;
        let decision = loop {
            write!(output, "  a accept · r reject · s skip > ")?;
            output.flush()?;
            let mut line = String::new();
            if input.read_line(&mut line)? == 0 {
                break Decision::Skip; // end of input: leave the rest pending
            }
            match line.trim() {
                "a" | "accept" => break Decision::Accept,
                "r" | "reject" => break Decision::Reject,
                "s" | "skip" | "" => break Decision::Skip,
                _ => continue,
            }
        };
        apply(p, decision)?;
        match decision {
            Decision::Accept => counts.0 += 1,
            Decision::Reject => counts.1 += 1,
            Decision::Skip => counts.2 += 1,
        }
    }
    Ok(counts)
}

/// Red for removed lines, green for added, dim headers; plain when `color` is off.
pub fn colorize_diff(diff: &str, color: bool) -> String {
    if !color {
        return diff.to_string();
    }
    let red = anstyle::AnsiColor::Red.on_default();
    let green = anstyle::AnsiColor::Green.on_default();
    let cyan = anstyle::AnsiColor::Cyan.on_default();
    let mut out = String::new();
    for line in diff.split_inclusive('\n') {
        let style = if line.starts_with("+++") || line.starts_with("---") || line.starts_with("@@")
        {
            Some(cyan)
        } else if line.starts_with('+') {
            Some(green)
        } else if line.starts_with('-') {
            Some(red)
        } else {
            None
        };
        match style {
            Some(s) => {
                let text = line.trim_end_matches('\n');
                out.push_str(&format!("{}{text}{}", s.render(), s.render_reset()));
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_reject_skip() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("s__a.snap");
        std::fs::write(&a, "---\nsource: x\n---\nold\n").unwrap();
        std::fs::write(
            dir.path().join("s__a.snap.new"),
            "---\nsource: x\n---\nnew\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("s__b.snap.new"), "---\nsource: x\n---\nb\n").unwrap();
        std::fs::write(dir.path().join("s__c.snap.new"), "---\nsource: x\n---\nc\n").unwrap();
        let pending = find_pending(dir.path()).unwrap();
        assert_eq!(pending.len(), 3);
        assert!(diff(&pending[0]).unwrap().contains("-old\n+new"));

        let mut input = std::io::Cursor::new("a\nr\nwhat\ns\n");
        let mut output = Vec::new();
        let counts = interactive(&pending, &mut input, &mut output, false).unwrap();
        assert_eq!(counts, (1, 1, 1));
        assert_eq!(parse_snap(&std::fs::read_to_string(&a).unwrap()), "new\n");
        assert!(!dir.path().join("s__b.snap.new").exists());
        assert!(!dir.path().join("s__b.snap").exists());
        assert!(dir.path().join("s__c.snap.new").exists());
    }
}
