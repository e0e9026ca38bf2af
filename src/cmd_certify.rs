//! `emr-harness certify ...`: runs a built-in conformance suite and writes its report.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use emr_harness::certify::{self, report as creport, CertReport, Verdict};
use emr_harness::check::snapshot::write_atomically;
use emr_harness::mllp::MllpConfig;
use emr_harness::report::Format;

use super::{start_sandbox, FaultArgs, MllpTlsArgs, EXIT_FAILED, EXIT_UNREACHABLE};

#[derive(Args)]
pub struct CertifyArgs {
    #[command(subcommand)]
    suite: Suite,
}

#[derive(Subcommand)]
enum Suite {
    /// FHIR R4 RESTful API: the checks follow what the server's CapabilityStatement declares.
    Fhir(Box<FhirArgs>),
    /// HL7 v2 acknowledgement rules (original and enhanced mode) and MLLP transport behaviour.
    Hl7(Box<Hl7Args>),
}

#[derive(Args)]
struct Hl7Args {
    /// MLLP endpoint, host:port. Without it, the embedded sandbox's listener is certified.
    #[arg(long, env = "EMR_HARNESS_MLLP")]
    mllp: Option<String>,
    /// How long to wait for each ACK.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    tls: MllpTlsArgs,
    #[command(flatten)]
    faults: FaultArgs,
}

#[derive(Args)]
struct FhirArgs {
    /// FHIR base URL. Without it, the embedded sandbox is certified.
    #[arg(long, env = "EMR_HARNESS_TARGET")]
    target: Option<url::Url>,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    auth: crate::cli_auth::AuthArgs,
    #[command(flatten)]
    tls: crate::cli_tls::HttpTlsArgs,
    /// Largest response body read, counted after decompression (e.g. 64MB, 512KB).
    #[arg(long, value_name = "SIZE", default_value = "64MB", value_parser = emr_harness::limits::parse_size)]
    max_body_size: usize,
}

#[derive(Args)]
struct OutArgs {
    /// Report files to write into --out-dir: json, junit, html (the table is always printed
    /// unless --quiet).
    #[arg(long, value_enum, value_delimiter = ',')]
    format: Vec<Format>,
    /// Folder for report files.
    #[arg(long, alias = "out", default_value = "reports")]
    out_dir: PathBuf,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

pub async fn certify_cmd(args: CertifyArgs) -> anyhow::Result<u8> {
    match args.suite {
        Suite::Fhir(a) => fhir(*a).await,
        Suite::Hl7(a) => hl7(*a).await,
    }
}

async fn fhir(args: FhirArgs) -> anyhow::Result<u8> {
    let faults = args.faults.faults();
    let (sandbox, target) = match &args.target {
        Some(t) if faults.any() => {
            anyhow::bail!("--fault-* options apply to the built-in sandbox; drop them or drop --target (certifying {t})")
        }
        Some(t) => (None, t.clone()),
        None => {
            let (sb, url) = start_sandbox(faults).await?;
            (Some(sb), url)
        }
    };
    let client = crate::cli_tls::fhir_client(target, args.timeout, &args.tls, &args.auth)
        .await?
        .with_max_body(args.max_body_size);
    let mut report = certify::fhir::run(client).await;
    report.tls_insecure = args.tls.insecure;
    if let Some(sb) = sandbox {
        sb.stop().await;
    }
    finish(&report, "fhir", &args.out)
}

async fn hl7(args: Hl7Args) -> anyhow::Result<u8> {
    let faults = args.faults.faults();
    let (sandbox, addr) = match &args.mllp {
        Some(addr) if faults.any() => {
            anyhow::bail!("--fault-* options apply to the built-in sandbox; drop them or drop --mllp (certifying {addr})")
        }
        Some(addr) => (None, addr.clone()),
        None => {
            let (sb, _) = start_sandbox(faults).await?;
            let addr = sb
                .mllp_addr
                .map(|a| a.to_string())
                .context("the sandbox started without its MLLP listener")?;
            (Some(sb), addr)
        }
    };
    let mut config = MllpConfig::new(addr);
    config.read_timeout = args.timeout;
    config.connect_timeout = args.timeout;
    config.max_frame = args.tls.mllp_max_frame;
    config.tls = args.tls.options();
    let report = certify::hl7::run(config).await;
    if let Some(sb) = sandbox {
        sb.stop().await;
    }
    finish(&report, "hl7", &args.out)
}

/// Prints the table, writes the report files, and picks the exit code.
fn finish(report: &CertReport, suite: &str, out: &OutArgs) -> anyhow::Result<u8> {
    if !out.quiet {
        let table = emr_harness::auth::secret::scrub(&creport::table(report));
        let _ = write!(anstream::stdout(), "{table}");
    } else {
        let mut err = anstream::stderr();
        for c in report
            .checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error))
        {
            let line = format!("{:?} {}: {}", c.verdict, c.id, c.reason);
            let _ = writeln!(err, "{}", emr_harness::auth::secret::scrub(&line));
        }
    }
    let mut written = Vec::new();
    if out.format.iter().any(|f| *f != Format::Table) {
        std::fs::create_dir_all(&out.out_dir)
            .with_context(|| format!("creating {}", out.out_dir.display()))?;
    }
    for f in &out.format {
        let (name, content) = match f {
            Format::Table => continue,
            Format::Json => (format!("certify-{suite}.json"), creport::json(report)?),
            Format::Junit => (
                format!("certify-{suite}-junit.xml"),
                creport::junit(report)?,
            ),
            Format::Html => (
                format!("certify-{suite}.html"),
                creport::html(report).map_err(|e| anyhow::anyhow!(e))?,
            ),
        };
        let path = out.out_dir.join(name);
        write_atomically(&path, &content).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    if !out.quiet {
        for p in written {
            println!("report: {}", p.display());
        }
    }
    Ok(if report.passed() {
        0
    } else if report.checks.iter().all(|c| c.verdict == Verdict::Error) {
        EXIT_UNREACHABLE
    } else {
        EXIT_FAILED
    })
}
