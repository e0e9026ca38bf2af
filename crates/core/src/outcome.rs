//! What a FHIR validator says about a resource, shaped like an OperationOutcome issue: the form the
//! reference validator, Inferno and Touchstone report in, so a user can put our findings next to
//! theirs line by line. `validate --json`, check failures, certify evidence and the sandbox's
//! `$validate` all carry these.

use serde::Serialize;
use serde_json::{json, Value};

/// OperationOutcome.issue.severity (information is kept out of verdicts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }

    /// Fatal and error fail a resource; warnings and information don't.
    pub fn fails(self) -> bool {
        matches!(self, Severity::Fatal | Severity::Error)
    }
}

/// One finding. `code` is an OperationOutcome issue type (`structure`, `required`, `value`,
/// `invariant`, `code-invalid`, `invalid`, `not-found`, `not-supported`, `informational`,
/// `processing`, `business-rule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub severity: Severity,
    pub code: &'static str,
    /// Where, as FHIRPath with indexes: `Patient.name[0].given[1]`.
    pub expression: String,
    /// 1-based line and column of the element in the source JSON, when the text was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The rule broken: an invariant key (`obs-6`), a profile URL, `cardinality`, `type`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub message: String,
}

impl Issue {
    pub fn new(
        severity: Severity,
        code: &'static str,
        expression: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Issue {
            severity,
            code,
            expression: expression.into(),
            line: None,
            column: None,
            rule: None,
            message: message.into(),
        }
    }

    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    /// As an OperationOutcome.issue, with the line and column in the extensions the reference
    /// validator uses for them.
    pub fn to_fhir(&self) -> Value {
        let mut issue = json!({
            "severity": self.severity.as_str(),
            "code": self.code,
            "details": {"text": self.message},
            "expression": [self.expression],
        });
        let mut ext = Vec::new();
        if let (Some(line), Some(col)) = (self.line, self.column) {
            ext.push(json!({"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line", "valueInteger": line}));
            ext.push(json!({"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col", "valueInteger": col}));
        }
        if let Some(rule) = &self.rule {
            ext.push(json!({"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id", "valueString": rule}));
        }
        if !ext.is_empty() {
            issue["extension"] = Value::Array(ext);
        }
        issue
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.severity.as_str(), self.expression)?;
        if let (Some(line), Some(col)) = (self.line, self.column) {
            write!(f, " (line {line}, col {col})")?;
        }
        match &self.rule {
            Some(rule) => write!(f, " [{rule}]: {}", self.message),
            None => write!(f, ": {}", self.message),
        }
    }
}

/// An OperationOutcome holding `issues`; one `informational` issue when there are none, as the
/// specification asks of `$validate` (an OperationOutcome must have at least one issue).
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let list: Vec<Value> = if issues.is_empty() {
        vec![json!({"severity": "information", "code": "informational",
                     "details": {"text": "No issues found"}})]
    } else {
        issues.iter().map(Issue::to_fhir).collect()
    };
    json!({"resourceType": "OperationOutcome", "issue": list})
}

/// True when any issue fails the resource.
pub fn has_errors(issues: &[Issue]) -> bool {
    issues.iter().any(|i| i.severity.fails())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_renders_as_text_and_fhir() {
        let mut i = Issue::new(
            Severity::Error,
            "invariant",
            "Observation",
            "If there is no component, there must be a value",
        )
        .with_rule("obs-6");
        i.line = Some(3);
        i.column = Some(7);
        assert_eq!(
            i.to_string(),
            "error Observation (line 3, col 7) [obs-6]: If there is no component, there must be a value"
        );
        let f = i.to_fhir();
        assert_eq!(f["expression"][0], "Observation");
        assert_eq!(f["extension"][0]["valueInteger"], 3);
        let oo = operation_outcome(&[]);
        assert_eq!(oo["issue"][0]["severity"], "information");
        assert!(has_errors(&[i]));
    }
}
