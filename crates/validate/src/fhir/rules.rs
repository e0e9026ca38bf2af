//! Rules that are not in the element tree: resource ids, contained resources (dom-2..dom-5),
//! Bundle entries (fullUrl), references (form, resolution, target type), extensions (against their
//! definitions) and Attachments (stated size and hash against the data).

use std::collections::HashSet;

use emr_core::outcome::Severity;
use serde_json::{Map, Value};
use sha1::{Digest as _, Sha1};

use super::primitive;
use super::structure::Element;
use super::walk::{Frame, Seg, Walker};

/// Checks that belong to a resource as a whole, after its elements.
pub(crate) fn resource_rules<'a>(
    w: &mut Walker<'a>,
    obj: &'a Map<String, Value>,
    node: &'a Value,
    frame: Frame<'a>,
) {
    // `Resource.id` is typed `string` in the R4 snapshots (FHIRPath System.String) but the
    // specification's rule is the `id` type's: 1-64 of [A-Za-z0-9\-\.].
    if let Some(Value::String(id)) = obj.get("id") {
        if let Some(p) = primitive::check("id", &Value::String(id.clone())) {
            w.path.push(Seg::Key("id"));
            w.report(&frame, Severity::Error, "value", p.message, None);
            w.path.pop();
        }
    }
    contained(w, obj, node, frame);
    if obj.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        bundle(w, obj, node, frame);
    }
}

/// dom-2..dom-5, and ids: a contained resource has a unique id, no nested contained resources,
/// no version or lastUpdated, no security labels, and is referenced from its container (or
/// refers to it with `#`).
fn contained<'a>(
    w: &mut Walker<'a>,
    obj: &'a Map<String, Value>,
    node: &'a Value,
    frame: Frame<'a>,
) {
    let Some(list) = obj.get("contained").and_then(Value::as_array) else {
        return;
    };
    let mut refs = HashSet::new();
    collect_local_refs(node, &mut refs);
    let mut ids = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        w.path.push(Seg::Key("contained"));
        w.path.push(Seg::Index(i));
        let rule = |w: &mut Walker<'a>, key: &str, msg: &str| {
            w.report(
                &frame,
                Severity::Error,
                "invariant",
                msg.to_string(),
                Some(key),
            );
        };
        match c.get("id").and_then(Value::as_str) {
            None => rule(w, "contained-id", "A contained resource SHALL have an id"),
            Some(id) => {
                if !ids.insert(id) {
                    rule(
                        w,
                        "contained-id",
                        &format!("Duplicate contained resource id '{id}'"),
                    );
                }
                let mut inner = HashSet::new();
                collect_local_refs(c, &mut inner);
                if !refs.contains(&format!("#{id}")) && !inner.contains("#") {
                    rule(w, "dom-3", "Constraint failed: dom-3: 'If the resource is contained in another resource, it SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource'");
                }
            }
        }
        if c.get("contained").is_some() {
            rule(w, "dom-2", "Constraint failed: dom-2: 'If the resource is contained in another resource, it SHALL NOT contain nested Resources'");
        }
        let meta = c.get("meta");
        if meta.is_some_and(|m| m.get("versionId").is_some() || m.get("lastUpdated").is_some()) {
            rule(w, "dom-4", "Constraint failed: dom-4: 'If a resource is contained in another resource, it SHALL NOT have a meta.versionId or a meta.lastUpdated'");
        }
        if meta.is_some_and(|m| m.get("security").is_some()) {
            rule(w, "dom-5", "Constraint failed: dom-5: 'If a resource is contained in another resource, it SHALL NOT have a security label'");
        }
        if c.get("text").is_some() {
            w.report(
                &frame,
                Severity::Warning,
                "invariant",
                "Constraint failed: dom-6-contained: a contained resource should not have narrative; the container's narrative covers it",
                Some("dom-5"),
            );
        }
        w.path.pop();
        w.path.pop();
    }
}

/// Every `reference`, and every canonical or uri that is a local `#` reference, under `v`.
fn collect_local_refs(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match x {
                    Value::String(s) if s.starts_with('#') => {
                        out.insert(s.clone());
                    }
                    Value::String(s) if k == "reference" => {
                        out.insert(s.clone());
                    }
                    _ => collect_local_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_local_refs(x, out)),
        _ => {}
    }
}

