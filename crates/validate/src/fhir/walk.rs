//! The walk: one pass over a resource's JSON, led by the StructureDefinition of its type (and of
//! each element's type below it), checking every property against the element it names.
//!
//! Per object: every key must name an element (choice elements by their type suffix, `_name` for
//! a primitive's id and extensions); every element's count must fit its cardinality and its JSON
//! shape (array or not) its definition; primitives are checked by `primitive`, codes against
//! their bindings, references by form and target type, extensions against their definitions,
//! nested resources as resources; then the element's invariants are evaluated on it.

use std::collections::HashMap;

use emr_core::outcome::{Issue, Severity};
use serde_json::{Map, Value};

use super::defs::Definitions;
use super::invariant;
use super::primitive;
use super::structure::{Element, Strength, Structure};
use super::terminology::{self, Expansion};
use super::Options;

/// One step of the path from the resource root to a node: a JSON key or an array index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// One JSON property (key and value) an element was found under, if any.
type Part<'a> = Option<(&'a str, &'a Value)>;

/// An issue before its location is rendered.
pub(crate) struct Raw {
    pub(crate) issue: Issue,
    pub(crate) at: Vec<String>,
}

/// The resources around the node being checked: what `%resource` and `%rootResource` are, and
/// what a reference can resolve against (a Bundle's entries, contained resources).
#[derive(Clone, Copy)]
pub(crate) struct Frame<'a> {
    pub(crate) resource: &'a Value,
    pub(crate) root: &'a Value,
    pub(crate) bundle: Option<&'a Value>,
}

