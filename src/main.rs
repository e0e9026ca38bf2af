//! The command line: parse arguments, call the library, map the outcome to an exit code.
//! Exit codes: 0 all passed · 1 a check failed · 2 bad usage or scenario file · 3 target unreachable.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod cli_auth;
mod cli_limits;
mod cli_tls;
mod cmd_certify;
mod cmd_import;
mod cmd_record;
mod cmd_validate;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use emr_harness::check::review;
use emr_harness::check::snapshot::{SnapshotMode, SnapshotStore};
use emr_harness::fhir::FhirClient;
use emr_harness::mllp::tls::TlsOptions;
use emr_harness::mllp::{MllpConfig, MllpPool};
use emr_harness::report::{self, model::ErrorKind, Format};
use emr_harness::run::{RunOptions, Runner};
use emr_harness::sandbox::{self, Faults, SandboxConfig};
use emr_harness::scenario::load_paths;

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_UNREACHABLE: u8 = 3;
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "emr-harness",
    version,
    about = "Conformance and load-testing harness for EMR integration endpoints (FHIR R4 REST, HL7 v2 over MLLP)"
)]
struct Cli {
    /// More logging on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Worker threads for load, sandbox, certify and record [default: the cores this process
    /// may use]; run, lint, review, import and validate always use one. 1 runs everything on one
    /// thread, which is cheaper per request when one core is all there is (a container's quota,
    /// `taskset`).
    #[arg(short = 'j', long, global = true, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay scenarios against a FHIR target (the embedded sandbox when no --target is given).
    Run(Box<RunArgs>),
    /// Accept or reject pending snapshots (`.snap.new`) in the golden folder.
    Review(ReviewArgs),
    /// Run the embedded sandbox EMR in the foreground.
    Sandbox(Box<SandboxArgs>),
    /// Load and validate scenario files without sending anything.
    Lint(LintArgs),
    /// Drive load from a profile (profiles/*.yaml): open or closed model, HdrHistogram metrics, SLOs.
    Load(Box<LoadArgs>),
    /// Run a built-in conformance suite: `certify fhir` (R4 REST API), `certify hl7` (ACK rules, MLLP).
    Certify(cmd_certify::CertifyArgs),
    /// Validate FHIR R4 resources in JSON files (typed model + round trip, as every check does).
    Validate(cmd_validate::ValidateArgs),
    /// Record live traffic into a scenario: a proxy between a client and the EMR (http, mllp).
    Record(cmd_record::RecordArgs),
    /// Convert other formats into scenario files: testscript, har, hl7.
    Import(cmd_import::ImportArgs),
    /// Work with reports: `report merge` adds HdrHistogram logs from many workers exactly.
    Report(ReportArgs),
}

#[derive(Args)]
struct LoadArgs {
    /// The load profile.
    profile: PathBuf,
    /// FHIR base URL (overrides the profile's; default: the embedded sandbox).
    #[arg(long, env = "EMR_HARNESS_TARGET")]
    target: Option<url::Url>,
    /// MLLP host:port for hl7 steps (overrides the profile's).
    #[arg(long)]
    mllp: Option<String>,
    /// Allow a target that is not on this machine (load against someone's server is a decision).
    #[arg(long)]
    allow_remote: bool,
    /// Override the profile's duration (constant-rate profiles only).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Override the profile's arrival rate (iterations/s) or users.
    #[arg(long)]
    rate: Option<f64>,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// This worker's index, for a load split across processes or machines.
    #[arg(long, default_value_t = 0)]
    worker_index: usize,
    /// How many workers share the load (each takes 1/N of the rate, users and data space).
    #[arg(long, default_value_t = 1)]
    worker_count: usize,
    #[arg(long)]
    seed: Option<u64>,
    /// Report files to write beside the HdrHistogram log (json, junit).
    #[arg(long, value_enum, value_delimiter = ',')]
    format: Vec<Format>,
    #[arg(long, default_value = "reports")]
    out_dir: PathBuf,
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    mllp_tls: MllpTlsArgs,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    auth: cli_auth::AuthArgs,
    #[command(flatten)]
    tls: cli_tls::HttpTlsArgs,
    #[command(flatten)]
    limits: cli_limits::LimitArgs,
}

