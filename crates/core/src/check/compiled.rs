//! Expressions parsed once, when a scenario loads. The loader parses every FHIRPath, JSONPath,
//! regex and HL7 field path to validate it; it keeps the parsed forms here, and the checks and
//! captures look them up by their source text instead of parsing again on every step of every
//! load iteration. An expression with a template in it (`{{ mrn }}`) is only known after
//! rendering: it is parsed then, as before.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;
use serde_json_path::JsonPath;

use crate::fhirpath::FhirPath;
use crate::hl7::FieldPath;

#[derive(Debug, Clone, Default)]
pub struct Compiled {
    fhirpath: HashMap<String, Arc<FhirPath>>,
    jsonpath: HashMap<String, Arc<JsonPath>>,
    regex: HashMap<String, Regex>,
    field: HashMap<String, FieldPath>,
}

impl Compiled {
    /// An empty set: every lookup parses (for callers with no loaded scenario).
    pub fn none() -> &'static Compiled {
        static NONE: std::sync::OnceLock<Compiled> = std::sync::OnceLock::new();
        NONE.get_or_init(Compiled::default)
    }

    pub fn add_fhirpath(&mut self, source: &str, parsed: FhirPath) {
        self.fhirpath.insert(source.to_string(), Arc::new(parsed));
    }

    pub fn add_jsonpath(&mut self, source: &str, parsed: JsonPath) {
        self.jsonpath.insert(source.to_string(), Arc::new(parsed));
    }

    pub fn add_regex(&mut self, parsed: Regex) {
        self.regex.insert(parsed.as_str().to_string(), parsed);
    }

    pub fn add_field(&mut self, source: &str, parsed: FieldPath) {
        self.field.insert(source.to_string(), parsed);
    }

    pub fn fhirpath(&self, source: &str) -> Result<Arc<FhirPath>, String> {
        match self.fhirpath.get(source) {
            Some(p) => Ok(p.clone()),
            None => FhirPath::parse(source)
                .map(Arc::new)
                .map_err(|e| e.to_string()),
        }
    }

    pub fn jsonpath(&self, source: &str) -> Result<Arc<JsonPath>, String> {
        match self.jsonpath.get(source) {
            Some(p) => Ok(p.clone()),
            None => JsonPath::parse(source)
                .map(Arc::new)
                .map_err(|e| e.to_string()),
        }
    }

    pub fn regex(&self, source: &str) -> Result<Regex, String> {
        match self.regex.get(source) {
            // A clone shares the compiled program (it is reference counted inside).
            Some(r) => Ok(r.clone()),
            None => Regex::new(source).map_err(|e| format!("bad regex: {e}")),
        }
    }

    pub fn field(&self, source: &str) -> Result<FieldPath, String> {
        match self.field.get(source) {
            Some(p) => Ok(p.clone()),
            None => FieldPath::parse(source),
        }
    }

    /// How many expressions are held (for tests and lint's summary).
    pub fn len(&self) -> usize {
        self.fhirpath.len() + self.jsonpath.len() + self.regex.len() + self.field.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
