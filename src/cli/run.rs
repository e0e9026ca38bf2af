//! `emr-harness run`: replay scenarios against a FHIR target (and MLLP peer), check every
//! answer, write the report. Without --target an in-process sandbox EMR serves them.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use emr_core::report::ErrorKind;
use emr_core::scenario::load_paths;
use emr_runner::golden::store::{SnapshotMode, SnapshotStore};
use emr_runner::report::{self, Format};
use emr_runner::run::{RunOptions, Runner};

use super::args::{AuthArgs, FaultArgs, HttpTlsArgs, LimitArgs, MllpTlsArgs, OutputArgs};
use super::session::{interrupt_on_ctrl_c, Target};
use super::{
    in_ci, parse_var, print_scenario_errors, print_written, rand_seed, EXIT_FAILED,
    EXIT_INTERRUPTED, EXIT_UNREACHABLE, EXIT_USAGE,
};

#[derive(Args)]
pub(crate) struct RunArgs {
    /// Scenario files or folders (searched recursively for .yaml/.yml).
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// FHIR base URL, e.g. https://emr-test.example/fhir. Without it, an in-process sandbox is used.
    #[arg(long, env = "EMR_HARNESS_TARGET")]
    target: Option<url::Url>,
    /// Per-request timeout (HTTP response, MLLP ACK).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// HL7 v2 MLLP target for `hl7:` steps, host:port (default with the sandbox: its listener).
    #[arg(long, env = "EMR_HARNESS_MLLP")]
    mllp: Option<String>,
    #[command(flatten)]
    mllp_tls: MllpTlsArgs,
    /// Seed for generated test data (printed in every report, so a run can be reproduced).
    #[arg(long)]
    seed: Option<u64>,
    /// Define or override a variable: --var mrn=MRN123 (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Folder of golden files.
    #[arg(long, default_value = "golden")]
    golden: PathBuf,
    /// Write changed or missing golden files directly instead of `.snap.new` for review.
    #[arg(long)]
    update: bool,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: HttpTlsArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

pub(super) async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let ci = in_ci();
    if args.output.format.contains(&Format::Html) {
        anyhow::bail!("--format html is for load and certify reports; use json or junit here");
    }
    if ci && args.update {
        anyhow::bail!("--update writes golden files, which CI=true forbids; run it locally");
    }
    let opts = args
        .limits
        .load_options(args.vars.iter().cloned().collect());
    let scenarios = match load_paths(&args.paths, &opts) {
        Ok(s) => s,
        Err(errors) => {
            print_scenario_errors(&errors);
            return Ok(EXIT_USAGE);
        }
    };
    // No target: serve the scenarios from an in-process sandbox EMR, so the examples need no setup.
    let target = Target::resolve(args.target.clone(), args.faults.faults()).await?;
    let client = args
        .tls
        .fhir_client(target.url.clone(), args.timeout, &args.auth)
        .await?
        .with_max_body(args.limits.max_body_size);
    let needs_mllp = scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .any(|st| st.request.kind() == "hl7");
    let mllp = match target.mllp(args.mllp.clone()) {
        Some(addr) => Some(super::args::mllp::mllp_pool(addr, args.timeout, &args.mllp_tls)?),
        None if needs_mllp => anyhow::bail!("the scenarios have hl7 steps: give --mllp host:port (or drop --target to use the sandbox)"),
        None => None,
    };
    let mode = if ci {
        SnapshotMode::Ci
    } else if args.update {
        SnapshotMode::Update
    } else {
        SnapshotMode::Review
    };
    let runner = Runner::new(
        client,
        mllp,
        RunOptions {
            timeout: args.timeout,
            seed: args.seed.unwrap_or_else(rand_seed),
            checks: true,
            snapshots: Some(SnapshotStore {
                dir: args.golden.clone(),
                mode,
            }),
            limits: args.limits.limits(),
        },
        interrupt_on_ctrl_c("finishing the report"),
    );
    let mut report = runner.run_all(&scenarios).await;
    report.tls_insecure = args.tls.insecure || args.mllp_tls.mllp_insecure;
    target.stop().await;

    if !args.output.quiet {
        let table = emr_core::secret::scrub(&report::table::render(&report, true));
        let _ = write!(anstream::stdout(), "{table}");
    } else if !report.all_passed() {
        let failures = emr_core::secret::scrub(&report::table::render_failures(&report));
        let _ = write!(anstream::stderr(), "{failures}");
    }
    let written = report::write_files(&report, &args.output.format, &args.output.out_dir)
        .with_context(|| format!("writing reports into {}", args.output.out_dir.display()))?;
    print_written(&written, args.output.quiet);

    let kinds: Vec<ErrorKind> = report.errors().map(|e| e.kind).collect();
    Ok(if kinds.contains(&ErrorKind::Scenario) {
        EXIT_USAGE
    } else if kinds.contains(&ErrorKind::Connect) || kinds.contains(&ErrorKind::Tls) {
        EXIT_UNREACHABLE
    } else if report.partial {
        EXIT_INTERRUPTED
    } else if report.all_passed() {
        0
    } else {
        EXIT_FAILED
    })
}