fn is_absolute(url: &str) -> bool {
    url.starts_with("urn:uuid:")
        || url.starts_with("urn:oid:")
        || url
            .split_once("://")
            .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty())
}

/// fullUrl rules (Bundle.entry.fullUrl, bundle.html#bundle-unique): absolute, and when it is a
/// RESTful URL its last two segments are the resource's type and id.
fn bundle<'a>(w: &mut Walker<'a>, obj: &'a Map<String, Value>, _node: &'a Value, frame: Frame<'a>) {
    let Some(entries) = obj.get("entry").and_then(Value::as_array) else {
        return;
    };
    for (i, e) in entries.iter().enumerate() {
        let Some(full) = e.get("fullUrl").and_then(Value::as_str) else {
            continue;
        };
        w.path.push(Seg::Key("entry"));
        w.path.push(Seg::Index(i));
        if !is_absolute(full) {
            w.report(
                &frame,
                Severity::Error,
                "invalid",
                format!("The fullUrl must be an absolute URL (not '{full}')"),
                Some("bundle-fullurl"),
            );
        } else if let Some(r) = e.get("resource") {
            let rtype = r.get("resourceType").and_then(Value::as_str);
            let id = r.get("id").and_then(Value::as_str);
            if let (Some(rt), Some(id), false) = (rtype, id, full.starts_with("urn:")) {
                let mut tail = full.trim_end_matches('/').rsplit('/');
                let (last, before) = (tail.next(), tail.next());
                let history = full.contains("/_history/");
                if !history && (last != Some(id) || before != Some(rt)) {
                    w.report(
                        &frame,
                        Severity::Error,
                        "invalid",
                        format!("The fullUrl '{full}' does not match the resource: expected it to end with '{rt}/{id}'"),
                        Some("bundle-fullurl"),
                    );
                }
            }
        }
        w.path.pop();
        w.path.pop();
    }
}

/// The resource type a reference points at, when its form or its Bundle says so.
fn target_type<'v>(reference: &'v str, frame: &Frame<'v>) -> Option<&'v str> {
    if let Some(bundle) = frame.bundle {
        for e in bundle
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let full = e.get("fullUrl").and_then(Value::as_str).unwrap_or_default();
            if !full.is_empty() && (full == reference || full.ends_with(&format!("/{reference}"))) {
                return e
                    .get("resource")
                    .and_then(|r| r.get("resourceType"))
                    .and_then(Value::as_str);
            }
        }
    }
    if reference.starts_with("urn:") {
        return None;
    }
    let path = reference.split('?').next().unwrap_or(reference);
    let path = match path.find("/_history/") {
        Some(i) => &path[..i],
        None => path,
    };
    let mut parts = path.trim_end_matches('/').rsplit('/');
    let _id = parts.next()?;
    parts.next()
}

/// Reference form and target (references.html): `#id` names a contained resource that exists;
/// `Type/id` names a FHIR resource type; the type is one the element allows.
pub(crate) fn reference<'a>(
    w: &mut Walker<'a>,
    el: &'a Element,
    obj: &'a Map<String, Value>,
    frame: Frame<'a>,
) {
    let Some(r) = obj.get("reference").and_then(Value::as_str) else {
        return;
    };
    w.path.push(Seg::Key("reference"));
    let mut found_type: Option<String> =
        obj.get("type").and_then(Value::as_str).map(str::to_string);
    if let Some(local) = r.strip_prefix('#') {
        let hit = frame
            .resource
            .get("contained")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("id").and_then(Value::as_str) == Some(local));
        match hit {
            Some(c) => {
                found_type = c
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }
            None if local.is_empty() => {}
            None => w.report(
                &frame,
                Severity::Error,
                "not-found",
                format!("The reference '{r}' names no contained resource"),
                Some("ref-contained"),
            ),
        }
    } else if let Some(t) = target_type(r, &frame) {
        if w.defs.is_resource_type(t) {
            found_type.get_or_insert_with(|| t.to_string());
        } else if !is_absolute(r) {
            w.report(
                &frame,
                Severity::Error,
                "invalid",
                format!("The reference '{r}' is not of the form Type/id with a FHIR resource type ('{t}' is not one)"),
                Some("ref-format"),
            );
        }
    } else if !is_absolute(r) && !r.contains('?') {
        w.report(
            &frame,
            Severity::Warning,
            "invalid",
            format!("The reference '{r}' is neither a relative Type/id, an absolute URL nor a local #id"),
            Some("ref-format"),
        );
    }
    w.path.pop();
    let Some(found) = found_type else { return };
    let targets: Vec<&str> = el
        .types
        .iter()
        .filter(|t| t.code == "Reference")
        .flat_map(|t| t.target_profiles.iter())
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .collect();
    if targets.is_empty() || targets.contains(&"Resource") {
        return;
    }
    let ok = targets
        .iter()
        .any(|t| *t == found || w.defs.is_subtype(&found, t))
        // A target profile on a type (`us-core-patient`) constrains a type we can't name here.
        || targets.iter().any(|t| !w.defs.is_resource_type(t) && w.defs.type_def(t).is_none());
    if !ok {
        w.report(
            &frame,
            Severity::Error,
            "structure",
            format!(
                "Invalid Resource target type. Found {found}, but expected one of ({})",
                targets.join(", ")
            ),
            Some("ref-target"),
        );
    }
}

