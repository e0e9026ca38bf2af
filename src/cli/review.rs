//! `emr-harness review`: accept or reject pending snapshots, as cargo-insta does.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use emr_runner::golden::review;

use super::EXIT_FAILED;

#[derive(Args)]
pub(crate) struct ReviewArgs {
    #[arg(long, default_value = "golden")]
    golden: PathBuf,
    /// Accept every pending snapshot without asking.
    #[arg(long, conflicts_with = "reject_all")]
    accept_all: bool,
    /// Reject (delete) every pending snapshot without asking.
    #[arg(long)]
    reject_all: bool,
}

pub(super) fn review(args: ReviewArgs) -> anyhow::Result<u8> {
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