pub(crate) struct Walker<'a> {
    pub(crate) defs: &'a Definitions,
    pub(crate) opts: &'a Options,
    pub(crate) path: Vec<Seg<'a>>,
    pub(crate) found: Vec<Raw>,
    /// Invariants whose expression our engine could not evaluate, by key (for coverage).
    pub(crate) unevaluated: HashMap<String, String>,
    /// Elements flagged must-support by a profile and present, for the output.
    pub(crate) must_support: Vec<String>,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(defs: &'a Definitions, opts: &'a Options) -> Self {
        Walker {
            defs,
            opts,
            path: Vec::with_capacity(16),
            found: Vec::new(),
            unevaluated: HashMap::new(),
            must_support: Vec::new(),
        }
    }

    /// The path as FHIRPath with indexes: `Patient.name[0].given[1]`.
    pub(crate) fn expression(&self, frame: &Frame<'_>) -> String {
        let mut out = frame
            .root
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("Resource")
            .to_string();
        for s in &self.path {
            match s {
                Seg::Key(k) => {
                    out.push('.');
                    out.push_str(k.strip_prefix('_').unwrap_or(k));
                }
                Seg::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    pub(crate) fn report(
        &mut self,
        frame: &Frame<'_>,
        severity: Severity,
        code: &'static str,
        message: impl Into<String>,
        rule: Option<&str>,
    ) {
        let mut issue = Issue::new(severity, code, self.expression(frame), message);
        issue.rule = rule.map(str::to_string);
        let at = self
            .path
            .iter()
            .map(|s| match s {
                Seg::Key(k) => k.to_string(),
                Seg::Index(i) => i.to_string(),
            })
            .collect();
        self.found.push(Raw { issue, at });
    }

    /// Validates a resource (the root, a contained one, a Bundle entry's), of type `expected`
    /// when given.
    pub(crate) fn resource(&mut self, v: &'a Value, frame: Frame<'a>, expected: Option<&str>) {
        let Some(obj) = v.as_object() else {
            self.report(
                &frame,
                Severity::Error,
                "structure",
                format!(
                    "A resource must be a JSON object, not {}",
                    primitive::describe(v)
                ),
                None,
            );
            return;
        };
        let Some(rtype) = obj.get("resourceType").and_then(Value::as_str) else {
            self.report(
                &frame,
                Severity::Error,
                "structure",
                "Unable to find resourceType property",
                None,
            );
            return;
        };
        let Some(sd) = self
            .defs
            .type_def(rtype)
            .filter(|_| self.defs.is_resource_type(rtype))
        else {
            self.report(
                &frame,
                Severity::Error,
                "structure",
                format!("Unknown resource type '{rtype}': not a FHIR R4 resource type"),
                None,
            );
            return;
        };
        if let Some(want) = expected {
            if want != rtype && want != "Resource" && !self.defs.is_subtype(rtype, want) {
                self.report(
                    &frame,
                    Severity::Error,
                    "structure",
                    format!("Expected a {want}, found a {rtype}"),
                    None,
                );
            }
        }
        self.object(obj, v, sd, 0, frame, true);
    }

    /// Checks `obj` against element `idx` of `sd` (its children are the allowed properties).
    pub(crate) fn object(
        &mut self,
        obj: &'a Map<String, Value>,
        node: &'a Value,
        sd: &'a Structure,
        idx: usize,
        frame: Frame<'a>,
        is_resource: bool,
    ) {
        let children = sd.children_of(idx);
        // Which child each property belongs to; unknown ones are reported here.
        let mut by_child: Vec<(Part<'a>, Part<'a>)> = vec![(None, None); children.len()];
        let mut extra_choice: Vec<(usize, &'a str)> = Vec::new();
        for (key, val) in obj {
            if is_resource && key == "resourceType" {
                continue;
            }
            if key == "fhir_comments" {
                continue;
            }
            let (underscore, name) = match key.strip_prefix('_') {
                Some(n) => (true, n),
                None => (false, key.as_str()),
            };
            let hit = children.iter().position(|&c| {
                let el = &sd.elements[c];
                if el.choice {
                    name.len() > el.name.len()
                        && name.starts_with(el.name.as_str())
                        && el.type_for_key(name).is_some()
                } else {
                    el.name == name
                }
            });
            match hit {
                Some(i) => {
                    let slot = if underscore {
                        &mut by_child[i].1
                    } else {
                        &mut by_child[i].0
                    };
                    match slot {
                        // `valueString` and `valueQuantity` both present.
                        Some((first, _)) if *first != key.as_str() => {
                            extra_choice.push((i, key.as_str()));
                        }
                        _ => *slot = Some((key.as_str(), val)),
                    }
                }
                None => {
                    let choice_prefix = children.iter().any(|&c| {
                        let el = &sd.elements[c];
                        el.choice && name.starts_with(el.name.as_str())
                    });
                    let msg = if choice_prefix {
                        format!("The property '{key}' is invalid: not one of the types allowed for this choice element")
                    } else {
                        format!("Unrecognized property '{key}'")
                    };
                    self.path.push(Seg::Key(key));
                    self.report(&frame, Severity::Error, "structure", msg, None);
                    self.path.pop();
                }
            }
        }
        for (i, key) in extra_choice {
            let el = &sd.elements[children[i]];
            self.path.push(Seg::Key(key));
            self.report(
                &frame,
                Severity::Error,
                "structure",
                format!(
                    "{}: only one of its types may be present (found {} as well)",
                    el.path,
                    by_child[i].0.map(|(k, _)| k).unwrap_or("?")
                ),
                None,
            );
            self.path.pop();
        }
        let from = if sd.is_profile {
            format!(" (from {})", sd.url)
        } else {
            String::new()
        };
        let mut present_children = 0usize;
        for (i, &c) in children.iter().enumerate() {
            let el = &sd.elements[c];
            let (main, ext) = by_child[i];
            if main.is_some() || ext.is_some() {
                present_children += 1;
            }
            let n = self.element(el, sd, c, main, ext, frame);
            if (n as u32) < el.min {
                self.report(
                    &frame,
                    Severity::Error,
                    "required",
                    format!(
                        "{}: minimum required = {}, but only found {n}{from}",
                        el.path, el.min
                    ),
                    Some("cardinality"),
                );
            } else if !el.max.allows(n) {
                self.report(
                    &frame,
                    Severity::Error,
                    "structure",
                    format!(
                        "{}: max allowed = {}, but found {n}{from}",
                        el.path,
                        el.max.text()
                    ),
                    Some("cardinality"),
                );
            }
        }
        if present_children == 0 && !is_resource {
            self.report(
                &frame,
                Severity::Error,
                "structure",
                "Object must have some content",
                Some("ele-1"),
            );
        }
        let root = &sd.elements[idx];
        self.invariants(root, node, frame);
        if is_resource {
            super::rules::resource_rules(self, obj, node, frame);
        }
    }

    /// Checks every instance of element `el` (the JSON `main` and `_main` values); returns how
    /// many instances there are.
    fn element(
        &mut self,
        el: &'a Element,
        sd: &'a Structure,
        idx: usize,
        main: Option<(&'a str, &'a Value)>,
        ext: Option<(&'a str, &'a Value)>,
        frame: Frame<'a>,
    ) -> usize {
        if main.is_none() && ext.is_none() {
            return 0;
        }
        let key = main.or(ext).map(|(k, _)| k).unwrap_or_default();
        let name = key.strip_prefix('_').unwrap_or(key);
        let Some(ty) = el.type_for_key(name).map(|t| t.code.as_str()) else {
            // An element with no type is a backbone or a content reference.
            return self.instances(el, sd, idx, "", main, ext, frame);
        };
        self.instances(el, sd, idx, ty, main, ext, frame)
    }

    #[allow(clippy::too_many_arguments)]
    fn instances(
        &mut self,
        el: &'a Element,
        sd: &'a Structure,
        idx: usize,
        ty: &'a str,
        main: Option<(&'a str, &'a Value)>,
        ext: Option<(&'a str, &'a Value)>,
        frame: Frame<'a>,
    ) -> usize {
        let is_primitive = self.defs.is_primitive(ty);
        // Arrays: the two halves of a primitive array pair up by index.
        let as_list = |this: &mut Self, part: Option<(&'a str, &'a Value)>| -> Vec<&'a Value> {
            let Some((k, v)) = part else {
                return Vec::new();
            };
            match (el.array, v) {
                (true, Value::Array(a)) => {
                    if a.is_empty() {
                        this.path.push(Seg::Key(k));
                        this.report(
                            &frame,
                            Severity::Error,
                            "structure",
                            "Array cannot be empty - the property should not be present if it has no values",
                            None,
                        );
                        this.path.pop();
                    }
                    a.iter().collect()
                }
                (true, other) => {
                    this.path.push(Seg::Key(k));
                    this.report(
                        &frame,
                        Severity::Error,
                        "structure",
                        format!(
                            "This property must be an Array, not {}",
                            primitive::describe(other)
                        ),
                        None,
                    );
                    this.path.pop();
                    vec![other]
                }
                (false, Value::Array(a)) => {
                    this.path.push(Seg::Key(k));
                    this.report(
                        &frame,
                        Severity::Error,
                        "structure",
                        "This property must be a single value, not an array",
                        None,
                    );
                    this.path.pop();
                    a.iter().collect()
                }
                (false, other) => vec![other],
            }
        };
        let mains = as_list(self, main);
        let exts = as_list(self, ext);
        let n = mains.len().max(exts.len());
        let main_key = main.map(|(k, _)| k);
        let ext_key = ext.map(|(k, _)| k);
        let mut items: Vec<&'a Value> = Vec::with_capacity(n);
        for i in 0..n {
            let m = mains.get(i).copied().filter(|v| !v.is_null());
            let x = exts.get(i).copied().filter(|v| !v.is_null());
            let key = match (m, main_key, ext_key) {
                (Some(_), Some(k), _) | (None, _, Some(k)) | (_, Some(k), None) => k,
                _ => "",
            };
            self.path.push(Seg::Key(key));
            if el.array {
                self.path.push(Seg::Index(i));
            }
            if is_primitive {
                self.primitive(el, ty, m, x, frame);
                if let Some(m) = m {
                    items.push(m);
                }
            } else if let Some(v) = m {
                self.complex(el, sd, idx, ty, v, frame);
                items.push(v);
            } else if x.is_some() {
                self.report(
                    &frame,
                    Severity::Error,
                    "structure",
                    format!("`_{}` is only allowed on primitive elements", el.name),
                    None,
                );
            } else {
                self.report(
                    &frame,
                    Severity::Error,
                    "structure",
                    "null is not a value: leave the element out",
                    None,
                );
            }
            if el.array {
                self.path.pop();
            }
            self.path.pop();
        }
        if !el.slices.is_empty() || el.slicing.is_some() {
            super::slicing::check(self, sd, idx, &items, main_key.unwrap_or(&el.name), frame);
        }
        if el.must_support && n > 0 && sd.is_profile {
            self.must_support.push(el.path.clone());
        }
        n
    }

    fn primitive(
        &mut self,
        el: &'a Element,
        ty: &str,
        value: Option<&'a Value>,
        ext: Option<&'a Value>,
        frame: Frame<'a>,
    ) {
        if value.is_none() && ext.is_none() {
            self.report(
                &frame,
                Severity::Error,
                "structure",
                "A primitive needs a value or extensions",
                Some("ele-1"),
            );
            return;
        }
        if let Some(v) = value {
            if let Some(p) = primitive::check(ty, v) {
                let sev = if p.warning {
                    if ty == "markdown" && self.opts.html_in_markdown_is_error {
                        Severity::Error
                    } else {
                        Severity::Warning
                    }
                } else {
                    Severity::Error
                };
                self.report(&frame, sev, "value", p.message, None);
            } else if let (Some(max), Some(s)) = (el.max_length, v.as_str()) {
                if s.chars().count() > max {
                    self.report(
                        &frame,
                        Severity::Error,
                        "value",
                        format!("value is longer than permitted maximum length of {max}"),
                        None,
                    );
                }
            }
            if let (Some(b), Some(code)) = (&el.binding, v.as_str()) {
                if matches!(ty, "code" | "string" | "uri") {
                    self.binding(b.strength, &b.value_set, None, code, None, frame);
                }
            }
            super::profile::fixed_and_pattern(self, el, v, frame);
        }
        if let Some(x) = ext {
            match (x.as_object(), self.defs.type_def(ty)) {
                (Some(o), Some(tsd)) => {
                    if o.contains_key("value") {
                        self.report(
                            &frame,
                            Severity::Error,
                            "structure",
                            "The value of a primitive goes in the property without `_`",
                            None,
                        );
                    }
                    self.object(o, x, tsd, 0, frame, false);
                }
                _ => self.report(
                    &frame,
                    Severity::Error,
                    "structure",
                    format!(
                        "The `_` part of a primitive must be an object, not {}",
                        primitive::describe(x)
                    ),
                    None,
                ),
            }
        }
    }

    fn complex(
        &mut self,
        el: &'a Element,
        sd: &'a Structure,
        idx: usize,
        ty: &'a str,
        v: &'a Value,
        frame: Frame<'a>,
    ) {
        if ty == "Resource" || self.defs.is_resource_type(ty) || ty == "DomainResource" {
            let inner = Frame {
                resource: v,
                root: frame.root,
                bundle: frame.bundle,
            };
            // A nested resource's paths start again from its own type, as the reference
            // validator reports them (`Bundle.entry[0].resource/*Patient/1*/`). We keep the
            // full path instead, which locates it in the source.
            self.resource(v, inner, if ty == "Resource" { None } else { Some(ty) });
            return;
        }
        let Some(obj) = v.as_object() else {
            self.report(
                &frame,
                Severity::Error,
                "structure",
                format!(
                    "This property must be an object (a {ty}), not {}",
                    primitive::describe(v)
                ),
                None,
            );
            return;
        };
        if obj.is_empty() {
            self.report(
                &frame,
                Severity::Error,
                "structure",
                "Object must have some content",
                Some("ele-1"),
            );
            return;
        }
        if !sd.children_of(idx).is_empty() {
            // A backbone element, or a type a profile unfolded: its children are right here.
            self.object(obj, v, sd, idx, frame, false);
            self.invariants_of_type(ty, v, frame);
        } else if let Some(tsd) = self.defs.type_def(ty) {
            self.object(obj, v, tsd, 0, frame, false);
            self.invariants(el, v, frame);
        } else {
            self.report(
                &frame,
                Severity::Information,
                "not-supported",
                format!("The type {ty} is not known, so its content is not checked"),
                None,
            );
        }
        match ty {
            "Reference" => super::rules::reference(self, el, obj, frame),
            "Extension" => super::rules::extension(self, el, obj, v, frame),
            "Attachment" => super::rules::attachment(self, obj, frame),
            "Coding" | "CodeableConcept" | "Quantity" => {
                if let Some(b) = &el.binding {
                    self.coded(ty, b.strength, &b.value_set, obj, frame);
                }
                if ty == "Coding" {
                    self.coding_in_its_system(obj, frame);
                }
            }
            _ => {}
        }
        for t in el.types.iter().filter(|t| t.code == ty) {
            for p in &t.profiles {
                super::profile::against_type_profile(self, p, obj, v, frame);
            }
        }
        super::profile::fixed_and_pattern(self, el, v, frame);
    }

    /// A type's own rules (e.g. `qty-3` on Quantity) for an element whose children came from a
    /// profile's snapshot rather than the type's definition.
    fn invariants_of_type(&mut self, ty: &str, v: &'a Value, frame: Frame<'a>) {
        if let Some(root) = self.defs.type_def(ty).and_then(Structure::root) {
            self.invariants(root, v, frame);
        }
    }

    pub(crate) fn invariants(&mut self, el: &'a Element, node: &'a Value, frame: Frame<'a>) {
        for c in &el.constraints {
            if invariant::is_native(&c.key) {
                continue;
            }
            match invariant::holds(self.defs, c, node, frame) {
                Ok(true) => {}
                Ok(false) => {
                    let sev = if c.error {
                        Severity::Error
                    } else {
                        Severity::Warning
                    };
                    let msg = format!("Constraint failed: {}: '{}'", c.key, c.human);
                    self.report(&frame, sev, "invariant", msg, Some(&c.key));
                }
                Err(why) => {
                    self.unevaluated.entry(c.key.clone()).or_insert(why);
                }
            }
        }
    }

    /// A Coding, CodeableConcept or Quantity against a binding.
    fn coded(
        &mut self,
        ty: &str,
        strength: Strength,
        vs: &str,
        obj: &'a Map<String, Value>,
        frame: Frame<'a>,
    ) {
        let pair = |o: &'a Map<String, Value>, code_key: &str| {
            (
                o.get("system").and_then(Value::as_str),
                o.get(code_key).and_then(Value::as_str),
                o.get("display").and_then(Value::as_str),
            )
        };
        match ty {
            "Coding" => {
                if let (system, Some(code), display) = pair(obj, "code") {
                    self.binding(strength, vs, system, code, display, frame);
                }
            }
            "Quantity" => {
                if let (system, Some(code), _) = pair(obj, "code") {
                    self.binding(strength, vs, system, code, None, frame);
                }
            }
            _ => {
                let codings: Vec<&'a Map<String, Value>> = obj
                    .get("coding")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object)
                    .collect();
                if codings.is_empty() {
                    if strength == Strength::Required {
                        self.report(
                            &frame,
                            Severity::Error,
                            "code-invalid",
                            format!(
                                "No code provided, and a code is required from the value set {vs}"
                            ),
                            None,
                        );
                    }
                    return;
                }
                let exp = terminology::expand(self.defs, vs);
                let any_in = codings.iter().any(|c| {
                    let (s, code, _) = pair(c, "code");
                    code.and_then(|code| exp.contains(s, code)).unwrap_or(false)
                });
                match &*exp {
                    Expansion::NotEnumerable(_) => {}
                    Expansion::Codes { .. } if any_in => {}
                    Expansion::Codes { .. } => {
                        let shown: Vec<String> = codings
                            .iter()
                            .map(|c| {
                                let (s, code, _) = pair(c, "code");
                                format!("{}#{}", s.unwrap_or(""), code.unwrap_or(""))
                            })
                            .collect();
                        self.binding_miss(strength, vs, &shown.join(", "), frame);
                    }
                }
            }
        }
    }

    fn binding(
        &mut self,
        strength: Strength,
        vs: &str,
        system: Option<&str>,
        code: &str,
        _display: Option<&str>,
        frame: Frame<'a>,
    ) {
        if matches!(strength, Strength::Example | Strength::Preferred) {
            return;
        }
        let exp = terminology::expand(self.defs, vs);
        match exp.contains(system, code) {
            Some(true) => {}
            Some(false) => {
                let shown = match system {
                    Some(s) => format!("{s}#{code}"),
                    None => code.to_string(),
                };
                self.binding_miss(strength, vs, &shown, frame);
            }
            None => {
                if strength == Strength::Required {
                    if let Expansion::NotEnumerable(why) = &*exp {
                        self.report(
                            &frame,
                            Severity::Information,
                            "informational",
                            format!("The required binding to {vs} was not checked: {why}"),
                            Some("binding-unchecked"),
                        );
                    }
                }
            }
        }
    }

    fn binding_miss(&mut self, strength: Strength, vs: &str, shown: &str, frame: Frame<'a>) {
        let (sev, how) = match strength {
            Strength::Required => (Severity::Error, "required"),
            _ => (Severity::Warning, "extensible"),
        };
        self.report(
            &frame,
            sev,
            "code-invalid",
            format!("The value provided ('{shown}') is not in the value set '{vs}', and a code is {how} from this value set"),
            Some("binding"),
        );
    }

    /// A Coding whose system is one we carry completely must use one of its codes, bound or not.
    fn coding_in_its_system(&mut self, obj: &'a Map<String, Value>, frame: Frame<'a>) {
        let (Some(system), Some(code)) = (
            obj.get("system").and_then(Value::as_str),
            obj.get("code").and_then(Value::as_str),
        ) else {
            return;
        };
        match terminology::lookup(self.defs, system, code) {
            Ok(Some(display)) => {
                if let Some(given) = obj.get("display").and_then(Value::as_str) {
                    if !given.eq_ignore_ascii_case(&display) && !display.is_empty() {
                        // An error, as the reference validator (R4) and the QuestionnaireResponse
                        // suite both report it: a display that names another concept misleads.
                        self.report(
                            &frame,
                            Severity::Error,
                            "code-invalid",
                            format!("Wrong Display Name '{given}' for {system}#{code}. Valid display is '{display}'"),
                            Some("display"),
                        );
                    }
                }
            }
            Ok(None) | Err(false) => {}
            Err(true) => self.report(
                &frame,
                Severity::Error,
                "code-invalid",
                format!("Unknown code '{system}#{code}': not a code of that code system"),
                Some("code-system"),
            ),
        }
    }
}
