//! Reports: one outcome model (`model`) written as a terminal table, JSON or JUnit XML.

pub mod json;
pub mod junit;
pub mod model;
pub mod table;

use std::path::{Path, PathBuf};

/// The file formats a run can write beside its terminal table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The terminal table only (always printed unless --quiet).
    Table,
    /// `emr-harness-report.json`: the documented, stable schema (docs/report-schema.md).
    Json,
    /// `junit.xml`: one <testsuite> per scenario, one <testcase> per step.
    Junit,
    /// Load runs: `load-report.html`, self-contained, with plots.
    Html,
}

/// Writes the chosen file formats into `dir`; returns the paths written.
pub fn write_files(
    report: &model::RunReport,
    formats: &[Format],
    dir: &Path,
) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for f in formats {
        let (name, content) = match f {
            Format::Table | Format::Html => continue,
            Format::Json => ("emr-harness-report.json", json::to_string(report)?),
            Format::Junit => ("junit.xml", junit::to_string(report)?),
        };
        let path = dir.join(name);
        crate::check::snapshot::write_atomically(&path, &content)?;
        written.push(path);
    }
    Ok(written)
}
