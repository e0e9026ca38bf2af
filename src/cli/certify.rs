//! `emr-harness certify ...`: runs a built-in conformance suite and writes its report.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use emr_runner::certify::{self, report as creport, CertReport, Verdict};
use emr_transport::mllp::MllpConfig;

use super::args::{AuthArgs, FaultArgs, HttpTlsArgs, MllpTlsArgs, OutputArgs};
use super::session::Target;
use super::{print_written, EXIT_FAILED, EXIT_UNREACHABLE};

#[derive(Args)]
pub(crate) struct CertifyArgs {
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
    output: OutputArgs,
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
    output: OutputArgs,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: HttpTlsArgs,
    /// Largest response body read, counted after decompression (e.g. 64MB, 512KB).
    #[arg(long, value_name = "SIZE", default_value = "64MB", value_parser = emr_core::limits::parse_size)]
    max_body_size: usize,
}

pub(super) async fn certify(args: CertifyArgs) -> anyhow::Result<u8> {
    match args.suite {
        Suite::Fhir(a) => fhir(*a).await,
        Suite::Hl7(a) => hl7(*a).await,
    }
}

async fn fhir(args: FhirArgs) -> anyhow::Result<u8> {
    let target = Target::resolve(args.target.clone(), args.faults.faults()).await?;
    let client = args
        .tls
        .fhir_client(target.url.clone(), args.timeout, &args.auth)
        .await?
        .with_max_body(args.max_body_size);
    let mut report = certify::fhir::run(client).await;
    report.tls_insecure = args.tls.insecure;
    target.stop().await;
    finish(&report, &args.output)
}

async fn hl7(args: Hl7Args) -> anyhow::Result<u8> {
    // With no --mllp, the sandbox's listener is certified.
    let (sandbox, addr) = match &args.mllp {
        Some(addr) if args.faults.faults().any() => anyhow::bail!(
            "--fault-* options apply to the built-in sandbox; drop them or drop --mllp (certifying {addr})"
        ),
        Some(addr) => (None, addr.clone()),
        None => {
            let t = Target::resolve(None, args.faults.faults()).await?;
            let addr = t
                .mllp(None)
                .context("the sandbox started without its MLLP listener")?;
            (Some(t), addr)
        }
    };
    let mut config = MllpConfig::new(addr);
    config.read_timeout = args.timeout;
    config.connect_timeout = args.timeout;
    config.max_frame = args.tls.mllp_max_frame;
    config.tls = args.tls.options();
    let report = certify::hl7::run(config).await;
    if let Some(t) = sandbox {
        t.stop().await;
    }
    finish(&report, &args.output)
}

/// Prints the table (or, quiet, what failed), writes the report files, picks the exit code.
fn finish(report: &CertReport, out: &OutputArgs) -> anyhow::Result<u8> {
    if !out.quiet {
        let table = emr_core::secret::scrub(&creport::table(report));
        let _ = write!(anstream::stdout(), "{table}");
    } else {
        let mut err = anstream::stderr();
        for c in report
            .checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error))
        {
            let line = format!("{:?} {}: {}", c.verdict, c.id, c.reason);
            let _ = writeln!(err, "{}", emr_core::secret::scrub(&line));
        }
    }
    let written = emr_runner::report::write_files(report, &out.format, &out.out_dir)
        .with_context(|| format!("writing reports into {}", out.out_dir.display()))?;
    print_written(&written, out.quiet);
    Ok(if report.passed() {
        0
    } else if report.checks.iter().all(|c| c.verdict == Verdict::Error) {
        EXIT_UNREACHABLE
    } else {
        EXIT_FAILED
    })
}
