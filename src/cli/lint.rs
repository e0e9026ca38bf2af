//! `emr-harness lint`: load and validate scenario files, send nothing.

use std::path::PathBuf;

use clap::Args;
use emr_core::scenario::load_paths;

use super::args::LimitArgs;
use super::{print_scenario_errors, EXIT_USAGE};

#[derive(Args)]
pub(crate) struct LintArgs {
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

pub(super) fn lint(args: LintArgs) -> anyhow::Result<u8> {
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
