//! Where reports go and what is printed: `--format`, `--out-dir`, `--quiet` (run, load, certify).

use std::path::PathBuf;

use clap::Args;
use emr_runner::report::Format;

#[derive(Args, Clone)]
#[command(next_help_heading = "Output")]
pub(crate) struct OutputArgs {
    /// Report files to write into --out-dir: json, junit, html (load and certify); the table is
    /// always printed unless --quiet.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub format: Vec<Format>,
    /// Folder for report files.
    #[arg(long, alias = "out", default_value = "reports")]
    pub out_dir: PathBuf,
    /// Print only what failed, on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}
