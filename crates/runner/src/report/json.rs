//! The JSON report: `model::RunReport` as pretty JSON.

use emr_core::report::RunReport;

pub fn to_string(report: &RunReport) -> std::io::Result<String> {
    serde_json::to_string_pretty(report).map_err(std::io::Error::other)
}

pub fn from_str(text: &str) -> Result<RunReport, serde_json::Error> {
    serde_json::from_str(text)
}
