//! Is this JSON a valid FHIR R4 resource? Judged by the specification's own definitions
//! (StructureDefinitions, ValueSets, CodeSystems of FHIR 4.0.1, `defs`), not by a typed model:
//! a typed model is lenient where the validator must not be (it drops unknown elements, takes any
//! string as an id, has no invariants), and the one Rust model set (fhir-sdk) is R4B, which has
//! types R4 lacks and lacks types R4 has.
//!
//! The layers: `structure` compiles snapshots; `walk` checks an instance against them (elements,
//! cardinality, JSON shape, types, choice types, primitives via `primitive`, bindings via
//! `terminology`, invariants via `invariant`); `rules` holds what the element tree doesn't say
//! (resource ids, contained resources, Bundle fullUrls, references, extensions, Attachments);
//! `profile` and `slicing` add profile rules; `snapshot` generates snapshots for profiles given
//! as differentials; `position` finds line and column for each finding; `package` loads IG
//! packages.

mod defs;
mod invariant;
pub mod package;

mod position;
mod primitive;
mod profile;
mod questionnaire;

mod rules;
mod slicing;
mod snapshot;
mod structure;
mod terminology;
mod walk;

use std::collections::HashSet;
use std::sync::Arc;

pub use defs::{Definitions, DefinitionsError};
pub use emr_core::check::is_operation_outcome;
use emr_core::outcome::{Issue, Severity};
use serde_json::Value;
pub use structure::InvariantStatus;

use walk::{Frame, Walker};

/// How strict to be, and against what.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Profiles every resource must meet, besides those it claims in `meta.profile`.
    pub profiles: Vec<String>,
    /// HTML in markdown is an error rather than a warning (the reference validator's setting).
    pub html_in_markdown_is_error: bool,
    /// Questionnaires to validate QuestionnaireResponses against, beyond the definitions'.
    pub questionnaires: Vec<Value>,
}

/// What the validator found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub issues: Vec<Issue>,
    /// Elements present in the resource that a profile flags must-support.
    pub must_support: Vec<String>,
    /// Invariants met but not evaluated (the engine could not), with the reason.
    pub unevaluated: Vec<(String, String)>,
}

impl Outcome {
    pub fn is_valid(&self) -> bool {
        !emr_core::outcome::has_errors(&self.issues)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity.fails())
    }

    /// As a FHIR OperationOutcome (the `$validate` answer).
    pub fn to_operation_outcome(&self) -> Value {
        emr_core::outcome::operation_outcome(&self.issues)
    }
}

/// A validator over a definitions set.
#[derive(Debug, Clone)]
pub struct Validator {
    defs: Arc<Definitions>,
    opts: Options,
}

impl Default for Validator {
    fn default() -> Self {
        Validator::r4()
    }
}

impl Validator {
    /// FHIR R4 core, no extra profiles.
    pub fn r4() -> Self {
        Validator {
            defs: Definitions::r4(),
            opts: Options::default(),
        }
    }

    pub fn new(defs: Arc<Definitions>, opts: Options) -> Self {
        Validator { defs, opts }
    }

    pub fn definitions(&self) -> &Definitions {
        &self.defs
    }

