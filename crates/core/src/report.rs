//! The outcome of a run: one tree (run → scenario → step → check) that every report format reads.
//!
//! This is also the JSON report's schema (`--format json`), documented in `docs/report-schema.md`.
//! Fields are only ever added; a change that breaks readers bumps `SCHEMA`.

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "emr-harness/report/v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    /// Always `emr-harness/report/v1` for this layout.
    pub schema: String,
    pub tool_version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: f64,
    /// The FHIR base URL the run was pointed at (`sandbox` runs name the sandbox's address).
    pub target: String,
    /// Seed of the generated test data; `--seed` with this value reproduces the data.
    pub seed: u64,
    /// True when the run was interrupted (Ctrl-C) and not every step ran.
    pub partial: bool,
    /// True when the server's TLS certificate was not verified (`--insecure`): results from such
    /// a run say nothing about who answered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_insecure: bool,
    /// HL7 v2 over MLLP: messages sent, and how often the peer had closed the connection so a
    /// new one was opened (engines that close after every ACK show one per message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mllp: Option<MllpSummary>,
    pub summary: Summary,
    pub scenarios: Vec<ScenarioResult>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MllpSummary {
    pub messages: u64,
    /// Connections opened (the first included).
    pub connections: u64,
    /// Connections opened because the peer had closed the one before.
    pub reconnects: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub scenarios: usize,
    pub scenarios_passed: usize,
    pub steps: usize,
    pub passed: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Skipped,
    /// A check did not hold.
    Failed,
    /// The exchange itself broke (no response, timeout, reset) or the scenario could not go on.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioResult {
    pub name: String,
    pub file: String,
    pub status: Status,
    pub duration_ms: f64,
    /// Set when the scenario could not start (e.g. a `vars` template failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    pub steps: Vec<StepResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepResult {
    pub name: String,
    /// `fhir` (later also `hl7`).
    pub kind: String,
    /// Line of the step in its scenario file.
    pub line: usize,
    pub status: Status,
    pub duration_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseSummary>,
    pub checks: Vec<CheckResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// What the run did on its own that a reader should know, e.g. credentials withheld from a
    /// URL on another origin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestSummary {
    pub method: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResponseSummary {
    /// HTTP status (FHIR steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// MSA-1 of the ACK (HL7 steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// `status`, `header`, `resource`, `operation_outcome`, `fhirpath`, `jsonpath`, `snapshot`.
    pub kind: String,
    /// Where in the scenario the check is written, e.g. `expect.headers.ETag`.
    pub field: String,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For snapshots: the unified diff golden → actual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The scenario cannot go on as written: a capture matched nothing, a template failed.
    Scenario,
    /// The target refused or could not be reached.
    Connect,
    Timeout,
    /// The connection closed or broke mid-exchange.
    Reset,
    Transport,
    /// No credentials could be obtained (token endpoint refused, key unreadable).
    Auth,
    /// The run was interrupted before this step finished.
    Interrupted,
    /// The TLS handshake failed: the server's certificate was not trusted, or ours was refused.
    Tls,
    /// The answer is not valid HTTP (or not a valid MLLP frame): a broken or hostile server.
    Protocol,
    /// The answer broke one of the run's limits (body size, segment count): named in the message.
    Limit,
    /// The run refused to send: a host off this machine during load without `--allow-remote`.
    Policy,
}

impl RunReport {
    pub fn summarize(scenarios: &[ScenarioResult]) -> Summary {
        let mut s = Summary {
            scenarios: scenarios.len(),
            ..Summary::default()
        };
        for sc in scenarios {
            if sc.status == Status::Passed {
                s.scenarios_passed += 1;
            }
            for st in &sc.steps {
                s.steps += 1;
                match st.status {
                    Status::Passed => s.passed += 1,
                    Status::Failed => s.failed += 1,
                    Status::Error => s.errored += 1,
                    Status::Skipped => s.skipped += 1,
                }
            }
        }
        s
    }

    /// Every error of a step that ran (or of a scenario that could not start), for exit-code
    /// decisions. Steps skipped because an earlier exchange broke say why, but the cause is the
    /// earlier error, not a problem in the scenario file.
    pub fn errors(&self) -> impl Iterator<Item = &StepError> {
        self.scenarios.iter().flat_map(|sc| {
            sc.error.iter().chain(
                sc.steps
                    .iter()
                    .filter(|st| st.status != Status::Skipped)
                    .filter_map(|st| st.error.as_ref()),
            )
        })
    }

    pub fn all_passed(&self) -> bool {
        !self.partial && self.scenarios.iter().all(|s| s.status == Status::Passed)
    }
}
