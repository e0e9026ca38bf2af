//! Reading scenario files and validating them before anything is sent.
//!
//! Validation happens here, once, so a run never stops half-way through on a problem that was in
//! the file all along: unknown keys, a step without a request, a bad regex or path expression, a
//! `{{var}}` that nothing defines. All problems of all files are collected and reported together.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use super::error::{locate, Located, ScenarioError};
use super::model::{
    Capture, CaptureRule, Expect, HeaderExpect, JsonPathExpect, Redaction, RedactionRule,
    ScenarioFile, SnapshotName, StatusExpect, StepFile, StructureCheckFile,
};
use super::template::{Templates, BUILTINS, FAKE_FIELDS, NOW_FIELDS};
use super::{
    Body, FhirRequest, Hl7Request, Request, Scenario, Step, StructureRules,
    DEFAULT_SNAPSHOT_HEADERS,
};
use crate::check::compiled::Compiled;
use crate::fhirpath::FhirPath;
use crate::limits::{read_text_file, Limits};

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--var name=value`: defined for every scenario, overriding its own `vars`.
    pub var_overrides: IndexMap<String, String>,
    /// File sizes, nesting depth, template fuel.
    pub limits: Limits,
    /// `body_file` and `hl7.file` may name files outside the scenario's folder
    /// (`--allow-outside-files`). Off, a shared scenario cannot read `~/.ssh` or `/etc/passwd`.
    pub allow_outside_files: bool,
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Loads every scenario under `paths` (files, or folders searched recursively for `.yaml`/`.yml`,
/// in sorted order). Returns all errors of all files, not just the first.
pub fn load_paths(
    paths: &[PathBuf],
    opts: &LoadOptions,
) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if let Err(e) = collect_files(p, &mut files) {
            errors.push(e);
        }
    }
    let mut scenarios = Vec::new();
    for file in &files {
        match load_file(file, opts) {
            Ok(s) => scenarios.push(s),
            Err(mut es) => errors.append(&mut es),
        }
    }
    // Scenario names key the golden files (by their slug, which ignores case and punctuation),
    // so two files whose names differ only there would overwrite each other's snapshots.
    let mut seen: IndexMap<String, (&str, &Path)> = IndexMap::new();
    for s in &scenarios {
        if let Some((name, first)) = seen.insert(slug(&s.name), (&s.name, &s.path)) {
            let why = if name == s.name {
                "names must be unique".to_string()
            } else {
                format!(
                    "`{name}` there; both would use the golden files `{}__*.snap`",
                    slug(name)
                )
            };
            errors.push(
                Located::new(
                    &s.path,
                    format!(
                        "scenario name `{}` is also used by {} ({why})",
                        s.name,
                        first.display()
                    ),
                )
                .field("name")
                .into_error(),
            );
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(errors)
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let io = |source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(entry);
        }
    }
    Ok(())
}

/// Loads and validates one scenario file.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Scenario, Vec<ScenarioError>> {
    let source = read_text_file(path, opts.limits.max_scenario_size, "--max-scenario-size")
        .map_err(|e| vec![Located::new(path, e).into_error()])?;
    parse_scenario(path, &source, opts)
}

/// Parses and validates scenario text; `path` names it in errors and anchors `body_file`.
pub fn parse_scenario(
    path: &Path,
    source: &str,
    opts: &LoadOptions,
) -> Result<Scenario, Vec<ScenarioError>> {
    if source.len() > opts.limits.max_scenario_size {
        return Err(vec![Located::new(
            path,
            format!(
                "is {} bytes, over the limit of {} (--max-scenario-size)",
                source.len(),
                opts.limits.max_scenario_size
            ),
        )
        .into_error()]);
    }
    if let Some((line, column)) = super::guard::flow_too_deep(source, opts.limits.max_depth) {
        let mut e = Located::new(
            path,
            format!(
                "`[`/`{{` nested more than {} deep (--max-depth)",
                opts.limits.max_depth
            ),
        )
        .at(source, line, column);
        // The key written on that line, e.g. `body: [[[[...`.
        let key = source.lines().nth(line - 1).and_then(|l| {
            let (k, _) = l.split_once(':')?;
            let k = k.trim().trim_start_matches("- ").trim();
            (!k.is_empty() && !k.contains(['[', '{'])).then(|| k.to_string())
        });
        if let Some(k) = key {
            e = e.field(k);
        }
        return Err(vec![e.into_error()]);
    }
    let file: ScenarioFile = serde_norway::from_str(source).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        // serde's message repeats the position at its end; ours prints it in front.
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        let (step, message) = split_step_prefix(&file_steps_hint(source), &message);
        let mut err = Located::new(path, message).at(source, line, column);
        if let Some(step) = step {
            err = err.step(step);
        }
        vec![err.into_error()]
    })?;
    Validator {
        path,
        source,
        step_starts: super::error::step_starts(source),
        opts,
        errors: Vec::new(),
        templates: Templates::with_fuel(opts.limits.template_fuel),
        env: std::collections::BTreeSet::new(),
        files: Vec::new(),
        compiled: Compiled::default(),
    }
    .validate(file)
}

/// Step names in file order, read leniently, so a serde error at `steps[2]` can name the step.
fn file_steps_hint(source: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Loose {
        #[serde(default)]
        steps: Vec<LooseStep>,
    }
    #[derive(serde::Deserialize)]
    struct LooseStep {
        #[serde(default)]
        name: Option<String>,
    }
    serde_norway::from_str::<Loose>(source)
        .map(|l| {
            l.steps
                .into_iter()
                .enumerate()
                .map(|(i, s)| s.name.unwrap_or_else(|| format!("#{}", i + 1)))
                .collect()
        })
        .unwrap_or_default()
}

/// Turns `steps[2].fhir: unknown field ...` into (step name, `field `fhir`: unknown field ...`).
fn split_step_prefix(names: &[String], message: &str) -> (Option<String>, String) {
    let Some(rest) = message.strip_prefix("steps[") else {
        return (None, message.to_string());
    };
    let Some((idx, rest)) = rest.split_once(']') else {
        return (None, message.to_string());
    };
    let Ok(i) = idx.parse::<usize>() else {
        return (None, message.to_string());
    };
    let name = names
        .get(i)
        .cloned()
        .unwrap_or_else(|| format!("#{}", i + 1));
    let rest = rest.trim_start_matches('.');
    let msg = match rest.split_once(": ") {
        Some((field, m)) if !field.is_empty() => format!("field `{field}`: {m}"),
        _ => rest.trim_start_matches(": ").to_string(),
    };
    (Some(name), msg)
}

struct Validator<'a> {
    path: &'a Path,
    source: &'a str,
    step_starts: Vec<usize>,
    opts: &'a LoadOptions,
    errors: Vec<ScenarioError>,
    templates: Templates,
    /// Environment variables the templates read (`env.X`), for `lint` to show.
    env: std::collections::BTreeSet<String>,
    /// Files the steps read (`body_file`, `hl7.file`).
    files: Vec<PathBuf>,
    /// The expressions parsed while validating the current step (or the scenario's redactions),
    /// kept for the run.
    compiled: Compiled,
}

impl Validator<'_> {
    /// Reads a file a step names: a regular file, within the size limit, and inside the
    /// scenario's folder unless `--allow-outside-files` (a shared scenario must not be able to
    /// send `../../../../etc/passwd` or `/proc/self/environ` to a target).
    fn read_step_file(&mut self, name: &str) -> Result<String, String> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let full = dir.join(name);
        if !self.opts.allow_outside_files {
            let root = dir
                .canonicalize()
                .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
            let real = full
                .canonicalize()
                .map_err(|e| format!("cannot read {}: {e}", full.display()))?;
            if !real.starts_with(&root) {
                return Err(format!(
                    "{} is outside the scenario's folder {} (--allow-outside-files to allow it)",
                    full.display(),
                    root.display()
                ));
            }
        }
        let text = read_text_file(&full, self.opts.limits.max_file_size, "--max-file-size")
            .map_err(|e| format!("{} {e}", full.display()))?;
        self.files.push(full);
        Ok(text)
    }

    fn error(&mut self, step: Option<(usize, &str)>, field: &str, message: impl Into<String>) {
        let (line, column) = locate(self.source, step.map(|s| s.0), field);
        let mut e = Located::new(self.path, message)
            .at(self.source, line, column)
            .field(field);
        if let Some((_, name)) = step {
            e = e.step(name);
        }
        self.errors.push(e.into_error());
    }

    fn validate(mut self, file: ScenarioFile) -> Result<Scenario, Vec<ScenarioError>> {
        if file.name.trim().is_empty() {
            self.error(None, "name", "must not be empty");
        }
        if file.steps.is_empty() {
            self.error(None, "steps", "a scenario needs at least one step");
        }

        // Names defined so far, in the order a run defines them.
        let mut known: HashSet<String> = BUILTINS.iter().map(|s| s.to_string()).collect();
        known.extend(self.opts.var_overrides.keys().cloned());
        let mut vars = IndexMap::new();
        for (name, value) in &file.vars {
            let text = value.to_string();
            self.check_template(None, &format!("vars.{name}"), &text, &known);
            known.insert(name.clone());
            vars.insert(name.clone(), text);
        }
        for (name, value) in &self.opts.var_overrides {
            vars.insert(name.clone(), value.clone());
        }

        let redact = file
            .redact
            .iter()
            .filter_map(|r| self.redaction(r))
            .collect();
        let scenario_compiled = Arc::new(std::mem::take(&mut self.compiled));

        let mut steps = Vec::new();
        let mut snapshot_names = HashSet::new();
        for (index, step) in file.steps.iter().enumerate() {
            for s in self.step(index, step, &known) {
                if let Some(snap) = snapshot_name(&s) {
                    // Golden file names differ only in case on macOS and Windows file systems.
                    if !snapshot_names.insert(snap.to_ascii_lowercase()) {
                        self.error(
                            Some((index, &step.name)),
                            "expect.snapshot",
                            format!("snapshot name `{snap}` is already used by an earlier step"),
                        );
                    }
                }
                steps.push(s);
            }
            // Captures become known only after their step, so a forward reference is an error.
            known.extend(step.capture.keys().cloned());
        }

        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        Ok(Scenario {
            name: file.name,
            path: self.path.to_path_buf(),
            description: file.description,
            tags: file.tags,
            vars,
            redact,
            snapshot_headers: file
                .snapshot_headers
                .map(|h| h.into_iter().map(|s| s.to_ascii_lowercase()).collect())
                .unwrap_or_else(|| {
                    DEFAULT_SNAPSHOT_HEADERS
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                }),
            steps,
            reads_env: self.env.into_iter().collect(),
            reads_files: self.files,
            compiled: scenario_compiled,
        })
    }

    fn redaction(&mut self, r: &Redaction) -> Option<RedactionRule> {
        let rule = match r {
            Redaction::Path(p) => RedactionRule {
                path: Some(p.clone()),
                header: None,
                field: None,
                replacement: None,
            },
            Redaction::Rule(rule) => rule.clone(),
        };
        match (&rule.path, &rule.header, &rule.field) {
            (Some(p), None, None) => match serde_json_path::JsonPath::parse(p) {
                Ok(parsed) => self.compiled.add_jsonpath(p, parsed),
                Err(e) => {
                    self.error(None, "redact", format!("bad JSONPath `{p}`: {e}"));
                    return None;
                }
            },
            (None, Some(_), None) => {}
            (None, None, Some(f)) => {
                if let Err(e) = crate::hl7::FieldPath::parse(f) {
                    self.error(None, "redact", e);
                    return None;
                }
            }
            _ => {
                self.error(
                    None,
                    "redact",
                    "a redaction needs exactly one of `path` (JSONPath), `header` or `field` (HL7)",
                );
                return None;
            }
        }
        Some(rule)
    }

    fn step(&mut self, index: usize, step: &StepFile, known: &HashSet<String>) -> Vec<Step> {
        self.compiled = Compiled::default();
        let at = Some((index, step.name.as_str()));
        if step.name.trim().is_empty() {
            self.error(at, "name", "a step needs a name");
        }
        let requests: Vec<Request> = match (&step.fhir, &step.hl7) {
            (Some(_), Some(_)) => {
                self.error(at, "hl7", "give `fhir:` or `hl7:`, not both");
                return Vec::new();
            }
            (Some(fhir), None) => vec![self.fhir_request(at, fhir, known)],
            (None, Some(hl7)) => self.hl7_requests(at, hl7, known),
            (None, None) => {
                self.error(
                    at,
                    "fhir",
                    "a step needs a request: `fhir:` (FHIR REST) or `hl7:` (HL7 v2 over MLLP)",
                );
                return Vec::new();
            }
        };
        let kind = if step.hl7.is_some() { "hl7" } else { "fhir" };
        self.expect(at, kind, &step.expect, known);
        let captures: Vec<(String, CaptureRule)> = step
            .capture
            .iter()
            .map(|(name, capture)| {
                self.capture(at, kind, name, capture);
                (name.clone(), capture.rule(kind))
            })
            .collect();
        let compiled = Arc::new(std::mem::take(&mut self.compiled));
        let line = self.step_starts.get(index).map_or(0, |l| l + 1);
        let n = requests.len();
        requests
            .into_iter()
            .enumerate()
            .map(|(k, request)| {
                let mut expect = step.expect.clone();
                let mut name = step.name.clone();
                if n > 1 {
                    // One step per message of a file: each gets its own result and snapshot.
                    name = format!("{} ({}/{n})", step.name, k + 1);
                    expect.snapshot = match &expect.snapshot {
                        Some(SnapshotName::Name(s)) => {
                            Some(SnapshotName::Name(format!("{s}-{}", k + 1)))
                        }
                        Some(SnapshotName::Flag(true)) => Some(SnapshotName::Name(format!(
                            "{}-{}",
                            slug(&step.name),
                            k + 1
                        ))),
                        other => other.clone(),
                    };
                }
                Step {
                    index,
                    name,
                    line,
                    request,
                    expect,
                    capture: step.capture.clone(),
                    captures: captures.clone(),
                    compiled: compiled.clone(),
                }
            })
            .collect()
    }

    fn fhir_request(
        &mut self,
        at: Option<(usize, &str)>,
        fhir: &super::model::FhirRequestFile,
        known: &HashSet<String>,
    ) -> Request {
        let method = fhir.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            self.error(
                at,
                "fhir.method",
                format!(
                    "unknown HTTP method `{}` (one of {})",
                    fhir.method,
                    METHODS.join(", ")
                ),
            );
        }
        self.check_template(at, "fhir.path", &fhir.path, known);
        for (name, value) in &fhir.headers {
            self.check_template(at, &format!("fhir.headers.{name}"), value, known);
        }
        let body = match (&fhir.body, &fhir.body_file) {
            (Some(_), Some(_)) => {
                self.error(at, "fhir.body_file", "give `body` or `body_file`, not both");
                None
            }
            (Some(serde_json::Value::String(text)), None) => {
                self.check_template(at, "fhir.body", text, known);
                Some(Body::Text(text.clone()))
            }
            (Some(json), None) => {
                for leaf in string_leaves(json) {
                    self.check_template(at, "fhir.body", &leaf, known);
                }
                Some(Body::Json(json.clone()))
            }
            (None, Some(file)) => match self.read_step_file(file) {
                Ok(text) => {
                    self.check_template(at, "fhir.body_file", &text, known);
                    Some(Body::Text(text))
                }
                Err(e) => {
                    self.error(at, "fhir.body_file", e);
                    None
                }
            },
            (None, None) => None,
        };
        Request::Fhir(FhirRequest {
            method,
            path: fhir.path.clone(),
            headers: fhir.headers.clone(),
            body,
            send_credentials: fhir.send_credentials,
        })
    }

    fn hl7_requests(
        &mut self,
        at: Option<(usize, &str)>,
        hl7: &super::model::Hl7RequestFile,
        known: &HashSet<String>,
    ) -> Vec<Request> {
        let texts: Vec<String> = match (&hl7.message, &hl7.file) {
            (Some(_), Some(_)) => {
                self.error(at, "hl7.file", "give `message` or `file`, not both");
                return Vec::new();
            }
            (Some(m), None) => {
                self.check_template(at, "hl7.message", m, known);
                vec![m.clone()]
            }
            (None, Some(file)) => match self.read_step_file(file) {
                Ok(text) => {
                    let messages = crate::hl7::batch::split_messages(&text);
                    if messages.is_empty() {
                        self.error(
                            at,
                            "hl7.file",
                            format!("{file} holds no HL7 message (no MSH segment)"),
                        );
                    }
                    for m in &messages {
                        self.check_template(at, "hl7.file", m, known);
                    }
                    messages
                }
                Err(e) => {
                    self.error(at, "hl7.file", e);
                    Vec::new()
                }
            },
            (None, None) => {
                self.error(at, "hl7", "an hl7 step needs `message` or `file`");
                Vec::new()
            }
        };
        let check_structure = match &hl7.check_structure {
            StructureCheckFile::Flag(false) => None,
            StructureCheckFile::Flag(true) => Some(StructureRules::default()),
            StructureCheckFile::Rules { profile, strict } => {
                let profile = match profile {
                    None => None,
                    Some(file) => match self.read_step_file(file) {
                        Ok(xml) => Some(std::sync::Arc::<str>::from(xml)),
                        Err(e) => {
                            self.error(at, "hl7.check_structure.profile", e);
                            None
                        }
                    },
                };
                Some(StructureRules {
                    strict: *strict,
                    profile,
                })
            }
        };
        texts
            .into_iter()
            .map(|message| {
                Request::Hl7(Hl7Request {
                    message,
                    check_structure: check_structure.clone(),
                })
            })
            .collect()
    }

    fn expect(
        &mut self,
        at: Option<(usize, &str)>,
        kind: &str,
        expect: &Expect,
        known: &HashSet<String>,
    ) {
        // Checks belong to one request kind; a FHIR check on an HL7 step would silently never run.
        let fhir_only = [
            ("expect.status", expect.status.is_some()),
            ("expect.headers", !expect.headers.is_empty()),
            ("expect.resource", expect.resource.is_some()),
            (
                "expect.operation_outcome",
                expect.operation_outcome.is_some(),
            ),
            ("expect.fhirpath", !expect.fhirpath.as_slice().is_empty()),
            ("expect.jsonpath", !expect.jsonpath.is_empty()),
        ];
        let hl7_only = [
            ("expect.ack", expect.ack.is_some()),
            ("expect.control_id", expect.control_id.is_some()),
            ("expect.ack_type", expect.ack_type.is_some()),
            ("expect.structure", expect.structure.is_some()),
            ("expect.fields", !expect.fields.is_empty()),
        ];
        let wrong: &[(&str, bool)] = if kind == "hl7" { &fhir_only } else { &hl7_only };
        for (field, _) in wrong.iter().filter(|(_, used)| *used) {
            self.error(at, field, format!("is not a check for {kind} steps"));
        }
        if let Some(codes) = &expect.ack {
            for c in codes.as_slice() {
                if !crate::hl7::ack::ACK_CODES.contains(&c.as_str()) {
                    self.error(
                        at,
                        "expect.ack",
                        format!(
                            "`{c}` is not an ACK code (one of {})",
                            crate::hl7::ack::ACK_CODES.join(", ")
                        ),
                    );
                }
            }
        }
        for (path, rule) in &expect.fields {
            let field = format!("expect.fields.{path}");
            match crate::hl7::FieldPath::parse(path) {
                Ok(parsed) => self.compiled.add_field(path, parsed),
                Err(e) => self.error(at, &field, e),
            }
            self.header_rule(at, &field, rule, known);
        }
        if let Some(status) = &expect.status {
            if let Err(e) = status_valid(status) {
                self.error(at, "expect.status", e);
            }
        }
        for (name, rule) in &expect.headers {
            let field = format!("expect.headers.{name}");
            self.header_rule(at, &field, rule, known);
        }
        if let Some(t) = &expect.resource {
            if !crate::fhir_types::RESOURCE_TYPES.contains(&t.as_str()) {
                let hint = did_you_mean(t, crate::fhir_types::RESOURCE_TYPES.iter().copied());
                self.error(
                    at,
                    "expect.resource",
                    format!("`{t}` is not a FHIR R4 resource type{hint}"),
                );
            }
        }
        for expr in expect.fhirpath.as_slice() {
            self.check_template(at, "expect.fhirpath", expr, known);
            if !expr.contains("{{") {
                match FhirPath::parse_with_depth(expr, self.opts.limits.max_depth) {
                    Ok(parsed) => self.compiled.add_fhirpath(expr, parsed),
                    Err(e) => self.error(at, "expect.fhirpath", e.to_string()),
                }
            }
        }
        for (path, rule) in &expect.jsonpath {
            let field = format!("expect.jsonpath.{path}");
            match serde_json_path::JsonPath::parse(path) {
                Ok(parsed) => self.compiled.add_jsonpath(path, parsed),
                Err(e) => self.error(at, "expect.jsonpath", format!("bad JSONPath `{path}`: {e}")),
            }
            let values: Vec<String> = match rule {
                JsonPathExpect::Equals(v) => string_leaves(v),
                JsonPathExpect::Rule(r) => {
                    let mut v: Vec<String> = r.equals.iter().flat_map(string_leaves).collect();
                    v.extend(r.matches.clone());
                    v
                }
            };
            for v in values {
                self.check_template(at, &field, &v, known);
            }
        }
        if let Some(SnapshotName::Name(n)) = &expect.snapshot {
            if n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.') {
                self.error(
                    at,
                    "expect.snapshot",
                    format!("`{n}` cannot be a file name"),
                );
            }
        }
    }

    fn header_rule(
        &mut self,
        at: Option<(usize, &str)>,
        field: &str,
        rule: &HeaderExpect,
        known: &HashSet<String>,
    ) {
        let field = field.to_string();
        match rule {
            HeaderExpect::Equals(v) => self.check_template(at, &field, v, known),
            HeaderExpect::Rule(r) => {
                if r.present.is_none()
                    && r.equals.is_none()
                    && r.contains.is_none()
                    && r.matches.is_none()
                {
                    self.error(
                        at,
                        &field,
                        "give one of `present`, `equals`, `contains`, `matches`",
                    );
                }
                for v in [&r.equals, &r.contains, &r.matches].into_iter().flatten() {
                    self.check_template(at, &field, v, known);
                }
                if let Some(re) = &r.matches {
                    if !re.contains("{{") {
                        match regex::Regex::new(re) {
                            Ok(parsed) => self.compiled.add_regex(parsed),
                            Err(e) => self.error(at, &field, format!("bad regex: {e}")),
                        }
                    }
                }
            }
        }
    }

    fn capture(&mut self, at: Option<(usize, &str)>, kind: &str, name: &str, capture: &Capture) {
        let field = format!("capture.{name}");
        let rule = capture.rule(kind);
        let sources = [
            rule.header.is_some(),
            rule.jsonpath.is_some(),
            rule.fhirpath.is_some(),
            rule.field.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if sources != 1 {
            self.error(
                at,
                &field,
                "give exactly one of `header`, `jsonpath`, `fhirpath` (FHIR) or `field` (HL7)",
            );
        }
        if kind == "hl7" && rule.field.is_none() {
            self.error(
                at,
                &field,
                "an hl7 step captures from its ACK by `field` (e.g. MSA-2)",
            );
        }
        if let Some(f) = &rule.field {
            if kind != "hl7" {
                self.error(at, &field, "`field` captures are for hl7 steps");
            }
            match crate::hl7::FieldPath::parse(f) {
                Ok(parsed) => self.compiled.add_field(f, parsed),
                Err(e) => self.error(at, &field, e),
            }
        }
        if let Some(p) = &rule.jsonpath {
            match serde_json_path::JsonPath::parse(p) {
                Ok(parsed) => self.compiled.add_jsonpath(p, parsed),
                Err(e) => self.error(at, &field, format!("bad JSONPath `{p}`: {e}")),
            }
        }
        if let Some(p) = &rule.fhirpath {
            match FhirPath::parse_with_depth(p, self.opts.limits.max_depth) {
                Ok(parsed) => self.compiled.add_fhirpath(p, parsed),
                Err(e) => self.error(at, &field, e.to_string()),
            }
        }
        if let Some(re) = &rule.regex {
            match regex::Regex::new(re) {
                Ok(parsed) => self.compiled.add_regex(parsed),
                Err(e) => self.error(at, &field, format!("bad regex: {e}")),
            }
        }
    }

    fn check_template(
        &mut self,
        at: Option<(usize, &str)>,
        field: &str,
        text: &str,
        known: &HashSet<String>,
    ) {
        let names = match self.templates.referenced_variables(text) {
            Ok(n) => n,
            Err(e) => {
                self.error(at, field, format!("bad template: {e}"));
                return;
            }
        };
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        for name in names {
            let (top, attr) = match name.split_once('.') {
                Some((t, a)) => (t, Some(a)),
                None => (name.as_str(), None),
            };
            if let ("env", Some(var)) = (top, attr) {
                self.env.insert(var.to_string());
            }
            let problem = if !known.contains(top) {
                let hint = did_you_mean(top, known.iter().map(String::as_str));
                Some(format!("undefined variable `{top}`{hint}"))
            } else {
                match (top, attr) {
                    ("fake", Some(a)) if !FAKE_FIELDS.contains(&a) => Some(format!(
                        "`fake.{a}` is not a generator{}",
                        did_you_mean(a, FAKE_FIELDS.iter().copied())
                    )),
                    ("now", Some(a)) if !NOW_FIELDS.contains(&a) => Some(format!(
                        "`now.{a}` is not a format (one of {})",
                        NOW_FIELDS.join(", ")
                    )),
                    ("fake", None) => Some("use a generator such as `fake.name`".to_string()),
                    _ => None,
                }
            };
            if let Some(p) = problem {
                self.error_at_text(at, field, &name, p);
            }
        }
    }

    /// Like `error`, but points at the line where the variable itself is written when it can.
    fn error_at_text(
        &mut self,
        at: Option<(usize, &str)>,
        field: &str,
        var: &str,
        message: String,
    ) {
        let top = var.split('.').next().unwrap_or(var);
        let (mut line, mut column) = locate(self.source, at.map(|s| s.0), field);
        if line > 0 {
            // Search from the field's line for the `{{ var` occurrence (multi-line bodies).
            let needle = regex::Regex::new(&format!(r"\{{\{{-?\s*{}\b", regex::escape(top))).ok();
            if let Some(re) = needle {
                for (n, l) in self.source.lines().enumerate().skip(line - 1) {
                    if let Some(m) = re.find(l) {
                        line = n + 1;
                        column = m.start() + 1;
                        break;
                    }
                }
            }
        }
        let mut e = Located::new(self.path, message)
            .at(self.source, line, column)
            .field(field);
        if let Some((_, name)) = at {
            e = e.step(name);
        }
        self.errors.push(e.into_error());
    }
}

fn snapshot_name(step: &Step) -> Option<String> {
    match &step.expect.snapshot {
        Some(SnapshotName::Name(n)) => Some(n.clone()),
        Some(SnapshotName::Flag(true)) => Some(slug(&step.name)),
        _ => None,
    }
}

/// A file-name-safe form of a name: lowercase, runs of other characters become `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn status_valid(s: &StatusExpect) -> Result<(), String> {
    match s {
        StatusExpect::Code(c) if (100..=599).contains(c) => Ok(()),
        StatusExpect::Code(c) => Err(format!("{c} is not an HTTP status")),
        StatusExpect::Pattern(p) => {
            let b = p.as_bytes();
            let class =
                p.len() == 3 && (b'1'..=b'5').contains(&b[0]) && p[1..].eq_ignore_ascii_case("xx");
            if class || p.parse::<u16>().is_ok_and(|c| (100..=599).contains(&c)) {
                Ok(())
            } else {
                Err(format!(
                    "`{p}` is not a status (use 200, \"2xx\" or a list)"
                ))
            }
        }
        StatusExpect::AnyOf(list) => list.iter().try_for_each(status_valid),
    }
}

/// Every string inside a JSON value (the templated parts of a structured body).
pub fn string_leaves(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| {
                out.push(k.clone());
                walk(x, out)
            }),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        // Damerau-Levenshtein catches short transpositions (`mnr`), Jaro-Winkler long prefixes.
        .map(|c| {
            (
                strsim::normalized_damerau_levenshtein(word, c)
                    .max(strsim::jaro_winkler(word, c) - 0.2),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(src: &str) -> Result<Scenario, Vec<ScenarioError>> {
        parse_scenario(Path::new("t.yaml"), src, &LoadOptions::default())
    }

    fn first_error(src: &str) -> String {
        load(src).unwrap_err().remove(0).to_string()
    }

    #[test]
    fn expressions_are_compiled_once_at_load() {
        let s = load(
            "name: c\nredact: [\"$.birthDate\"]\nsteps:\n  - name: read\n    fhir: {path: /Patient/1}\n    expect:\n      fhirpath: [\"Patient.active\", \"Patient.id = '{{ uuid }}'\"]\n      jsonpath: {\"$.id\": \"1\"}\n      headers: {ETag: {matches: \"^W/\"}}\n    capture:\n      fam: \"Patient.name.family\"\n      v: {header: ETag, regex: \"W/\\\"(\\\\d+)\"}\n",
        )
        .unwrap();
        let st = &s.steps[0];
        // Two FHIRPaths (the templated one waits for its render), one JSONPath, two regexes.
        assert_eq!(st.compiled.len(), 5, "{:?}", st.compiled);
        assert!(st.compiled.fhirpath("Patient.active").is_ok());
        assert_eq!(st.captures.len(), 2);
        assert_eq!(
            st.captures[0].1.fhirpath.as_deref(),
            Some("Patient.name.family")
        );
        assert_eq!(s.compiled.len(), 1, "the redaction's JSONPath");
    }

    #[test]
    fn loads_a_valid_scenario() {
        let s = load(
            "name: ok\nvars:\n  mrn: \"{{ fake.mrn }}\"\nsteps:\n  - name: create\n    fhir:\n      method: post\n      path: /Patient\n      body: {resourceType: Patient, identifier: [{value: \"{{ mrn }}\"}]}\n    expect: {status: 201, resource: Patient}\n    capture: {id: \"$.id\"}\n  - name: read\n    fhir: {path: \"/Patient/{{ id }}\"}\n",
        )
        .unwrap();
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[1].line, 12);
        let Request::Fhir(r) = &s.steps[0].request else {
            panic!("fhir step expected")
        };
        assert_eq!(r.method, "POST");
    }

    #[test]
    fn unknown_field_names_line_step_and_field() {
        let e = first_error(
            "name: x\nsteps:\n  - name: read it\n    fhir:\n      path: /x\n      bogus: 1\n",
        );
        assert!(e.starts_with("t.yaml:6:"), "{e}");
        assert!(e.contains("step `read it`"), "{e}");
        assert!(e.contains("unknown field `bogus`"), "{e}");
    }

    #[test]
    fn undefined_variable_is_located() {
        let e = first_error("name: x\nvars: {mrn: \"1\"}\nsteps:\n  - name: s\n    fhir:\n      path: /Patient?identifier={{ mnr }}\n");
        assert!(e.starts_with("t.yaml:6:"), "{e}");
        assert!(e.contains("field `fhir.path`"), "{e}");
        assert!(
            e.contains("undefined variable `mnr` (did you mean `mrn`?)"),
            "{e}"
        );
    }

    #[test]
    fn capture_used_before_it_is_made_is_an_error() {
        let e = first_error("name: x\nsteps:\n  - name: a\n    fhir: {path: \"/P/{{ id }}\"}\n  - name: b\n    fhir: {path: /P}\n    capture: {id: \"$.id\"}\n");
        assert!(e.contains("undefined variable `id`"), "{e}");
    }

    #[test]
    fn yaml_syntax_error_has_position() {
        let e = first_error("name: x\nsteps:\n  - name: a\n    fhir: {path: /x\n");
        assert!(e.starts_with("t.yaml:"), "{e}");
        assert!(!e.starts_with("t.yaml: "), "position missing: {e}");
    }

    #[test]
    fn bad_checks_are_reported_together() {
        let errs = load("name: x\nsteps:\n  - name: a\n    fhir: {method: FETCH, path: /x}\n    expect:\n      status: 2xy\n      resource: Patinet\n      fhirpath: \"Patient.name.where(\"\n").unwrap_err();
        let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(all.len(), 4, "{all:#?}");
        assert!(all[1].contains("2xy"));
        assert!(all[2].contains("did you mean `Patient`"), "{}", all[2]);
    }

    #[test]
    fn fake_generator_typo() {
        let e =
            first_error("name: x\nsteps:\n  - name: a\n    fhir: {path: \"/x/{{ fake.nmae }}\"}\n");
        assert!(
            e.contains("`fake.nmae` is not a generator (did you mean `name`?)"),
            "{e}"
        );
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Create Patient (v2)"), "create-patient-v2");
    }
}
