//! `emr-harness load PROFILE`: drive load from a profile (open or closed model), with
//! coordinated-omission-corrected HdrHistogram percentiles and SLOs that decide the exit code.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use emr_core::scenario::load_paths;
use emr_runner::load::{self, profile, report as lreport, Driver, Worker};
use emr_runner::run::{RunOptions, Runner};
use emr_transport::fhir::FhirClient;

use super::args::{AuthArgs, FaultArgs, HttpTlsArgs, LimitArgs, MllpTlsArgs, OutputArgs};
use super::session::{interrupt_on_ctrl_c, Target};
use super::{
    print_scenario_errors, print_written, rand_seed, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE,
};

#[derive(Args)]
pub(crate) struct LoadArgs {
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
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    mllp_tls: MllpTlsArgs,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: HttpTlsArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

pub(super) async fn load(args: LoadArgs) -> anyhow::Result<u8> {
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

    let given = args
        .target
        .clone()
        .map(Ok)
        .or_else(|| prof.target.as_deref().map(url::Url::parse))
        .transpose()
        .with_context(|| format!("{}: `target` is not a URL", args.profile.display()))?;
    let session = Target::resolve(given, args.faults.faults()).await?;
    let target = session.url.clone();
    let mllp_addr = session.mllp(args.mllp.clone().or(prof.mllp.clone()));
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
        .with_remote_guard(std::sync::Arc::new(emr_transport::fhir::RemoteGuard::new(
            allow_remote,
        )))
        .with_auth(auth);
    let mllp = match &mllp_addr {
        Some(a) => Some(super::args::mllp::mllp_pool(
            a.clone(),
            args.timeout,
            &args.mllp_tls,
        )?),
        None => None,
    };
    let stop_rx =
        interrupt_on_ctrl_c("stopping, draining in-flight requests, writing a partial report");
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
    let progress = (!args.output.quiet && std::io::stderr().is_terminal())
        .then(|| load_progress(live.clone(), prof.total_duration()));
    let started_system = std::time::SystemTime::now();
    let out_dir = &args.output.out_dir;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let suffix = if args.worker_count > 1 {
        format!("-worker{}", args.worker_index)
    } else {
        String::new()
    };
    let hlog = out_dir.join(format!("load{suffix}.hlog"));
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
    session.stop().await;
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
    if !args.output.quiet {
        let table = emr_core::secret::scrub(&lreport::render_table(&report));
        let _ = write!(anstream::stdout(), "{table}");
    } else {
        let mut err = anstream::stderr();
        for slo in report.slos.iter().filter(|s| !s.passed) {
            let _ = writeln!(err, "SLO failed: {} (actual {})", slo.name, slo.actual);
        }
    }
    let mut written = vec![hlog];
    let files = lreport::LoadFiles {
        report: &report,
        suffix: &suffix,
    };
    written.extend(
        emr_runner::report::write_files(&files, &args.output.format, out_dir)
            .with_context(|| format!("writing reports into {}", out_dir.display()))?,
    );
    print_written(&written, args.output.quiet);
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
    live: std::sync::Arc<emr_runner::load::driver::Live>,
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
