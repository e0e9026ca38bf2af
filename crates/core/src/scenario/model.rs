//! The scenario file format, as serde reads it.
//!
//! Everything here is plain data: no I/O, no network. `load.rs` turns a file into these types and
//! validates what serde cannot (exactly one request kind per step, known variables, valid regexes).
//! `deny_unknown_fields` everywhere, so a typo in a key is an error with a position, never a check
//! that silently does nothing.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One scenario file: an ordered list of steps sharing variables.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Evaluated once, in order, when the scenario starts; a var may use earlier vars.
    #[serde(default)]
    pub vars: IndexMap<String, Scalar>,
    /// Extra redactions applied to every snapshot of this scenario.
    #[serde(default)]
    pub redact: Vec<Redaction>,
    /// Response headers kept in snapshots (default: content-type, location, etag, last-modified).
    #[serde(default)]
    pub snapshot_headers: Option<Vec<String>>,
    pub steps: Vec<StepFile>,
}

/// A YAML scalar used as a variable value; numbers and booleans become their text.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Text(s) => f.write_str(s),
            Scalar::Integer(n) => write!(f, "{n}"),
            Scalar::Float(n) => write!(f, "{n}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One step. Exactly one request kind (`fhir` or `hl7`) must be present; the loader checks.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub name: String,
    #[serde(default)]
    pub fhir: Option<FhirRequestFile>,
    #[serde(default)]
    pub hl7: Option<Hl7RequestFile>,
    #[serde(default)]
    pub expect: Expect,
    #[serde(default)]
    pub capture: IndexMap<String, Capture>,
}

/// A FHIR REST request. `path` is relative to the target base URL and may carry a query string.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FhirRequestFile {
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Inline body: a YAML/JSON object (its string leaves are templated) or raw text.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Body read from a file next to the scenario, templated as text.
    #[serde(default)]
    pub body_file: Option<String>,
    /// Send the run's credentials with this request even when its URL is on another origin
    /// than the target. Off, they go to the target's origin only (as curl and browsers do).
    #[serde(default)]
    pub send_credentials: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StructureCheckFile {
    Flag(bool),
    Rules {
        #[serde(default)]
        profile: Option<String>,
        #[serde(default)]
        strict: bool,
    },
}

impl Default for StructureCheckFile {
    fn default() -> Self {
        StructureCheckFile::Flag(true)
    }
}

/// An HL7 v2 message sent over MLLP: inline (templated), or every message of a file in order
/// (an FHS/BHS batch, concatenated messages, or an MLLP capture).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hl7RequestFile {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    /// Check the sent message against the standard before sending: `true` (default), `false` (for
    /// deliberately broken messages), or `{ profile: file.xml, strict: true }` to check it
    /// against a conformance profile too, and fail on warnings.
    #[serde(default)]
    pub check_structure: StructureCheckFile,
}

fn default_method() -> String {
    "GET".to_string()
}

/// What a step's response must satisfy. Every field is optional; absent means "not checked".
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub status: Option<StatusExpect>,
    #[serde(default)]
    pub headers: IndexMap<String, HeaderExpect>,
    /// The body must parse as this FHIR R4 resource type with the typed model.
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub operation_outcome: Option<OutcomeExpect>,
    /// FHIRPath-style expressions that must evaluate to true.
    #[serde(default)]
    pub fhirpath: OneOrMany<String>,
    /// JSONPath (RFC 9535) queries into the body and what they must give.
    #[serde(default)]
    pub jsonpath: IndexMap<String, JsonPathExpect>,
    /// Compare the redacted response with a golden file of this name (`true`: the step's name).
    #[serde(default)]
    pub snapshot: Option<SnapshotName>,
    /// HL7: acceptable ACK codes (MSA-1); default AA or CA.
    #[serde(default)]
    pub ack: Option<OneOrMany<String>>,
    /// HL7: MSA-2 must equal the MSH-10 that was sent (default true).
    #[serde(default)]
    pub control_id: Option<bool>,
    /// HL7: the ACK's MSH-9 must be `ACK^<the request's trigger>` (default true).
    #[serde(default)]
    pub ack_type: Option<bool>,
    /// HL7: check the ACK's structure (MSH, MSA, [ERR]; tables, formats) (default true).
    #[serde(default)]
    pub structure: Option<bool>,
    /// HL7: values in the ACK by field path (`ERR-3.1`, `MSA-3`), as header checks.
    #[serde(default)]
    pub fields: IndexMap<String, HeaderExpect>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(t) => std::slice::from_ref(t),
            OneOrMany::Many(v) => v,
        }
    }
}

/// `200`, `"2xx"`, or a list of either.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StatusExpect {
    Code(u16),
    Pattern(String),
    AnyOf(Vec<StatusExpect>),
}

/// `"exact value"` or one of the structured forms.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum HeaderExpect {
    Equals(String),
    Rule(HeaderRule),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    #[serde(default)]
    pub present: Option<bool>,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
    pub matches: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeExpect {
    /// The body must be an OperationOutcome (with at least one issue).
    Expected,
    /// The body must not be an OperationOutcome.
    Forbidden,
}

/// A plain value means "equals"; the structured form offers the other tests.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum JsonPathExpect {
    Rule(JsonPathRule),
    Equals(serde_json::Value),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPathRule {
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    #[serde(default)]
    pub exists: Option<bool>,
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub matches: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SnapshotName {
    Flag(bool),
    Name(String),
}

/// Where a captured value comes from. A bare string is a JSONPath (`$...`) or FHIRPath expression.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Capture {
    Expr(String),
    Rule(CaptureRule),
}

impl Capture {
    /// The capture as a rule; on an hl7 step a bare string is an HL7 field path into the ACK.
    pub fn rule(&self, kind: &str) -> CaptureRule {
        match self {
            Capture::Expr(e) if kind == "hl7" => CaptureRule {
                field: Some(e.clone()),
                ..Default::default()
            },
            Capture::Expr(e) => CaptureRule::from_expr(e),
            Capture::Rule(r) => r.clone(),
        }
    }
}

impl CaptureRule {
    /// A bare capture string is a JSONPath when it starts with `$`, otherwise FHIRPath.
    pub fn from_expr(expr: &str) -> CaptureRule {
        if expr.trim_start().starts_with('$') {
            CaptureRule {
                jsonpath: Some(expr.to_string()),
                ..Default::default()
            }
        } else {
            CaptureRule {
                fhirpath: Some(expr.to_string()),
                ..Default::default()
            }
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRule {
    #[serde(default)]
    pub header: Option<String>,
    #[serde(default)]
    pub jsonpath: Option<String>,
    #[serde(default)]
    pub fhirpath: Option<String>,
    /// HL7 field path into the ACK (`MSA-2`, `ERR-3.1`).
    #[serde(default)]
    pub field: Option<String>,
    /// Applied to the selected text; the first group (or the whole match) is captured.
    #[serde(default)]
    pub regex: Option<String>,
}

/// An extra redaction: a JSONPath into the body, or a header name.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Redaction {
    Path(String),
    Rule(RedactionRule),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionRule {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub header: Option<String>,
    /// HL7 field path redacted in ACK snapshots.
    #[serde(default)]
    pub field: Option<String>,
    /// Replacement text (default `[redacted]`).
    #[serde(default, rename = "as")]
    pub replacement: Option<String>,
}
