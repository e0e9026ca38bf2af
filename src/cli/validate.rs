//! `emr-harness validate FILE...`: the resource validation every check uses, on files.

use std::path::PathBuf;

use clap::Args;
use emr_validate::validate_resource;

use super::{EXIT_FAILED, EXIT_USAGE};

#[derive(Args)]
pub(crate) struct ValidateArgs {
    /// FHIR R4 resources as JSON files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON line per file ({"file", "valid", "problems"}) instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) fn validate(args: ValidateArgs) -> anyhow::Result<u8> {
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
