//! `emr-harness report merge`: add the HdrHistogram interval logs of many load workers into one
//! exact report (histograms added, never percentiles averaged).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use emr_runner::load::report as lreport;
use emr_runner::report::Format;

use super::EXIT_USAGE;

#[derive(Args)]
pub(crate) struct ReportArgs {
    #[command(subcommand)]
    command: ReportCommand,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Add HdrHistogram interval logs (from `load` workers) into one exact report.
    Merge {
        /// Logs written by `emr-harness load` (load.hlog).
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// Also write the merged report as JSON into --out-dir.
        #[arg(long, value_enum, value_delimiter = ',')]
        format: Vec<Format>,
        #[arg(long, default_value = "reports")]
        out_dir: PathBuf,
    },
}

pub(super) fn report(args: ReportArgs) -> anyhow::Result<u8> {
    match args.command {
        ReportCommand::Merge {
            logs,
            format,
            out_dir,
        } => merge(logs, format, out_dir),
    }
}

fn merge(logs: Vec<PathBuf>, format: Vec<Format>, out_dir: PathBuf) -> anyhow::Result<u8> {
    let mut texts = Vec::new();
    for l in &logs {
        texts.push(std::fs::read_to_string(l).with_context(|| format!("reading {}", l.display()))?);
    }
    let merged = match lreport::merge_logs(&texts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let all = merged.get(lreport::ALL).map(lreport::latency);
    let report = serde_json::json!({
        "schema": "emr-harness/merged-report/v1",
        "logs": logs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "overall": all,
        "steps": merged.iter().filter(|(k, _)| k.as_str() != lreport::ALL).map(|(k, h)| serde_json::json!({"step": k, "latency": lreport::latency(h)})).collect::<Vec<_>>(),
    });
    let mut out = anstream::stdout();
    let _ = writeln!(
        out,
        "merged {} log(s) exactly (histograms added):",
        logs.len()
    );
    for (tag, h) in &merged {
        let l = lreport::latency(h);
        let _ = writeln!(
            out,
            "  {tag:<30} count {:>8}  p50 {:>9.2}ms  p99 {:>9.2}ms  p99.9 {:>9.2}ms  max {:>9.2}ms",
            l.count, l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
    }
    if format.contains(&Format::Json) {
        let path = out_dir.join("merged-report.json");
        emr_runner::write::write_atomically(&path, &serde_json::to_string_pretty(&report)?)?;
        let _ = writeln!(out, "report: {}", path.display());
    }
    Ok(0)
}
