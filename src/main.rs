//! The emr-harness binary: parse the command line, start the runtime the command wants, run it,
//! and turn its outcome into the exit code (see `cli` for the codes).

#![warn(unreachable_pub)]

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

// glibc malloc was a seventh of the client's CPU under load (many small, short-lived buffers per
// request); mimalloc handles that pattern with thread-local free lists.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    // Load and the sandbox use every core they may; on one core a multi-thread scheduler only
    // adds cross-thread wake-ups (a max-rate load run pinned to one core spent 5-10% less CPU
    // per request on a current-thread runtime).
    let threads = cli.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let mut builder = if cli.command.sequential() || threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    match runtime.block_on(cli.command.execute()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::EXIT_USAGE)
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
        .with_writer(|| emr_core::secret::ScrubbingWriter(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}
