//! Scenario files: the format (`model`), loading and validation (`load`), templating (`template`),
//! and positioned errors (`error`). Nothing here touches the network.

pub mod error;
mod guard;
pub mod load;
pub mod model;
pub mod template;
pub mod write;

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::check::compiled::Compiled;

pub use error::ScenarioError;
pub use load::{load_paths, parse_scenario, LoadOptions};
pub use model::{Capture, CaptureRule, Expect, Redaction};

/// A scenario that loaded and validated: every template's variables are known, every regex and
/// path expression compiles, every body file was read.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub path: PathBuf,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// Templates, rendered in order when a run of this scenario starts.
    pub vars: IndexMap<String, String>,
    pub redact: Vec<model::RedactionRule>,
    pub snapshot_headers: Vec<String>,
    pub steps: Vec<Step>,
    /// Environment variables its templates read (`{{ env.X }}`): values that leave this machine.
    pub reads_env: Vec<String>,
    /// Files its steps read (`body_file`, `hl7.file`).
    pub reads_files: Vec<PathBuf>,
    /// Its redaction rules' JSONPaths, parsed once.
    pub compiled: Arc<Compiled>,
}

impl Scenario {
    /// Hosts of the absolute URLs its FHIR steps name outright (not through a template), for
    /// checks that must happen before a run contacts anything.
    pub fn absolute_hosts(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|st| match &st.request {
                Request::Fhir(r) if !r.path.contains("{{") => {
                    crate::origin::origin_of(&r.path).map(|(_, h, _)| h.to_string())
                }
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub index: usize,
    pub name: String,
    /// 1-based line of the step in its file, for reports.
    pub line: usize,
    pub request: Request,
    pub expect: Expect,
    pub capture: IndexMap<String, Capture>,
    /// The captures as typed rules for this step's kind, in file order.
    pub captures: Vec<(String, CaptureRule)>,
    /// Every expression of the step, parsed once at load (see `check::compiled`).
    pub compiled: Arc<Compiled>,
}

/// The request kinds a step can make: FHIR REST over HTTP, HL7 v2 over MLLP.
#[derive(Debug, Clone)]
pub enum Request {
    Fhir(FhirRequest),
    Hl7(Hl7Request),
}

impl Request {
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Fhir(_) => "fhir",
            Request::Hl7(_) => "hl7",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Hl7Request {
    /// ER7 template; segment ends are normalised to `\r` after rendering.
    pub message: String,
    /// How the message is checked before it is sent; `None` when not at all.
    pub check_structure: Option<StructureRules>,
}

/// What the structure check of a sent message applies besides the standard.
#[derive(Debug, Clone, Default)]
pub struct StructureRules {
    /// Warnings fail the check too.
    pub strict: bool,
    /// A conformance profile (its XML, read when the scenario loaded).
    pub profile: Option<std::sync::Arc<str>>,
}

#[derive(Debug, Clone)]
pub struct FhirRequest {
    pub method: String,
    pub path: String,
    pub headers: IndexMap<String, String>,
    pub body: Option<Body>,
    /// Credentials go to this request's URL even on another origin (`send_credentials: true`).
    pub send_credentials: bool,
}

#[derive(Debug, Clone)]
pub enum Body {
    /// Structured JSON; string leaves are templates, so numbers and booleans keep their type.
    Json(serde_json::Value),
    /// Raw text (from `body_file` or a string `body`), templated as a whole.
    Text(String),
}

pub const DEFAULT_SNAPSHOT_HEADERS: &[&str] =
    &["content-type", "location", "etag", "last-modified"];