#[derive(Args)]
struct ReportArgs {
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

#[derive(Args)]
struct RunArgs {
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
    /// Report formats to write into --out-dir (the table is always printed unless --quiet).
    #[arg(long, value_enum, value_delimiter = ',')]
    format: Vec<Format>,
    /// Folder for report files.
    #[arg(long, alias = "out", default_value = "reports")]
    out_dir: PathBuf,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    auth: cli_auth::AuthArgs,
    #[command(flatten)]
    tls: cli_tls::HttpTlsArgs,
    #[command(flatten)]
    limits: cli_limits::LimitArgs,
}

/// TLS for MLLP (verification is on unless --mllp-insecure).
#[derive(Args, Clone)]
struct MllpTlsArgs {
    /// Wrap MLLP in TLS.
    #[arg(long)]
    mllp_tls: bool,
    /// PEM CA bundle to trust for the MLLP peer (implies --mllp-tls).
    #[arg(long)]
    mllp_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --mllp-key).
    #[arg(long, requires = "mllp_key")]
    mllp_cert: Option<PathBuf>,
    #[arg(long, requires = "mllp_cert")]
    mllp_key: Option<PathBuf>,
    /// Accept any MLLP server certificate (named in the report). Never use against real systems.
    #[arg(long)]
    mllp_insecure: bool,
    /// Largest MLLP frame accepted, in bytes.
    #[arg(long, default_value_t = emr_harness::mllp::codec::DEFAULT_MAX_FRAME)]
    mllp_max_frame: usize,
}

/// The MLLP connection pool for `addr`, with the run's timeout and TLS settings.
fn mllp_pool(addr: String, timeout: Duration, tls: &MllpTlsArgs) -> anyhow::Result<MllpPool> {
    let mut cfg = MllpConfig::new(addr);
    cfg.read_timeout = timeout;
    cfg.max_frame = tls.mllp_max_frame;
    cfg.tls = tls.options();
    MllpPool::new(cfg).map_err(|e| anyhow::anyhow!("{e}"))
}

impl MllpTlsArgs {
    fn options(&self) -> Option<TlsOptions> {
        let wanted = self.mllp_tls
            || self.mllp_ca.is_some()
            || self.mllp_cert.is_some()
            || self.mllp_insecure;
        wanted.then(|| TlsOptions {
            ca_file: self.mllp_ca.clone(),
            client_cert: self.mllp_cert.clone(),
            client_key: self.mllp_key.clone(),
            insecure: self.mllp_insecure,
            server_name: None,
        })
    }
}

#[derive(Args)]
struct ReviewArgs {
    #[arg(long, default_value = "golden")]
    golden: PathBuf,
    /// Accept every pending snapshot without asking.
    #[arg(long, conflicts_with = "reject_all")]
    accept_all: bool,
    /// Reject (delete) every pending snapshot without asking.
    #[arg(long)]
    reject_all: bool,
}