    /// Validates JSON text: a syntax error is one fatal issue with its line and column; every
    /// finding carries the line and column of its element.
    pub fn validate_text(&self, text: &str, expected: Option<&str>) -> Outcome {
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => {
                let mut i = Issue::new(
                    Severity::Fatal,
                    "invalid",
                    "(document)",
                    format!("Error parsing JSON: {e}"),
                );
                i.line = Some(e.line() as u32);
                i.column = Some(e.column() as u32);
                return Outcome {
                    issues: vec![i],
                    ..Outcome::default()
                };
            }
        };
        self.run(&value, expected, Some(text))
    }

    /// Validates a parsed resource (findings without line and column).
    pub fn validate_value(&self, value: &Value, expected: Option<&str>) -> Outcome {
        self.run(value, expected, None)
    }

    fn run(&self, value: &Value, expected: Option<&str>, text: Option<&str>) -> Outcome {
        let mut w = Walker::new(&self.defs, &self.opts);
        let frame = Frame {
            resource: value,
            root: value,
            bundle: (value.get("resourceType").and_then(Value::as_str) == Some("Bundle"))
                .then_some(value),
        };
        w.resource(value, frame, expected);
        let claimed: Vec<&str> = value
            .get("meta")
            .and_then(|m| m.get("profile"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for url in &claimed {
            profile::resource_against(&mut w, url, value, frame, true);
        }
        for url in &self.opts.profiles {
            if !claimed.contains(&url.as_str()) {
                profile::resource_against(&mut w, url, value, frame, false);
            }
        }
        questionnaire::check_response(&mut w, value, frame);

        finish(w, text)
    }
}

/// Renders locations, removes findings made twice (a profile's snapshot repeats its base's
/// rules), and orders by place.
fn finish(w: Walker<'_>, text: Option<&str>) -> Outcome {
    let mut seen = HashSet::new();
    let mut raws = Vec::new();
    for r in w.found {
        if seen.insert((
            r.issue.severity,
            r.issue.expression.clone(),
            r.issue.message.clone(),
        )) {
            raws.push(r);
        }
    }
    if let Some(text) = text {
        let wanted: HashSet<String> = raws.iter().map(|r| position::key(&r.at)).collect();
        let at = position::locate(text, &wanted);
        for r in &mut raws {
            if let Some(&(line, col)) = at.get(&position::key(&r.at)) {
                r.issue.line = Some(line);
                r.issue.column = Some(col);
            }
        }
    }
    let mut unevaluated: Vec<(String, String)> = w.unevaluated.into_iter().collect();
    unevaluated.sort();
    let mut must_support = w.must_support;
    must_support.sort();
    must_support.dedup();
    Outcome {
        issues: raws.into_iter().map(|r| r.issue).collect(),
        must_support,
        unevaluated,
    }
}

/// The validator the runner hands to the checks (`expect.resource`): FHIR R4 core.
#[derive(Debug, Default, Clone)]
pub struct FhirValidator {
    inner: Option<Validator>,
}

impl FhirValidator {
    pub fn new(v: Validator) -> Self {
        FhirValidator { inner: Some(v) }
    }

    fn validator(&self) -> Validator {
        self.inner.clone().unwrap_or_else(Validator::r4)
    }
}

impl emr_core::check::ResourceValidator for FhirValidator {
    fn validate(&self, value: &Value, expected: Option<&str>) -> Result<(), Vec<String>> {
        validate_with(&self.validator(), value, expected)
    }
}

fn validate_with(v: &Validator, value: &Value, expected: Option<&str>) -> Result<(), Vec<String>> {
    let out = v.validate_value(value, expected);
    let errors: Vec<String> = out.errors().map(ToString::to_string).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Validates `value` as a FHIR R4 resource, of type `expected` when given: every error, as text.
pub fn validate_resource(value: &Value, expected: Option<&str>) -> Result<(), Vec<String>> {
    validate_with(&Validator::r4(), value, expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_types_match_the_definitions() {
        let ours = Definitions::r4().resource_types();
        let core: Vec<String> = emr_core::fhir_types::RESOURCE_TYPES
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(ours, core);
        assert!(ours.contains(&"MedicinalProduct".to_string()));
        assert!(!ours.contains(&"Citation".to_string()));
    }

    #[test]
    fn r4_not_r4b() {
        let v = Validator::r4();
        let mp =
            json!({"resourceType": "MedicinalProduct", "id": "x", "name": [{"productName": "x"}]});
        assert!(v.validate_value(&mp, None).is_valid());
        let c = json!({"resourceType": "Citation", "id": "x", "status": "active"});
        let out = v.validate_value(&c, None);
        assert!(!out.is_valid());
        assert!(out.issues[0]
            .message
            .contains("not a FHIR R4 resource type"));
    }
}
