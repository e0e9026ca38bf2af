//! The bounds every input is held to. Scenario files are shared between teams and targets are
//! often systems nobody here controls, so each byte read is treated as hostile: every loop over
//! input is bounded, and a bound that is hit is a clear error naming the limit and its flag,
//! never an abort or a stall.
//!
//! The defaults are picked so that real material never reaches them, with the reason for each:
//!
//! | limit | default | flag | why this value |
//! |---|---|---|---|
//! | response body | 64 MiB | `--max-body-size` | a 1,000-entry searchset of full resources is a few MB, a scanned-document Binary tens; counted after decompression, so a 1 MB gzip bomb stops at 64 MiB |
//! | HL7 segments per message | 20,000 | `--max-segments` | the largest real messages (a cumulative lab ORU, an MDM with a long note) have a few thousand; a 100k-segment ACK is an attack |
//! | scenario/profile file | 4 MiB | `--max-scenario-size` | the YAML parser needs ~60× a file's size in memory; the largest example scenario is 6 KB |
//! | file a step reads (`body_file`, `hl7.file`) | 64 MiB | `--max-file-size` | a day's ADT feed as one batch file; read as text, not parsed as YAML |
//! | nesting (YAML flow, FHIRPath) | 64 | `--max-depth` | FHIR resources nest about 12 deep and R4's invariants about 8; beyond it the parsers' time or stack grows without use |
//! | template fuel | 1,000,000 | `--template-fuel` | minijinja instructions per render: a body with hundreds of variables uses a few thousand; nested loops over a long string never end without it |
//! | template output | 32 MiB | (fixed) | half the body cap: a request larger than that is no EMR's; assignment, macros, `*` and unbounded filters are not in the scenario template language, so no value can double in one instruction (`scenario::template`) |
//! | FHIRPath evaluation | 100k items per step, 10M items of work, 16 MiB text | (fixed) | R4's invariants touch tens of items; a `select($this & $this)` chain doubles per link (`fhirpath`) |
//!
//! JSON nesting is held to 128 by serde_json itself (its recursion limit), for response bodies
//! and scenario bodies alike.

/// The limits of one run (`run`, `load`, `certify`, `lint`, `validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body: usize,
    pub max_segments: usize,
    pub max_scenario_size: usize,
    pub max_file_size: usize,
    pub max_depth: usize,
    pub template_fuel: u64,
}

pub const DEFAULT_MAX_BODY: usize = 64 << 20;
pub const DEFAULT_MAX_SEGMENTS: usize = 20_000;
pub const DEFAULT_MAX_SCENARIO_SIZE: usize = 4 << 20;
pub const DEFAULT_MAX_FILE_SIZE: usize = 64 << 20;
pub const DEFAULT_MAX_DEPTH: usize = 64;
pub const DEFAULT_TEMPLATE_FUEL: u64 = 1_000_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: DEFAULT_MAX_BODY,
            max_segments: DEFAULT_MAX_SEGMENTS,
            max_scenario_size: DEFAULT_MAX_SCENARIO_SIZE,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_depth: DEFAULT_MAX_DEPTH,
            template_fuel: DEFAULT_TEMPLATE_FUEL,
        }
    }
}

/// A size such as `64MB`, `512KiB`, `1g` or `4096` (bytes). K, M and G are powers of 1024
/// whether or not an `i` is written, as most tools that take sizes treat them.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 64MB, 512KB, 4096)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("`{other}` is not a size unit (B, KB, MB, GB)")),
    };
    n.checked_mul(mult)
        .and_then(|v| usize::try_from(v).ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("`{s}` is not a usable size"))
}

/// Reads a whole file, refusing anything that is not a regular file (a FIFO, `/dev/zero`) or
/// that is larger than `max` bytes, with an error that names the limit and its flag.
pub fn read_text_file(path: &std::path::Path, max: usize, flag: &str) -> Result<String, String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > max as u64 {
        return Err(format!(
            "is {} bytes, over the limit of {max} ({flag})",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(meta.len() as usize);
    // The size can change between the check and the read (a growing log): read one byte more
    // than allowed to notice.
    file.take(max as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() > max {
        return Err(format!("grew over the limit of {max} bytes ({flag})"));
    }
    String::from_utf8(buf).map_err(|e| format!("is not UTF-8 text: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("-1MB").is_err());
    }

    #[test]
    fn only_regular_files_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "hello").unwrap();
        assert_eq!(read_text_file(&p, 10, "--x").unwrap(), "hello");
        assert!(read_text_file(&p, 3, "--x").unwrap_err().contains("--x"));
        assert!(read_text_file(dir.path(), 10, "--x")
            .unwrap_err()
            .contains("not a regular file"));
        if std::path::Path::new("/dev/zero").exists() {
            assert!(read_text_file(std::path::Path::new("/dev/zero"), 10, "--x")
                .unwrap_err()
                .contains("not a regular file"));
        }
    }
}