#[derive(Args)]
struct SandboxArgs {
    /// Address to bind. Loopback by default: the sandbox holds test data and has no auth.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
    /// Address of the MLLP listener (HL7 v2).
    #[arg(long, default_value = "127.0.0.1:2575")]
    mllp_bind: std::net::SocketAddr,
    /// Serve MLLP over TLS with this PEM certificate chain (with --mllp-tls-key).
    #[arg(long, requires = "mllp_tls_key")]
    mllp_tls_cert: Option<PathBuf>,
    #[arg(long, requires = "mllp_tls_cert")]
    mllp_tls_key: Option<PathBuf>,
    /// Require MLLP client certificates signed by this PEM CA (mutual TLS).
    #[arg(long, requires = "mllp_tls_cert")]
    mllp_tls_client_ca: Option<PathBuf>,
    /// Serve the FHIR API over HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require HTTPS client certificates signed by this PEM CA (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    #[command(flatten)]
    faults: FaultArgs,
    /// Auth mode: a client id allowed client credentials, ID=VAR (its secret from the environment).
    #[arg(long, value_name = "ID=VAR", value_parser = parse_var, help_heading = "Auth mode")]
    auth_client_secret: Vec<(String, String)>,
    /// Auth mode: a SMART Backend Services client, ID=FILE (its PEM public key).
    #[arg(long, value_name = "ID=FILE", value_parser = parse_var, help_heading = "Auth mode")]
    auth_client_key: Vec<(String, String)>,
    /// Auth mode: an HTTP basic user, USER=VAR (the password from the environment).
    #[arg(long, value_name = "USER=VAR", value_parser = parse_var, help_heading = "Auth mode")]
    auth_basic_user: Vec<(String, String)>,
    /// Auth mode: lifetime of the access tokens it issues.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration, help_heading = "Auth mode")]
    auth_token_lifetime: Duration,
    /// Open connections at once, per listener (FHIR, MLLP); beyond it new ones wait.
    #[arg(long, default_value_t = 10_000, help_heading = "Limits")]
    max_connections: usize,
    /// Time a client has to send a request head (also the keep-alive idle time).
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration, help_heading = "Limits")]
    header_timeout: Duration,
    /// Time an MLLP connection may stay without a complete message.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration, help_heading = "Limits")]
    mllp_idle_timeout: Duration,
    /// Resource versions the store holds before it answers 507 Insufficient Storage.
    #[arg(long, default_value_t = emr_harness::sandbox::store::DEFAULT_MAX_VERSIONS, help_heading = "Limits")]
    store_max_versions: usize,
}

/// Fault injection for the sandbox (also for the in-process sandbox of `run`).
#[derive(Args, Clone)]
struct FaultArgs {
    /// Add this latency to every response (e.g. 50ms).
    #[arg(long = "fault-latency", value_parser = humantime::parse_duration)]
    latency: Option<Duration>,
    /// Fraction (0..1) of requests answered 500 with an OperationOutcome.
    #[arg(long = "fault-error-rate", default_value_t = 0.0)]
    error_rate: f64,
    /// Fraction (0..1) of connections dropped mid-response.
    #[arg(long = "fault-drop-rate", default_value_t = 0.0)]
    drop_rate: f64,
    /// Fraction (0..1) of responses with a truncated (invalid) JSON body.
    #[arg(long = "fault-malformed-rate", default_value_t = 0.0)]
    malformed_rate: f64,
    /// Fraction (0..1) of responses sent as text/html.
    #[arg(long = "fault-wrong-content-type-rate", default_value_t = 0.0)]
    wrong_content_type_rate: f64,
    /// Fraction (0..1) of HL7 messages answered AE instead of processed (MLLP listener).
    #[arg(long = "fault-nak-rate", default_value_t = 0.0)]
    nak_rate: f64,
    /// A periodic stall, PAUSE/EVERY (e.g. 1s/10s): no answers for PAUSE once every EVERY.
    #[arg(long = "fault-stall", value_parser = parse_stall)]
    stall: Option<(Duration, Duration)>,
    /// Break one conformance rule on every answer (repeatable), to see a certify check catch it.
    #[arg(long = "fault-break", value_enum)]
    broken: Vec<emr_harness::sandbox::fault::Rule>,
}

fn parse_stall(s: &str) -> Result<(Duration, Duration), String> {
    let (a, b) = s
        .split_once('/')
        .ok_or("expected PAUSE/EVERY, e.g. 1s/10s")?;
    let pause = humantime::parse_duration(a).map_err(|e| e.to_string())?;
    let every = humantime::parse_duration(b).map_err(|e| e.to_string())?;
    if pause >= every {
        return Err("the pause must be shorter than the period".into());
    }
    Ok((pause, every))
}

