//! The command line: one file per command, flag groups declared once (`args`), and the setup they
//! share (`session`). Each command turns its flags into library calls and returns an exit code;
//! only `main` turns that code into the process's.
//!
//! Exit codes: 0 all passed · 1 a check failed · 2 bad usage or scenario file · 3 target
//! unreachable · 130 interrupted (a partial report is still written).

pub(crate) mod args;
mod certify;
mod import;
mod lint;
mod load;
mod record;
mod report;
mod review;
mod run;
mod sandbox;
mod session;
mod validate;

use std::io::Write as _;

use clap::{Parser, Subcommand};

pub(crate) const EXIT_FAILED: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_UNREACHABLE: u8 = 3;
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "emr-harness",
    version,
    about = "Conformance and load-testing harness for EMR integration endpoints (FHIR R4 REST, HL7 v2 over MLLP)"
)]
pub(crate) struct Cli {
    /// More logging on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Worker threads for load, sandbox, certify and record [default: the cores this process
    /// may use]; run, lint, review, import and validate always use one. 1 runs everything on one
    /// thread, which is cheaper per request when one core is all there is (a container's quota,
    /// `taskset`).
    #[arg(short = 'j', long, global = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Replay scenarios against a FHIR target (the embedded sandbox when no --target is given).
    Run(Box<run::RunArgs>),
    /// Accept or reject pending snapshots (`.snap.new`) in the golden folder.
    Review(review::ReviewArgs),
    /// Run the embedded sandbox EMR in the foreground.
    Sandbox(Box<sandbox::SandboxArgs>),
    /// Load and validate scenario files without sending anything.
    Lint(lint::LintArgs),
    /// Drive load from a profile (profiles/*.yaml): open or closed model, HdrHistogram metrics, SLOs.
    Load(Box<load::LoadArgs>),
    /// Run a built-in conformance suite: `certify fhir` (R4 REST API), `certify hl7` (ACK rules, MLLP).
    Certify(certify::CertifyArgs),
    /// Validate FHIR R4 resources in JSON files (typed model + round trip, as every check does).
    Validate(validate::ValidateArgs),
    /// Record live traffic into a scenario: a proxy between a client and the EMR (http, mllp).
    Record(record::RecordArgs),
    /// Convert other formats into scenario files: testscript, har, hl7.
    Import(import::ImportArgs),
    /// Work with reports: `report merge` adds HdrHistogram logs from many workers exactly.
    Report(report::ReportArgs),
}

impl Command {
    /// Commands that send one request at a time: a current-thread runtime avoids a cross-thread
    /// wake-up per request (measured: ~15% of a replay's time).
    pub(crate) fn sequential(&self) -> bool {
        matches!(
            self,
            Command::Run(_)
                | Command::Lint(_)
                | Command::Review(_)
                | Command::Import(_)
                | Command::Validate(_)
        )
    }

    pub(crate) async fn execute(self) -> anyhow::Result<u8> {
        match self {
            Command::Run(args) => run::run(*args).await,
            Command::Review(args) => review::review(args),
            Command::Sandbox(args) => sandbox::sandbox(*args).await,
            Command::Lint(args) => lint::lint(args),
            Command::Load(args) => load::load(*args).await,
            Command::Certify(args) => certify::certify(args).await,
            Command::Import(args) => import::import(args),
            Command::Record(args) => record::record(args).await,
            Command::Validate(args) => validate::validate(args),
            Command::Report(args) => report::report(args),
        }
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn print_scenario_errors(errors: &[emr_core::scenario::ScenarioError]) {
    let mut err = anstream::stderr();
    for e in errors {
        let _ = writeln!(err, "error: {e}\n");
    }
    let _ = writeln!(
        err,
        "{} problem(s) in scenario files; nothing was sent.",
        errors.len()
    );
}

pub(crate) fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    if k.is_empty() {
        return Err(format!("`{s}` has an empty name"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn rand_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// Prints the report files written (unless quiet).
fn print_written(written: &[std::path::PathBuf], quiet: bool) {
    if !quiet {
        for p in written {
            println!("report: {}", p.display());
        }
    }
}
