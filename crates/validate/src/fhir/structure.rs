//! A StructureDefinition's snapshot compiled for walking instances: elements as a tree (children
//! by index, slices under the element they slice), cardinality as numbers, choice elements with
//! their type suffixes, and the constraints shared between every element that inherits them
//! (14,759 constraint entries in the R4 snapshots are 247 distinct rules, so each is compiled once).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use emr_core::fhirpath::FhirPath;
use serde_json::Value;

/// `max` of an element: a number or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Max {
    N(u32),
    Many,
}

impl Max {
    fn parse(s: Option<&str>) -> Max {
        match s {
            Some("*") | None => Max::Many,
            Some(n) => n.parse().map(Max::N).unwrap_or(Max::Many),
        }
    }

    pub(crate) fn allows(self, n: usize) -> bool {
        match self {
            Max::Many => true,
            Max::N(m) => n <= m as usize,
        }
    }

    pub(crate) fn text(self) -> String {
        match self {
            Max::Many => "*".into(),
            Max::N(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    PrimitiveType,
    ComplexType,
    Resource,
    Logical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strength {
    Required,
    Extensible,
    Preferred,
    Example,
}

#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub(crate) strength: Strength,
    pub(crate) value_set: String,
}

#[derive(Debug, Clone)]
pub(crate) struct TypeRef {
    /// The FHIR type: `string`, `HumanName`, `Reference`, `Resource`; the System types of `id`
    /// and primitive values are given their FHIR type from the `structuredefinition-fhir-type`
    /// extension.
    pub(crate) code: String,
    pub(crate) profiles: Vec<String>,
    pub(crate) target_profiles: Vec<String>,
}

/// One invariant, shared by every element that carries it.
#[derive(Debug)]
pub(crate) struct Constraint {
    pub(crate) key: String,
    pub(crate) error: bool,
    pub(crate) human: String,
    pub(crate) expression: String,
    compiled: OnceLock<Result<FhirPath, String>>,
}

impl Constraint {
    /// Compiled on first use: most of the 247 R4 rules never meet an instance in a given run.
    pub(crate) fn compiled(&self) -> &Result<FhirPath, String> {
        self.compiled
            .get_or_init(|| FhirPath::parse(&self.expression).map_err(|e| e.message))
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Slicing {
    /// (type, path): `value`/`pattern`/`type`/`profile`/`exists`.
    pub(crate) discriminators: Vec<(String, String)>,
    /// `open`, `closed` or `openAtEnd`.
    pub(crate) rules: String,
}

#[derive(Debug)]
pub(crate) struct Element {
    pub(crate) id: String,
    pub(crate) path: String,
    /// The JSON name: the last path segment, `value` for `value[x]`.
    pub(crate) name: String,
    pub(crate) choice: bool,
    pub(crate) slice_name: Option<String>,
    pub(crate) min: u32,
    pub(crate) max: Max,
    /// Whether the element is a JSON array: from `base.max`, so a profile that narrows `0..*`
    /// to `0..1` still expects an array.
    pub(crate) array: bool,
    pub(crate) types: Vec<TypeRef>,
    /// `#Questionnaire.item`: the element whose children this one has.
    pub(crate) content_reference: Option<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) slicing: Option<Slicing>,
    pub(crate) slices: Vec<usize>,
    pub(crate) binding: Option<Binding>,
    pub(crate) constraints: Vec<Arc<Constraint>>,
    pub(crate) fixed: Option<Value>,
    pub(crate) pattern: Option<Value>,
    pub(crate) max_length: Option<usize>,
    pub(crate) must_support: bool,
}

impl Element {
    /// The type of an instance of this element, given the JSON key it was found under.
    pub(crate) fn type_for_key(&self, key: &str) -> Option<&TypeRef> {
        if !self.choice {
            return self.types.first();
        }
        let suffix = key.strip_prefix(self.name.as_str())?;
        self.types
            .iter()
            .find(|t| type_suffix_matches(&t.code, suffix))
    }
}

/// `valueQuantity` names type `Quantity`, `valueString` names `string`: the suffix is the type
/// name with its first letter upper-cased.
pub(crate) fn type_suffix_matches(code: &str, suffix: &str) -> bool {
    let mut c = code.chars();
    let mut s = suffix.chars();
    match (c.next(), s.next()) {
        (Some(a), Some(b)) if a.to_ascii_uppercase() == b => c.as_str() == s.as_str(),
        _ => false,
    }
}

#[derive(Debug)]
pub(crate) struct Structure {
    pub(crate) url: String,
    /// The type it defines or constrains: `Patient`, `Extension`, `string`.
    pub(crate) type_name: String,
    pub(crate) kind: Kind,
    pub(crate) is_abstract: bool,
    pub(crate) base: Option<String>,
    /// A profile (derivation = constraint) rather than a base type.
    pub(crate) is_profile: bool,
    pub(crate) elements: Vec<Element>,
    /// For a primitive type: its value's regex, from the `regex` extension of `<type>.value`.
    /// The checks in `primitive` are written out; the tests hold them to these.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) regex: Option<String>,
}

impl Structure {
    pub(crate) fn root(&self) -> Option<&Element> {
        self.elements.first()
    }

    /// The children of `parent`, following a `contentReference`.
    pub(crate) fn children_of(&self, parent: usize) -> &[usize] {
        let el = &self.elements[parent];
        match el.content_reference {
            Some(target) => &self.elements[target].children,
            None => &el.children,
        }
    }
}

/// Interns constraints so that every element inheriting `ele-1` shares one compiled expression.
#[derive(Default)]
pub(crate) struct ConstraintPool {
    by_key: HashMap<(String, String), Arc<Constraint>>,
}

impl ConstraintPool {
    fn get(&mut self, c: &Value) -> Option<Arc<Constraint>> {
        let key = c.get("key")?.as_str()?.to_string();
        let expression = c.get("expression")?.as_str()?.to_string();
        let entry = self
            .by_key
            .entry((key.clone(), expression.clone()))
            .or_insert_with(|| {
                Arc::new(Constraint {
                    key,
                    error: c.get("severity").and_then(Value::as_str) != Some("warning"),
                    human: c
                        .get("human")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    expression,
                    compiled: OnceLock::new(),
                })
            });
        Some(entry.clone())
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Constraint>> {
        self.by_key.values()
    }
}

/// One distinct invariant of the loaded definitions and how it is checked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InvariantStatus {
    pub key: String,
    pub expression: String,
    /// Checked by the walk itself (see `invariant::NATIVE`).
    pub native: bool,
    /// The engine's parse error, if it cannot parse the expression.
    pub parse_error: Option<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn fhir_type(t: &Value) -> Option<String> {
    let code = t.get("code")?.as_str()?;
    if let Some(system) = code.strip_prefix("http://hl7.org/fhirpath/System.") {
        // `id` and a primitive's `value`: the extension names the FHIR type it stands for.
        let named = t
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|e| {
                e.get("url").and_then(Value::as_str)
                    == Some("http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type")
            })
            .and_then(|e| e.get("valueUrl").or_else(|| e.get("valueUri")))
            .and_then(Value::as_str);
        return Some(
            named
                .map(str::to_string)
                .unwrap_or_else(|| system.to_ascii_lowercase()),
        );
    }
    Some(code.to_string())
}

fn regex_of(types: &[Value]) -> Option<String> {
    types
        .iter()
        .flat_map(|t| {
            t.get("extension")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .find(|e| {
            e.get("url").and_then(Value::as_str)
                == Some("http://hl7.org/fhir/StructureDefinition/regex")
        })
        .and_then(|e| e.get("valueString"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `fixedCode`, `patternCodeableConcept`...: the value of the first key starting with `prefix`.
fn prefixed(el: &serde_json::Map<String, Value>, prefix: &str) -> Option<Value> {
    el.iter()
        .find(|(k, _)| k.starts_with(prefix) && k.len() > prefix.len())
        .map(|(_, v)| v.clone())
}

/// Compiles one StructureDefinition with a snapshot. `None` when it has none.
pub(crate) fn compile(sd: &Value, pool: &mut ConstraintPool) -> Option<Structure> {
    let snapshot = sd.get("snapshot")?.get("element")?.as_array()?;
    let s = |k: &str| {
        sd.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let kind = match sd.get("kind").and_then(Value::as_str) {
        Some("primitive-type") => Kind::PrimitiveType,
        Some("complex-type") => Kind::ComplexType,
        Some("logical") => Kind::Logical,
        _ => Kind::Resource,
    };
    let mut elements: Vec<Element> = Vec::with_capacity(snapshot.len());
    let mut regex = None;
    for el in snapshot {
        let Some(obj) = el.as_object() else { continue };
        let path = obj
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let id = obj
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| path.clone());
        let last = path.rsplit('.').next().unwrap_or(&path);
        let (name, choice) = match last.strip_suffix("[x]") {
            Some(n) => (n.to_string(), true),
            None => (last.to_string(), false),
        };
        let raw_types: Vec<Value> = obj
            .get("type")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if kind == Kind::PrimitiveType && path.ends_with(".value") {
            regex = regex_of(&raw_types);
        }
        let types = raw_types
            .iter()
            .filter_map(|t| {
                Some(TypeRef {
                    code: fhir_type(t)?,
                    profiles: strings(t.get("profile")),
                    target_profiles: strings(t.get("targetProfile")),
                })
            })
            .collect();
        let max = Max::parse(obj.get("max").and_then(Value::as_str));
        let base_max = obj
            .get("base")
            .and_then(|b| b.get("max"))
            .and_then(Value::as_str)
            .map(|m| Max::parse(Some(m)))
            .unwrap_or(max);
        let binding = obj.get("binding").and_then(|b| {
            let strength = match b.get("strength")?.as_str()? {
                "required" => Strength::Required,
                "extensible" => Strength::Extensible,
                "preferred" => Strength::Preferred,
                _ => Strength::Example,
            };
            Some(Binding {
                strength,
                value_set: b.get("valueSet")?.as_str()?.to_string(),
            })
        });
        let slicing = obj.get("slicing").map(|sl| Slicing {
            discriminators: sl
                .get("discriminator")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    Some((
                        d.get("type")?.as_str()?.to_string(),
                        d.get("path")?.as_str()?.to_string(),
                    ))
                })
                .collect(),
            rules: sl
                .get("rules")
                .and_then(Value::as_str)
                .unwrap_or("open")
                .to_string(),
        });
        let constraints = obj
            .get("constraint")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| pool.get(c))
            .collect();
        // The root of a type is an array when used, never in itself.
        let array = path.contains('.') && base_max != Max::N(1) && base_max != Max::N(0);
        elements.push(Element {
            id,
            path,
            name,
            choice,
            slice_name: obj
                .get("sliceName")
                .and_then(Value::as_str)
                .map(str::to_string),
            min: obj.get("min").and_then(Value::as_u64).unwrap_or(0) as u32,
            max,
            array,
            types,
            content_reference: None,
            children: Vec::new(),
            slicing,
            slices: Vec::new(),
            binding,
            constraints,
            fixed: prefixed(obj, "fixed"),
            pattern: prefixed(obj, "pattern"),
            max_length: obj
                .get("maxLength")
                .and_then(Value::as_u64)
                .map(|n| n as usize),
            must_support: obj
                .get("mustSupport")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        });
        if let Some(cr) = obj.get("contentReference").and_then(Value::as_str) {
            let target = cr.rsplit('#').next().unwrap_or(cr).to_string();
            let at = elements.len() - 1;
            elements[at].content_reference = elements
                .iter()
                .position(|e| e.id == target || (e.path == target && e.slice_name.is_none()));
        }
    }
    link(&mut elements);
    Some(Structure {
        url: s("url"),
        type_name: s("type"),
        kind,
        is_abstract: sd.get("abstract").and_then(Value::as_bool).unwrap_or(false),
        base: sd
            .get("baseDefinition")
            .and_then(Value::as_str)
            .map(str::to_string),
        is_profile: sd.get("derivation").and_then(Value::as_str) == Some("constraint"),
        elements,
        regex,
    })
}

/// Builds the tree from element ids: `Observation.component:systolic.code` is a child of the
/// slice `Observation.component:systolic`, which is a slice of `Observation.component`.
fn link(elements: &mut [Element]) {
    let by_id: HashMap<String, usize> = elements
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.clone(), i))
        .collect();
    for i in 1..elements.len() {
        let id = elements[i].id.clone();
        let Some(dot) = id.rfind('.') else { continue };
        let last = &id[dot + 1..];
        if let Some(colon) = last.find(':') {
            // A slice of the element with the same id without `:name`; re-slices (`a:b/c`) too.
            let sliced = format!("{}.{}", &id[..dot], &last[..colon]);
            if let Some(&p) = by_id.get(&sliced) {
                elements[p].slices.push(i);
                continue;
            }
        }
        if let Some(&p) = by_id.get(&id[..dot]) {
            elements[p].children.push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_suffixes() {
        assert!(type_suffix_matches("Quantity", "Quantity"));
        assert!(type_suffix_matches("string", "String"));
        assert!(type_suffix_matches("dateTime", "DateTime"));
        assert!(!type_suffix_matches("string", "string"));
        assert!(!type_suffix_matches("date", "DateTime"));
    }
}