impl FaultArgs {
    fn faults(&self) -> Faults {
        Faults {
            latency: self.latency.unwrap_or_default(),
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            malformed_rate: self.malformed_rate,
            wrong_content_type_rate: self.wrong_content_type_rate,
            nak_rate: self.nak_rate,
            stall_for: self.stall.map(|s| s.0).unwrap_or_default(),
            stall_every: self.stall.map(|s| s.1).unwrap_or_default(),
            broken: self.broken.clone(),
        }
    }
}

#[derive(Args)]
struct LintArgs {
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    limits: cli_limits::LimitArgs,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    if k.is_empty() {
        return Err(format!("`{s}` has an empty name"));
    }
    Ok((k.to_string(), v.to_string()))
}

// glibc malloc was a seventh of the client's CPU under load (many small, short-lived buffers per
// request); mimalloc handles that pattern with thread-local free lists.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // A conformance run is sequential: one thread avoids a cross-thread wake-up per request
    // (measured: ~15% of a replay's time). Load and the sandbox use every core they may, and on
    // one core a multi-thread scheduler only adds those wake-ups: a max-rate load run pinned to
    // one core spent 5-10% less CPU per request on a current-thread runtime.
    let threads = cli.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let mut builder = match cli.command {
        Command::Run(_)
        | Command::Lint(_)
        | Command::Review(_)
        | Command::Import(_)
        | Command::Validate(_) => tokio::runtime::Builder::new_current_thread(),
        _ if threads == 1 => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(threads);
            b
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(*args).await,
            Command::Review(args) => review_cmd(args),
            Command::Sandbox(args) => sandbox_cmd(*args).await,
            Command::Lint(args) => lint(args),
            Command::Load(args) => load_cmd(*args).await,
            Command::Certify(args) => cmd_certify::certify_cmd(args).await,
            Command::Import(args) => cmd_import::import_cmd(args),
            Command::Record(args) => cmd_record::record_cmd(args).await,
            Command::Validate(args) => cmd_validate::validate_cmd(args),
            Command::Report(ReportArgs {
                command:
                    ReportCommand::Merge {
                        logs,
                        format,
                        out_dir,
                    },
            }) => merge_cmd(logs, format, out_dir),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| emr_harness::auth::secret::ScrubbingWriter(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn print_scenario_errors(errors: &[emr_harness::scenario::ScenarioError]) {
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

fn lint(args: LintArgs) -> anyhow::Result<u8> {
    match load_paths(&args.paths, &args.limits.load_options(Default::default())) {
        Ok(s) => {
            let steps: usize = s.iter().map(|s| s.steps.len()).sum();
            // What leaves this machine besides the steps themselves: worth a look in a shared file.
            for sc in &s {
                if !sc.reads_env.is_empty() {
                    println!(
                        "{}: reads environment variables {} (sent as written, redacted in reports)",
                        sc.path.display(),
                        sc.reads_env.join(", ")
                    );
                }
                for f in &sc.reads_files {
                    println!("{}: reads {}", sc.path.display(), f.display());
                }
            }
            println!("{} scenario(s), {steps} step(s): OK", s.len());
            Ok(0)
        }
        Err(errors) => {
            print_scenario_errors(&errors);
            Ok(EXIT_USAGE)
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let ci = in_ci();
    if args.format.contains(&Format::Html) {
        anyhow::bail!(
            "--format html is for load reports (`emr-harness load`); use json or junit here"
        );
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
    let faults = args.faults.faults();
    let (sandbox, target) = match &args.target {
        Some(t) => {
            if faults.any() {
                anyhow::bail!(
                    "--fault-* options apply to the built-in sandbox; drop them or drop --target"
                );
            }
            (None, t.clone())
        }
        None => {
            let (sb, url) = start_sandbox(faults).await?;
            (Some(sb), url)
        }
    };

    let client = crate::cli_tls::fhir_client(target, args.timeout, &args.tls, &args.auth)
        .await?
        .with_max_body(args.limits.max_body_size);
    let mllp_addr = args.mllp.clone().or_else(|| {
        sandbox
            .as_ref()
            .and_then(|s| s.mllp_addr)
            .map(|a| a.to_string())
    });
    let needs_mllp = scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .any(|st| st.request.kind() == "hl7");
    let mllp = match mllp_addr {
        Some(addr) => Some(mllp_pool(addr, args.timeout, &args.mllp_tls)?),
        None if needs_mllp => anyhow::bail!("the scenarios have hl7 steps: give --mllp host:port (or drop --target to use the sandbox)"),
        None => None,
    };
    let seed = args.seed.unwrap_or_else(rand_seed);
    let mode = if ci {
        SnapshotMode::Ci
    } else if args.update {
        SnapshotMode::Update
    } else {
        SnapshotMode::Review
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: finishing the report (Ctrl-C again to quit at once)");
            let _ = stop_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    let runner = Runner::new(
        client,
        mllp,
        RunOptions {
            timeout: args.timeout,
            seed,
            checks: true,
            snapshots: Some(SnapshotStore {
                dir: args.golden.clone(),
                mode,
            }),
            limits: args.limits.limits(),
        },
        stop_rx,
    );
    let mut report = runner.run_all(&scenarios).await;
    report.tls_insecure = args.tls.insecure || args.mllp_tls.mllp_insecure;
    if let Some(sb) = sandbox {
        sb.stop().await;
    }

    if !args.quiet {
        let mut out = anstream::stdout();
        let table = emr_harness::auth::secret::scrub(&report::table::render(&report, true));
        let _ = write!(out, "{table}");
    } else if !report.all_passed() {
        let failures = emr_harness::auth::secret::scrub(&report::table::render_failures(&report));
        let _ = write!(anstream::stderr(), "{failures}");
    }
    let written = report::write_files(&report, &args.format, &args.out_dir)
        .with_context(|| format!("writing reports into {}", args.out_dir.display()))?;
    if !args.quiet {
        for p in written {
            println!("report: {}", p.display());
        }
    }

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

/// The embedded sandbox on loopback, for runs without a target.
async fn start_sandbox(faults: Faults) -> anyhow::Result<(sandbox::RunningSandbox, url::Url)> {
    let sb = sandbox::start(SandboxConfig {
        faults,
        ..SandboxConfig::default()
    })
    .await
    .context("starting the sandbox EMR")?;
    let url = url::Url::parse(&sb.base_url).context("sandbox URL")?;
    Ok((sb, url))
}

fn rand_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

fn review_cmd(args: ReviewArgs) -> anyhow::Result<u8> {
    let pending = review::find_pending(&args.golden)
        .with_context(|| format!("reading {}", args.golden.display()))?;
    if pending.is_empty() {
        println!("no pending snapshots in {}", args.golden.display());
        return Ok(0);
    }
    if args.accept_all || args.reject_all {
        let decision = if args.accept_all {
            review::Decision::Accept
        } else {
            review::Decision::Reject
        };
        for p in &pending {
            review::apply(p, decision)
                .with_context(|| format!("applying to {}", p.pending.display()))?;
            println!(
                "{} {}",
                if args.accept_all {
                    "accepted"
                } else {
                    "rejected"
                },
                p.golden.display()
            );
        }
        return Ok(0);
    }
    if !std::io::stdin().is_terminal() {
        // Like cargo-insta: never guess a decision without a person at the keyboard.
        println!("{} pending snapshot(s):", pending.len());
        for p in &pending {
            println!("  {}", p.pending.display());
        }
        println!("run `emr-harness review` in a terminal, or `emr-harness review --accept-all` / `--reject-all`");
        return Ok(EXIT_FAILED);
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = anstream::stdout();
    let (a, r, s) = review::interactive(&pending, &mut input, &mut out, true)?;
    println!("\naccepted {a}, rejected {r}, skipped {s}");
    Ok(if s > 0 { EXIT_FAILED } else { 0 })
}

async fn sandbox_cmd(args: SandboxArgs) -> anyhow::Result<u8> {
    for (what, addr) in [("FHIR API", args.bind), ("MLLP listener", args.mllp_bind)] {
        if !addr.ip().is_loopback() {
            eprintln!(
                "warning: binding the {what} on {addr} exposes the sandbox (no auth, test data) beyond this machine"
            );
        }
    }
    let sb = sandbox::start(SandboxConfig {
        bind: args.bind,
        mllp_bind: Some(args.mllp_bind),
        mllp_tls: args
            .mllp_tls_cert
            .clone()
            .zip(args.mllp_tls_key.clone())
            .map(|(c, k)| (c, k, args.mllp_tls_client_ca.clone())),
        faults: args.faults.faults(),
        tls: args
            .tls_cert
            .clone()
            .zip(args.tls_key.clone())
            .map(|(c, k)| (c, k, args.tls_client_ca.clone())),
        auth: sandbox_auth(&args)?,
        conn_limits: sandbox::serve::ConnLimits {
            max_connections: args.max_connections,
            header_timeout: args.header_timeout,
            mllp_idle_timeout: args.mllp_idle_timeout,
        },
        max_versions: args.store_max_versions,
        ..SandboxConfig::default()
    })
    .await
    .with_context(|| format!("binding {}", args.bind))?;
    // Written with `writeln!`, not `println!`: a reader that went away must not crash the server.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "sandbox EMR: FHIR R4 base {}", sb.base_url);
    if let Some(m) = sb.mllp_addr {
        let _ = writeln!(out, "sandbox EMR: HL7 v2 MLLP on {m}");
    }
    if let Some(a) = &sb.auth {
        let _ = writeln!(
            out,
            "sandbox EMR: auth mode, token endpoint {}",
            a.token_url
        );
    }
    let _ = writeln!(out, "press Ctrl-C to stop");
    let _ = out.flush();
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sb.stop().await;
    Ok(0)
}

/// The sandbox's auth mode from its flags; `None` when none is given.
fn sandbox_auth(args: &SandboxArgs) -> anyhow::Result<Option<sandbox::auth::SandboxAuth>> {
    use emr_harness::auth::secret_from_env;
    use sandbox::auth::{AuthClient, SandboxAuth};
    if args.auth_client_secret.is_empty()
        && args.auth_client_key.is_empty()
        && args.auth_basic_user.is_empty()
    {
        return Ok(None);
    }
    let mut clients = Vec::new();
    for (id, var) in &args.auth_client_secret {
        clients.push(AuthClient {
            id: id.clone(),
            secret: Some(secret_from_env(var)?.expose().to_string()),
            public_key_pem: None,
        });
    }
    for (id, file) in &args.auth_client_key {
        let pem = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        clients.push(AuthClient {
            id: id.clone(),
            secret: None,
            public_key_pem: Some(pem),
        });
    }
    let mut basic_users = Vec::new();
    for (user, var) in &args.auth_basic_user {
        basic_users.push((user.clone(), secret_from_env(var)?.expose().to_string()));
    }
    Ok(Some(SandboxAuth {
        clients,
        basic_users,
        token_lifetime: args.auth_token_lifetime,
    }))
}

async fn load_cmd(args: LoadArgs) -> anyhow::Result<u8> {
    use emr_harness::load::{self, profile, report as lreport, Driver, Worker};
    let mut prof = match profile::load(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            print_scenario_errors(&[e]);
            return Ok(EXIT_USAGE);
        }
    };
    if args.worker_count == 0 || args.worker_index >= args.worker_count {
        anyhow::bail!(
            "--worker-index must be below --worker-count (got {} of {})",
            args.worker_index,
            args.worker_count
        );
    }
    if let Some(d) = args.duration {
        prof.duration = Some(d);
        prof.stages.clear();
    }
    if let Some(r) = args.rate {
        prof.rate = Some(r);
        prof.users = Some(r.max(1.0) as usize);
        prof.stages.clear();
    }
    let base = args.profile.parent().unwrap_or(std::path::Path::new("."));
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for mix in &prof.scenarios {
        match load_paths(
            &[base.join(&mix.path)],
            &args.limits.load_options(Default::default()),
        ) {
            Ok(list) => scenarios.extend(
                list.into_iter()
                    .map(|s| (std::sync::Arc::new(s), mix.weight)),
            ),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        print_scenario_errors(&errors);
        return Ok(EXIT_USAGE);
    }

    let faults = args.faults.faults();
    let target = args
        .target
        .clone()
        .map(Ok)
        .or_else(|| prof.target.as_deref().map(url::Url::parse))
        .transpose()
        .with_context(|| format!("{}: `target` is not a URL", args.profile.display()))?;
    let (sandbox, target) = match target {
        Some(t) => (None, t),
        None => {
            let (sb, url) = start_sandbox(faults).await?;
            (Some(sb), url)
        }
    };
    let mllp_addr = args.mllp.clone().or(prof.mllp.clone()).or_else(|| {
        sandbox
            .as_ref()
            .and_then(|s| s.mllp_addr)
            .map(|a| a.to_string())
    });
    // Safety: sending load to someone else's server is a decision, never a default, and it is
    // the operator's: a shared profile cannot make it for them.
    if prof.allow_remote && !args.allow_remote {
        eprintln!(
            "error: {}: `allow_remote: true` needs --allow-remote on the command line too \
             (a shared profile cannot opt you in to loading another host)",
            args.profile.display()
        );
        return Ok(EXIT_USAGE);
    }
    let allow_remote = args.allow_remote;
    // Every host the run can be seen to contact before it starts: the target, the MLLP peer, the
    // token endpoint, absolute URLs written in the scenarios. Hosts learnt later (a `next`
    // link, a templated URL) meet the same rule in the client, before any connection.
    let mut hosts = vec![target.host_str().unwrap_or_default().to_string()];
    hosts.extend(
        mllp_addr
            .iter()
            .map(|a| load::safety::host_of(a).to_string()),
    );
    hosts.extend(
        args.auth
            .oauth_token_url
            .iter()
            .filter_map(|u| u.host_str().map(str::to_string)),
    );
    hosts.extend(scenarios.iter().flat_map(|(s, _)| s.absolute_hosts()));
    for host in hosts {
        if !allow_remote && !load::safety::is_loopback_host(&host).await {
            eprintln!(
                "error: `{host}` is not on this machine; load against it needs --allow-remote"
            );
            return Ok(EXIT_USAGE);
        }
    }
    let auth = args.auth.build(&target).await?;
    if let Some(token_url) = auth.token_url() {
        let host = token_url.host_str().unwrap_or_default();
        if !allow_remote && !load::safety::is_loopback_host(host).await {
            eprintln!("error: the token endpoint `{token_url}` is not on this machine; load needs --allow-remote");
            return Ok(EXIT_USAGE);
        }
    }
    let client = FhirClient::for_load(target.clone(), args.timeout, args.tls.options().as_ref())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_max_body(args.limits.max_body_size)
        .with_credential_origins(args.auth.origins())
        .with_remote_guard(std::sync::Arc::new(
            emr_harness::fhir::origin::RemoteGuard::new(allow_remote),
        ))
        .with_auth(auth);
    let mllp = match &mllp_addr {
        Some(a) => Some(mllp_pool(a.clone(), args.timeout, &args.mllp_tls)?),
        None => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\ninterrupted: stopping, draining in-flight requests, writing a partial report"
            );
            let _ = stop_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    let runner = std::sync::Arc::new(Runner::new(
        client,
        mllp,
        RunOptions {
            timeout: args.timeout,
            seed: args.seed.unwrap_or_else(rand_seed),
            snapshots: None,
            checks: prof.checks,
            limits: args.limits.limits(),
        },
        stop_rx.clone(),
    ));
    let live = std::sync::Arc::new(load::driver::Live::default());
    let progress = (!args.quiet && std::io::stderr().is_terminal())
        .then(|| load_progress(live.clone(), prof.total_duration()));
    let started_system = std::time::SystemTime::now();
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let suffix = if args.worker_count > 1 {
        format!("-worker{}", args.worker_index)
    } else {
        String::new()
    };
    let hlog = args.out_dir.join(format!("load{suffix}.hlog"));
    let log = lreport::LiveLog::create(&hlog, started_system).map_err(|e| anyhow::anyhow!(e))?;
    let outcome = Driver {
        profile: prof.clone(),
        scenarios,
        runner,
        worker: Worker {
            index: args.worker_index,
            count: args.worker_count,
        },
        interrupt: stop_rx,
        drain: args.timeout.min(Duration::from_secs(10)),
        live,
        log: Some(log),
    }
    .run()
    .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: the closed model could not start: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    if let Some((bar, task)) = progress {
        task.abort();
        bar.finish_and_clear();
    }
    if let Some(sb) = sandbox {
        sb.stop().await;
    }
    let report = lreport::build(
        lreport::ReportInput {
            profile: &prof,
            target: target.to_string(),
            started_at: outcome
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            elapsed: outcome.elapsed,
            partial: outcome.partial,
            workers: args.worker_count,
        },
        &outcome.metrics,
    );
    if !args.quiet {
        let table = emr_harness::auth::secret::scrub(&lreport::render_table(&report));
        let _ = write!(anstream::stdout(), "{table}");
    } else {
        let mut err = anstream::stderr();
        for slo in report.slos.iter().filter(|s| !s.passed) {
            let _ = writeln!(err, "SLO failed: {} (actual {})", slo.name, slo.actual);
        }
    }
    let mut written = vec![hlog];
    for f in &args.format {
        let (name, content) = match f {
            Format::Table => continue,
            Format::Json => (
                format!("load-report{suffix}.json"),
                serde_json::to_string_pretty(&report)?,
            ),
            Format::Junit => (
                format!("load-junit{suffix}.xml"),
                lreport::to_junit(&report)?,
            ),
            Format::Html => (
                format!("load-report{suffix}.html"),
                emr_harness::load::html::render(&report).map_err(|e| anyhow::anyhow!(e))?,
            ),
        };
        let path = args.out_dir.join(name);
        emr_harness::check::snapshot::write_atomically(&path, &content)?;
        written.push(path);
    }
    if !args.quiet {
        for p in written {
            println!("report: {}", p.display());
        }
    }
    Ok(if report.slos.iter().any(|s| !s.passed) {
        EXIT_FAILED
    } else if report.partial {
        EXIT_INTERRUPTED
    } else {
        0
    })
}

/// A progress bar on stderr (only on a terminal): elapsed and remaining time, requests, the
/// current rate, the last second's p99, errors and in-flight iterations.
fn load_progress(
    live: std::sync::Arc<emr_harness::load::driver::Live>,
    total: Duration,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    use std::sync::atomic::Ordering::Relaxed;
    let bar = indicatif::ProgressBar::new(total.as_millis() as u64);
    // A constant template: it always parses; fall back to the default style just in case.
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {eta} left  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let shown = bar.clone();
    let task = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let mut last = 0u64;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let req = live.requests.load(Relaxed);
            shown.set_position(started.elapsed().as_millis() as u64);
            shown.set_message(format!(
                "{req} req  {} req/s  p99 {:.1} ms  {} errors  {} in flight",
                req - last,
                live.p99_last_second_us.load(Relaxed) as f64 / 1000.0,
                live.errors.load(Relaxed),
                live.in_flight.load(Relaxed),
            ));
            last = req;
        }
    });
    (bar, task)
}

fn merge_cmd(logs: Vec<PathBuf>, format: Vec<Format>, out_dir: PathBuf) -> anyhow::Result<u8> {
    use emr_harness::load::report as lreport;
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
        emr_harness::check::snapshot::write_atomically(
            &path,
            &serde_json::to_string_pretty(&report)?,
        )?;
        let _ = writeln!(out, "report: {}", path.display());
    }
    Ok(0)
}
