//! `emr-harness record http|mllp`: recording proxies between a real client and the EMR.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use emr_runner::record::proxy::{self, Output, Recorder};
use emr_transport::mllp::MllpConfig;

#[derive(Args)]
pub(crate) struct RecordArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// FHIR over HTTP: point the client at the proxy, which forwards to --upstream.
    Http {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: SocketAddr,
        /// The FHIR base URL of the EMR, e.g. http://emr-test:8080/fhir.
        #[arg(long)]
        upstream: url::Url,
        #[command(flatten)]
        out: Out,
    },
    /// HL7 v2 over MLLP: point the sender at the proxy, which forwards to --upstream.
    Mllp {
        #[arg(long, default_value = "127.0.0.1:2576")]
        listen: SocketAddr,
        /// The MLLP endpoint of the EMR, host:port.
        #[arg(long)]
        upstream: String,
        #[command(flatten)]
        out: Out,
    },
}

#[derive(Args)]
struct Out {
    /// Scenario file to write (written again after every exchange, so a killed proxy loses nothing).
    #[arg(short, long)]
    out: PathBuf,
    /// Folder for the golden snapshots of what the EMR answered.
    #[arg(long, default_value = "golden")]
    golden: PathBuf,
    /// Scenario name (default: the file name).
    #[arg(long)]
    name: Option<String>,
    /// Replace patient data (names, birth dates, identifiers, addresses, phones, notes) with
    /// generated values, consistently across the recording.
    #[arg(long)]
    scrub: bool,
}

impl Out {
    fn output(&self) -> Output {
        Output {
            scenario: self.out.clone(),
            golden: self.golden.clone(),
            name: self.name.clone().unwrap_or_else(|| {
                self.out
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "recording".into())
            }),
            scrub: self.scrub,
            salt: rand::random(),
        }
    }
}

pub(super) async fn record(args: RecordArgs) -> anyhow::Result<u8> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(true);
        }
    });
    let mut stopped = rx.clone();
    let stop = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let (recorder, out) = match args.what {
        What::Http {
            listen,
            upstream,
            out,
        } => {
            let (listener, addr) = bind(listen).await?;
            let description =
                format!("Recorded through the HTTP proxy from {upstream} by emr-harness.");
            let recorder = Arc::new(Recorder::new(
                out.output(),
                description,
                Some(upstream.to_string()),
            ));
            let client_base = format!("http://{addr}{}", upstream.path());
            say(&format!("recording: point FHIR clients at {client_base} (forwarding to {upstream}); Ctrl-C to finish"));
            proxy::serve_http(listener, upstream, recorder.clone(), stop).await?;
            (recorder, out)
        }
        What::Mllp {
            listen,
            upstream,
            out,
        } => {
            let (listener, addr) = bind(listen).await?;
            let description =
                format!("Recorded through the MLLP proxy from {upstream} by emr-harness.");
            let recorder = Arc::new(Recorder::new(out.output(), description, None));
            say(&format!("recording: point HL7 senders at {addr} (forwarding to {upstream}); Ctrl-C to finish"));
            proxy::serve_mllp(listener, MllpConfig::new(upstream), recorder.clone(), rx).await;
            (recorder, out)
        }
    };
    let scrubbed = recorder.finish().map_err(|e| anyhow::anyhow!(e))?;
    say(&format!(
        "recorded {} exchange(s) into {} (goldens in {})",
        recorder.count(),
        out.out.display(),
        out.golden.display()
    ));
    if out.scrub {
        say(&format!("scrubbed: {}", scrubbed.join("; ")));
    }
    Ok(0)
}

/// Printed and flushed at once: a test or a script waits for these lines.
fn say(line: &str) {
    let mut o = std::io::stdout();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// Binds the proxy's port (warning when it is reachable from other machines).
async fn bind(listen: SocketAddr) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    if !listen.ip().is_loopback() {
        eprintln!("warning: the recording proxy listens on {listen}, beyond this machine");
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
