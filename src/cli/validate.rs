//! `emr-harness validate`: judge content the way every check does, on files. `validate FILE...`
//! (or `validate fhir FILE...`) for FHIR R4 JSON resources; `validate hl7 FILE...` for HL7 v2
//! messages against the standard's definitions (and a conformance profile).

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use emr_core::hl7::Message;
use emr_validate::hl7v2::{self, Profile, Severity};
use emr_validate::validate_resource;

use super::{EXIT_FAILED, EXIT_USAGE};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ValidateArgs {
    #[command(subcommand)]
    kind: Option<Kind>,
    #[command(flatten)]
    fhir: FhirArgs,
}

#[derive(Subcommand)]
enum Kind {
    /// FHIR R4 resources as JSON files.
    Fhir(FhirArgs),
    /// HL7 v2 messages: files of one or many messages, batches (FHS/BHS), MLLP captures.
    Hl7(Hl7Args),
}

#[derive(Args)]
struct FhirArgs {
    /// FHIR R4 resources as JSON files.
    files: Vec<PathBuf>,
    /// One JSON line per file ({"file", "valid", "problems"}) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct Hl7Args {
    /// Files of HL7 v2 messages (\r, \n or \r\n line ends; a UTF-8 BOM is fine).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also check against this conformance profile (HL7 v2 XML message profile).
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Warnings fail too (lengths, site-defined table values, extra fields).
    #[arg(long)]
    strict: bool,
    /// One JSON line per message instead of text.
    #[arg(long)]
    json: bool,
    /// Print only the messages that do not pass.
    #[arg(short, long)]
    quiet: bool,
}

pub(crate) fn validate(args: ValidateArgs) -> anyhow::Result<u8> {
    match args.kind {
        Some(Kind::Hl7(a)) => hl7(a),
        Some(Kind::Fhir(a)) => fhir(a),
        None if args.fhir.files.is_empty() => {
            eprintln!("error: give FHIR JSON files, or `validate hl7 FILE...`");
            Ok(EXIT_USAGE)
        }
        None => fhir(args.fhir),
    }
}

fn fhir(args: FhirArgs) -> anyhow::Result<u8> {
    let mut any_invalid = false;
    for file in &args.files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return Ok(EXIT_USAGE);
            }
        };
        let problems = match serde_json::from_str::<serde_json::Value>(&text) {
            Err(e) => vec![format!("not JSON: {e}")],
            Ok(v) => validate_resource(&v, None).err().unwrap_or_default(),
        };
        any_invalid |= !problems.is_empty();
        if args.json {
            let line = serde_json::json!({"file": file, "valid": problems.is_empty(), "problems": problems});
            println!("{line}");
        } else if problems.is_empty() {
            println!("valid    {}", file.display());
        } else {
            println!("INVALID  {}: {}", file.display(), problems.join("; "));
        }
    }
    Ok(if any_invalid { EXIT_FAILED } else { 0 })
}

fn hl7(args: Hl7Args) -> anyhow::Result<u8> {
    let profile = match &args.profile {
        None => None,
        Some(p) => match Profile::from_file(p) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_USAGE);
            }
        },
    };
    let opts = hl7v2::Options {
        profile: profile.as_ref(),
    };
    let mut out = std::io::BufWriter::new(anstream::stdout());
    let (mut checked, mut failed) = (0usize, 0usize);
    for file in &args.files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return Ok(EXIT_USAGE);
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let split = emr_core::hl7::batch::split_batch(&text);
        let messages = &split.messages;
        if messages.is_empty() {
            eprintln!("error: {}: no HL7 v2 message (MSH) found", file.display());
            failed += 1;
            continue;
        }
        for (i, m) in messages.iter().enumerate() {
            checked += 1;
            let name = if messages.len() > 1 {
                format!("{}#{}", file.display(), i + 1)
            } else {
                file.display().to_string()
            };
            let report = match Message::parse(m) {
                Ok(msg) => {
                    let r = hl7v2::validate(&msg, &opts);
                    (msg.message_type(), r)
                }
                Err(e) => {
                    let r = hl7v2::Report {
                        findings: vec![hl7v2::Finding {
                            severity: Severity::Error,
                            location: e.at.clone(),
                            group: None,
                            rule: "syntax".into(),
                            message: e.message.clone(),
                        }],
                        ..Default::default()
                    };
                    (String::new(), r)
                }
            };
            let (mtype, mut r) = report;
            r.findings
                .extend(split.problems.iter().filter(|(m, _, _)| *m == i).map(
                    |(_, location, message)| hl7v2::Finding {
                        severity: Severity::Error,
                        location: location.clone(),
                        group: None,
                        rule: "batch".into(),
                        message: message.clone(),
                    },
                ));
            let passes = r.passes(args.strict);
            failed += usize::from(!passes);
            if args.json {
                let line = serde_json::json!({
                    "file": file, "index": i + 1, "type": mtype, "version": r.version,
                    "structure": r.structure, "valid": passes, "findings": r.findings,
                });
                let _ = writeln!(out, "{line}");
                continue;
            }
            if args.quiet && passes {
                continue;
            }
            let errors = r.errors().count();
            let warnings = r
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .count();
            let what = format!(
                "{mtype} v{}{}",
                r.version,
                r.structure
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            );
            let mark = if passes { "valid  " } else { "INVALID" };
            let _ = writeln!(
                out,
                "{mark}  {name}  {what}: {errors} error(s), {warnings} warning(s)"
            );
            for f in &r.findings {
                let _ = writeln!(out, "    {f}");
            }
        }
    }
    if !args.json {
        let _ = writeln!(
            out,
            "{checked} message(s): {} valid, {failed} invalid{}",
            checked - failed,
            if args.strict { " (strict)" } else { "" }
        );
    }
    Ok(if failed > 0 { EXIT_FAILED } else { 0 })
}
