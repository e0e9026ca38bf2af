//! `emr-harness import ...`: other formats into scenario files.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use emr_harness::check::snapshot::write_atomically;
use emr_harness::import::testscript;
use emr_harness::scenario::{parse_scenario, LoadOptions};

use super::{print_scenario_errors, EXIT_USAGE};

#[derive(Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    format: Format,
}

#[derive(Subcommand)]
enum Format {
    /// A FHIR R4 TestScript (JSON): fixtures, variables, setup/test/teardown, operations, asserts.
    Testscript {
        /// The TestScript JSON file.
        file: PathBuf,
        /// Scenario file to write (default: print it on stdout).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

pub fn import_cmd(args: ImportArgs) -> anyhow::Result<u8> {
    let Format::Testscript { file, out } = args.format;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let dir = file.parent().map(PathBuf::from).unwrap_or_default();
    let imported = testscript::import(&text, &file.display().to_string(), &dir)?;
    let yaml = imported.to_yaml()?;
    // The result must load like any hand-written scenario (variables defined before use, ...).
    let anchor = out.clone().unwrap_or_else(|| dir.join("imported.yaml"));
    if let Err(errors) = parse_scenario(&anchor, &yaml, &LoadOptions::default()) {
        eprintln!("the converted scenario does not load:\n{yaml}");
        print_scenario_errors(&errors);
        return Ok(EXIT_USAGE);
    }
    let steps = imported.scenario["steps"].as_array().map_or(0, Vec::len);
    match &out {
        Some(path) => {
            write_atomically(path, &yaml).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {} ({steps} steps)", path.display());
        }
        None => print!("{yaml}"),
    }
    if imported.unmapped.is_empty() {
        eprintln!("everything in {} was mapped", file.display());
    } else {
        eprintln!(
            "{} item(s) not mapped (listed at the top of the scenario too):",
            imported.unmapped.len()
        );
        for u in &imported.unmapped {
            eprintln!("  - {u}");
        }
    }
    Ok(0)
}