/// An extension against its definition (extensibility.html): a known URL is validated against
/// its StructureDefinition; an unknown one in the FHIR core namespace is a warning (a misspelt
/// core extension, or one from a later version), elsewhere a note (the reference validator's
/// default allows any extension); an unknown modifier extension is a warning too.
pub(crate) fn extension<'a>(
    w: &mut Walker<'a>,
    el: &'a Element,
    obj: &'a Map<String, Value>,
    node: &'a Value,
    frame: Frame<'a>,
) {
    let Some(url) = obj.get("url").and_then(Value::as_str) else {
        return;
    };
    let profiled = el
        .types
        .iter()
        .any(|t| t.code == "Extension" && !t.profiles.is_empty());
    if profiled {
        return;
    }
    let defs = w.defs;
    match defs.structure(url) {
        Some(sd) if sd.type_name == "Extension" => {
            w.object(obj, node, sd, 0, frame, false);
        }
        Some(sd) => w.report(
            &frame,
            Severity::Error,
            "structure",
            format!(
                "The extension URL {url} names a {} definition, not an extension",
                sd.type_name
            ),
            Some("extension"),
        ),
        None => {
            let core = url.starts_with("http://hl7.org/fhir/StructureDefinition/");
            let (sev, msg) = if el.name == "modifierExtension" {
                // The specification's own examples use unknown modifier extensions, and the
                // reference validator accepts them: a warning, the reader must look.
                (Severity::Warning, format!("The modifier extension {url} is unknown: a system that does not understand it cannot safely process this element"))
            } else if core {
                // A warning, not an error: later FHIR versions and tooling add extensions in this
                // namespace (US Core's own examples carry `instance-name`, unknown to R4).
                (Severity::Warning, format!("The extension {url} is not an R4 core extension, so it was not checked (a misspelt URL?)"))
            } else {
                (Severity::Information, format!("The extension {url} is unknown, so its content is not checked against a definition"))
            };
            w.report(&frame, sev, "structure", msg, Some("extension"));
        }
    }
}

/// An Attachment's stated `size` and `hash` (SHA-1, base64) must match its `data`.
pub(crate) fn attachment<'a>(w: &mut Walker<'a>, obj: &'a Map<String, Value>, frame: Frame<'a>) {
    let Some(data) = obj.get("data").and_then(Value::as_str) else {
        return;
    };
    let Some(bytes) = primitive::decode_base64(data) else {
        return;
    };
    if let Some(size) = obj.get("size").and_then(Value::as_u64) {
        if size != bytes.len() as u64 {
            w.report(
                &frame,
                Severity::Error,
                "value",
                format!(
                    "Stated Attachment Size {size} does not match actual attachment size {}",
                    bytes.len()
                ),
                Some("attachment-size"),
            );
        }
    }
    if let Some(hash) = obj.get("hash").and_then(Value::as_str) {
        let actual = Sha1::digest(&bytes);
        let stated = primitive::decode_base64(hash);
        if stated.as_deref() != Some(actual.as_slice()) {
            use base64::Engine as _;
            let shown = base64::engine::general_purpose::STANDARD.encode(actual);
            w.report(
                &frame,
                Severity::Error,
                "value",
                format!("The hash of the data did not match the data (stated: '{hash}', actual: '{shown}')"),
                Some("attachment-hash"),
            );
        }
    }
}
