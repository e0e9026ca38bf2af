//! `emr-harness import ...`: other formats into scenario files.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use emr_core::scenario::{parse_scenario, LoadOptions};
use emr_runner::import::testscript;
use emr_runner::write::write_atomically;

use super::{print_scenario_errors, EXIT_USAGE};

#[derive(Args)]
pub(crate) struct ImportArgs {
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
    /// A HAR file (browser devtools, Postman, Insomnia): each entry becomes a FHIR step.
    Har {
        file: PathBuf,
        #[command(flatten)]
        rec: RecordingOut,
        /// The FHIR base URL the paths are relative to (default: inferred from the URLs).
        #[arg(long)]
        base: Option<String>,
    },
    /// An HL7 v2 log: batch (FHS/BHS), MLLP-framed capture, or blank-line separated messages.
    Hl7 {
        file: PathBuf,
        #[command(flatten)]
        rec: RecordingOut,
    },
}

/// Where a recording or import is written, and how.
#[derive(Args, Clone)]
pub(super) struct RecordingOut {
    /// Scenario file to write.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Folder for the golden snapshots of what the server answered.
    #[arg(long, default_value = "golden")]
    pub golden: PathBuf,
    /// Scenario name (default: the file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Keep patient data as it is (scrubbing names, dates, identifiers, addresses, phones and
    /// notes is on by default).
    #[arg(long)]
    pub no_scrub: bool,
}

impl RecordingOut {
    pub(super) fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.out
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "recording".into())
        })
    }

    /// Builds, checks that the result loads, writes scenario and goldens, prints a summary.
    pub(super) fn finish(
        &self,
        description: &str,
        base: Option<&str>,
        exchanges: &[emr_runner::record::build::Exchange],
    ) -> anyhow::Result<u8> {
        let mut scrubber =
            (!self.no_scrub).then(|| emr_runner::record::scrub::Scrubber::new(rand::random()));
        let built = emr_runner::record::build::build(
            &self.name(),
            description,
            base,
            exchanges,
            scrubber.as_mut(),
        );
        let yaml =
            emr_core::scenario::write::to_yaml(&built.scenario).map_err(|e| anyhow::anyhow!(e))?;
        if let Err(errors) = parse_scenario(&self.out, &yaml, &LoadOptions::default()) {
            eprintln!("the scenario made from it does not load:\n{yaml}");
            print_scenario_errors(&errors);
            return Ok(EXIT_USAGE);
        }
        let mut header = vec![description.to_string()];
        if self.no_scrub {
            header.push("Patient data NOT scrubbed (--no-scrub).".into());
        } else if built.scrubbed.is_empty() {
            header.push("Scrubbed: nothing that looked like patient data.".into());
        } else {
            header.push(format!("Scrubbed: {}.", built.scrubbed.join("; ")));
        }
        let snaps = emr_runner::record::write(&self.out, &self.golden, &built, &header)
            .map_err(|e| anyhow::anyhow!(e))?;
        let steps = built.scenario["steps"].as_array().map_or(0, Vec::len);
        eprintln!(
            "wrote {} ({steps} steps) and {snaps} golden snapshot(s) in {}",
            self.out.display(),
            self.golden.display()
        );
        for line in &header[1..] {
            eprintln!("{line}");
        }
        Ok(0)
    }
}

pub(super) fn import(args: ImportArgs) -> anyhow::Result<u8> {
    let (file, out) = match args.format {
        Format::Testscript { file, out } => (file, out),
        Format::Har { file, rec, base } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (exchanges, inferred) =
                emr_runner::import::har::exchanges(&text, &file.display().to_string())
                    .map_err(|e| anyhow::anyhow!(e))?;
            let base = base.or(inferred);
            let what = format!(
                "Imported from the HAR file {} by emr-harness.",
                file.display()
            );
            return rec.finish(&what, base.as_deref(), &exchanges);
        }
        Format::Hl7 { file, rec } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let exchanges = emr_runner::import::hl7log::exchanges(&String::from_utf8_lossy(&bytes));
            if exchanges.is_empty() {
                anyhow::bail!("{}: no HL7 v2 message (MSH) found", file.display());
            }
            let what = format!(
                "Imported from the HL7 v2 log {} by emr-harness.",
                file.display()
            );
            return rec.finish(&what, None, &exchanges);
        }
    };
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
