//! What every command that talks to a target sets up the same way: the target (the one given,
//! or an in-process sandbox EMR), its MLLP peer, and the Ctrl-C watch that turns an interrupt
//! into a partial report.

use anyhow::Context;
use emr_sandbox::{Faults, RunningSandbox, SandboxConfig};
use tokio::sync::watch;

use super::EXIT_INTERRUPTED;

/// The FHIR target of a command, and the sandbox serving it when none was given.
pub(super) struct Target {
    pub url: url::Url,
    pub sandbox: Option<RunningSandbox>,
}

impl Target {
    /// `given`, or a sandbox on loopback with `faults` (which only a sandbox can honour).
    pub(super) async fn resolve(given: Option<url::Url>, faults: Faults) -> anyhow::Result<Target> {
        match given {
            Some(t) if faults.any() => anyhow::bail!(
                "--fault-* options apply to the built-in sandbox; drop them or drop --target ({t})"
            ),
            Some(url) => Ok(Target { url, sandbox: None }),
            None => {
                let sb = emr_sandbox::start(SandboxConfig {
                    faults,
                    ..SandboxConfig::default()
                })
                .await
                .context("starting the sandbox EMR")?;
                let url = url::Url::parse(&sb.base_url).context("sandbox URL")?;
                Ok(Target {
                    url,
                    sandbox: Some(sb),
                })
            }
        }
    }

    /// The MLLP peer: the one given, else the sandbox's listener when the sandbox serves.
    pub(super) fn mllp(&self, given: Option<String>) -> Option<String> {
        given.or_else(|| {
            self.sandbox
                .as_ref()
                .and_then(|s| s.mllp_addr)
                .map(|a| a.to_string())
        })
    }

    pub(super) async fn stop(self) {
        if let Some(sb) = self.sandbox {
            sb.stop().await;
        }
    }
}

/// A watch that turns true on the first Ctrl-C (the command finishes and writes a partial
/// report, after printing `message`); a second Ctrl-C exits at once.
pub(super) fn interrupt_on_ctrl_c(message: &'static str) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: {message} (Ctrl-C again to quit at once)");
            let _ = tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });
    rx
}
