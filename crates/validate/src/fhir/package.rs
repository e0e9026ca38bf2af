//! FHIR packages (NPM-style, as the FHIR package registry publishes IGs): a `.tgz`, an unpacked
//! folder, or `name#version` from the shared package cache `~/.fhir/packages` (the one the HL7
//! validator, SUSHI and Firely use). A package's `package/package.json` names its dependencies,
//! which are found the same way; `hl7.fhir.r4.core` is always ours (embedded), and
//! `hl7.fhir.us.core#5.0.1` is embedded too, so US Core works offline on a fresh machine.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::defs::{gunzip_json, DefinitionsError};

static US_CORE_501: &[u8] = include_bytes!("../../data/fhir/us-core-5.0.1.json.gz");

/// The resources of a package and of its dependencies.
#[derive(Debug, Default)]
pub struct Loaded {
    pub resources: Vec<Value>,
    /// `name#version` of every package read, dependencies included.
    pub packages: Vec<String>,
    /// Dependencies that were not found (validation goes on without them).
    pub missing: Vec<String>,
}

/// Loads `spec`: a path to a `.tgz` or a folder, or `name#version` from the package cache.
pub fn load(spec: &str) -> Result<Loaded, DefinitionsError> {
    let mut out = Loaded::default();
    let mut seen = HashSet::new();
    load_into(spec, &mut out, &mut seen, true)?;
    Ok(out)
}

fn load_into(
    spec: &str,
    out: &mut Loaded,
    seen: &mut HashSet<String>,
    top: bool,
) -> Result<(), DefinitionsError> {
    if !seen.insert(spec.to_string()) {
        return Ok(());
    }
    let (name, version) = spec.split_once('#').unwrap_or((spec, ""));
    if name == "hl7.fhir.r4.core" {
        // Always loaded.
        return Ok(());
    }
    let path = Path::new(spec);
    let files = if path.is_file() {
        tgz_files(path)?
    } else if path.is_dir() {
        folder_files(path)?
    } else if name == "hl7.fhir.us.core" && (version.is_empty() || version == "5.0.1") {
        let bundle = gunzip_json(US_CORE_501, "us-core-5.0.1.json.gz")?;
        out.packages
            .push("hl7.fhir.us.core#5.0.1 (embedded)".into());
        out.resources.push(bundle);
        return Ok(());
    } else if let Some(dir) = cached(name, version) {
        folder_files(&dir)?
    } else if top {
        return Err(DefinitionsError::Package(format!(
            "{spec}: not a file, a folder, or a package in the FHIR package cache ({})",
            cache_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "~/.fhir/packages".into())
        )));
    } else {
        out.missing.push(spec.to_string());
        return Ok(());
    };
    let mut deps = Vec::new();
    let mut label = spec.to_string();
    for (file, text) in files {
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                return Err(DefinitionsError::Json(
                    format!("{spec}: {file}"),
                    e.to_string(),
                ))
            }
        };
        if file.ends_with("package.json") && v.get("resourceType").is_none() {
            if let (Some(n), Some(ver)) = (
                v.get("name").and_then(Value::as_str),
                v.get("version").and_then(Value::as_str),
            ) {
                label = format!("{n}#{ver}");
            }
            if let Some(d) = v.get("dependencies").and_then(Value::as_object) {
                for (n, ver) in d {
                    deps.push(format!("{n}#{}", ver.as_str().unwrap_or_default()));
                }
            }
            continue;
        }
        if v.get("resourceType").is_some() {
            out.resources.push(v);
        }
    }
    out.packages.push(label);
    for d in deps {
        load_into(&d, out, seen, false)?;
    }
    Ok(())
}

fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("FHIR_PACKAGE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".fhir/packages")))
}

fn cached(name: &str, version: &str) -> Option<PathBuf> {
    let dir = cache_dir()?.join(format!("{name}#{version}"));
    dir.is_dir().then_some(dir)
}

/// The JSON files of an unpacked package: `package/*.json` (or the folder's own JSON files when
/// it is the `package` folder itself), without `.index.json` and examples.
fn folder_files(dir: &Path) -> Result<Vec<(String, String)>, DefinitionsError> {
    let root = if dir.join("package").is_dir() {
        dir.join("package")
    } else {
        dir.to_path_buf()
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(|e| DefinitionsError::Io(format!("{}: {e}", root.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != ".index.json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let text = emr_core::limits::read_text_file(&p, 64 << 20, "--ig")
                .map_err(|e| DefinitionsError::Io(format!("{}: {e}", p.display())))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

/// The `package/*.json` entries of a `.tgz` package (no examples, no other folders), each at
/// most 64 MB and 512 MB in all: a package is input, and a tar bomb must not take the machine.
fn tgz_files(path: &Path) -> Result<Vec<(String, String)>, DefinitionsError> {
    const MAX_ENTRY: u64 = 64 << 20;
    const MAX_TOTAL: u64 = 512 << 20;
    let file = std::fs::File::open(path)
        .map_err(|e| DefinitionsError::Io(format!("{}: {e}", path.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = Vec::new();
    let mut total = 0u64;
    let entries = archive.entries().map_err(|e| {
        DefinitionsError::Package(format!("{}: not a .tgz package: {e}", path.display()))
    })?;
    for entry in entries {
        let entry =
            entry.map_err(|e| DefinitionsError::Package(format!("{}: {e}", path.display())))?;
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let in_package = name.strip_prefix("package/").is_some_and(|rest| {
            !rest.contains('/') && rest.ends_with(".json") && rest != ".index.json"
        });
        if !in_package {
            continue;
        }
        let size = entry.header().size().unwrap_or(0);
        total += size;
        if size > MAX_ENTRY || total > MAX_TOTAL {
            return Err(DefinitionsError::Package(format!(
                "{}: {name} makes the package larger than the limit (64 MB a file, 512 MB in all)",
                path.display()
            )));
        }
        let mut text = String::new();
        entry
            .take(MAX_ENTRY)
            .read_to_string(&mut text)
            .map_err(|e| DefinitionsError::Package(format!("{}: {name}: {e}", path.display())))?;
        out.push((name, text));
    }
    Ok(out)
}
