//! `emr-harness validate`: judge content the way every check does, on files. `validate FILE...`
//! (or `validate fhir FILE...`) for FHIR R4 JSON resources; `validate hl7 FILE...` for HL7 v2
//! messages against the standard's definitions (and a conformance profile).

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use emr_core::hl7::Message;
use emr_validate::fhir::{Options, Validator};
use emr_validate::hl7v2::{self, Profile, Severity};

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
    /// FHIR R4 resources: JSON files, NDJSON files (one resource per line), or folders of them.
    files: Vec<PathBuf>,
    /// Also validate every resource against this profile (canonical URL; repeatable).
    #[arg(long, value_name = "URL")]
    profile: Vec<String>,
    /// Load profiles, extensions, ValueSets and Questionnaires from JSON files or folders (repeatable).
    #[arg(long, value_name = "PATH")]
    definitions: Vec<PathBuf>,
    /// Load an IG package and its dependencies: a .tgz, an unpacked folder, or name#version from
    /// the FHIR package cache (~/.fhir/packages); hl7.fhir.us.core#5.0.1 is built in (repeatable).
    #[arg(long, value_name = "PACKAGE")]
    ig: Vec<String>,
    /// Warnings fail too.
    #[arg(long)]
    strict: bool,
    /// HTML in markdown is an error, not a warning.
    #[arg(long)]
    html_in_markdown_is_error: bool,
    /// One JSON line per resource ({"file", "valid", "issues", "must_support"}) instead of text.
    #[arg(long)]
    json: bool,
    /// Print only the resources that do not pass.
    #[arg(short, long)]
    quiet: bool,
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
    if args.files.is_empty() {
        eprintln!("error: give FHIR JSON files or folders");
        return Ok(EXIT_USAGE);
    }
    let mut extra = Vec::new();
    for path in &args.definitions {
        match json_files(path) {
            Ok(files) => {
                for f in files {
                    match std::fs::read_to_string(&f)
                        .map_err(|e| e.to_string())
                        .and_then(|t| {
                            serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string())
                        }) {
                        Ok(v) => extra.push(v),
                        Err(e) => {
                            eprintln!("error: {}: {e}", f.display());
                            return Ok(EXIT_USAGE);
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return Ok(EXIT_USAGE);
            }
        }
    }
    for spec in &args.ig {
        match emr_validate::fhir::package::load(spec) {
            Ok(loaded) => {
                for m in &loaded.missing {
                    eprintln!("note: {spec}: dependency {m} not found; validating without it");
                }
                extra.extend(loaded.resources);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_USAGE);
            }
        }
    }
    let defs = if extra.is_empty() {
        emr_validate::fhir::Definitions::r4()
    } else {
        std::sync::Arc::new(emr_validate::fhir::Definitions::r4_with(&extra))
    };
    for note in defs.notes() {
        eprintln!("note: {note}");
    }
    let questionnaires = extra
        .iter()
        .filter(|v| {
            v.get("resourceType").and_then(serde_json::Value::as_str) == Some("Questionnaire")
        })
        .cloned()
        .collect();
    let validator = Validator::new(
        defs,
        Options {
            profiles: args.profile.clone(),
            html_in_markdown_is_error: args.html_in_markdown_is_error,
            questionnaires,
        },
    );
    let mut files = Vec::new();
    for path in &args.files {
        match json_files(path) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return Ok(EXIT_USAGE);
            }
        }
    }
    let mut out = std::io::BufWriter::new(anstream::stdout());
    let (mut checked, mut failed) = (0usize, 0usize);
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return Ok(EXIT_USAGE);
            }
        };
        let ndjson = file.extension().is_some_and(|e| e == "ndjson");
        let docs: Vec<(String, &str)> = if ndjson {
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| (format!("{}:{}", file.display(), i + 1), l))
                .collect()
        } else {
            vec![(file.display().to_string(), text.as_str())]
        };
        for (name, doc) in docs {
            let outcome = validator.validate_text(doc, None);
            checked += 1;
            let fails = outcome.issues.iter().any(|i| {
                i.severity.fails()
                    || (args.strict && i.severity == emr_core::outcome::Severity::Warning)
            });
            failed += usize::from(fails);
            let shown: Vec<_> = outcome
                .issues
                .iter()
                .filter(|i| i.severity != emr_core::outcome::Severity::Information)
                .collect();
            if args.json {
                let line = serde_json::json!({
                    "file": name,
                    "valid": !fails,
                    "issues": shown,
                    "must_support": outcome.must_support,
                });
                writeln!(out, "{line}")?;
            } else if !fails && args.quiet {
            } else {
                writeln!(out, "{}  {name}", if fails { "INVALID" } else { "valid  " })?;
                for i in shown {
                    writeln!(out, "  {i}")?;
                }
            }
        }
    }
    if !args.json {
        writeln!(out, "{checked} resource(s), {failed} invalid")?;
    }
    out.flush()?;
    Ok(if failed > 0 { EXIT_FAILED } else { 0 })
}

/// `path` itself, or every `.json`/`.ndjson` file under it, sorted.
fn json_files(path: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json" || x == "ndjson") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
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
