//! Reports: the outcome tree (`emr_core::report`) written as a terminal table, JSON or JUnit XML,
//! and one way to write any report's files (`ReportFiles`), shared by run, load and certify.

pub mod json;
pub mod junit;
pub mod table;

use std::path::{Path, PathBuf};

use emr_core::report::RunReport;

/// The file formats a report can be written as, beside its terminal table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The terminal table only (always printed unless --quiet).
    Table,
    /// JSON: the documented, stable schema of each report (docs/report-schema.md for runs).
    Json,
    /// JUnit XML, for CI: one test case per step, per SLO, or per certify check.
    Junit,
    /// A self-contained HTML page (load and certify reports).
    Html,
}

/// A report that can be written as files. Each kind says what its files are called and hold.
pub trait ReportFiles {
    /// The file for `format`: `Ok(None)` when this kind of report has no such file.
    fn file(&self, format: Format) -> Result<Option<(String, String)>, String>;
}

/// Writes the report's files for `formats` into `dir` (each written whole, scrubbed of secrets);
/// returns the paths written.
pub fn write_files(
    report: &dyn ReportFiles,
    formats: &[Format],
    dir: &Path,
) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for f in formats {
        let Some((name, content)) = report.file(*f).map_err(std::io::Error::other)? else {
            continue;
        };
        let path = dir.join(name);
        crate::write::write_atomically(&path, &content)?;
        written.push(path);
    }
    Ok(written)
}

impl ReportFiles for RunReport {
    fn file(&self, format: Format) -> Result<Option<(String, String)>, String> {
        let err = |e: std::io::Error| e.to_string();
        Ok(match format {
            Format::Table | Format::Html => None,
            Format::Json => Some((
                "emr-harness-report.json".into(),
                json::to_string(self).map_err(err)?,
            )),
            Format::Junit => Some(("junit.xml".into(), junit::to_string(self).map_err(err)?)),
        })
    }
}
