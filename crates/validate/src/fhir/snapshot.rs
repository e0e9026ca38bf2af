//! Snapshot generation for profiles published with a differential only (hand-written profiles,
//! some IG packages, the reference validator's `ai5`/`ai6` cases): the base's snapshot with the
//! differential laid over it, as the specification's profiling rules describe (profiling.html
//! #snapshot). Covered: constraining existing elements, constraining elements inside a complex
//! type (the type's elements are unfolded under the element first), slices with their own
//! children, and appended constraints. Not covered: re-slicing of slices defined in the base.

use serde_json::{Map, Value};

/// Properties a differential element sets that replace the base's.
const REPLACED: &[&str] = &[
    "min",
    "max",
    "type",
    "binding",
    "mustSupport",
    "maxLength",
    "slicing",
    "short",
    "isModifier",
    "contentReference",
];

/// Builds the full StructureDefinition: `sd` with `snapshot.element` made from `base` (the
/// base's snapshot elements) and `sd.differential.element`. `unfold` gives the snapshot elements
/// of a type by name, for constraining inside it.
pub(crate) fn generate(
    base: &[Value],
    sd: &Value,
    unfold: &dyn Fn(&str) -> Option<Vec<Value>>,
) -> Result<Value, String> {
    let diff = sd
        .get("differential")
        .and_then(|d| d.get("element"))
        .and_then(Value::as_array)
        .ok_or("no differential.element")?;
    let base_type = base
        .first()
        .and_then(|e| e.get("path"))
        .and_then(Value::as_str)
        .ok_or("the base snapshot is empty")?
        .to_string();
    let mut els: Vec<Value> = base.to_vec();
    for d in diff {
        let Some(d) = d.as_object() else { continue };
        let path = d
            .get("path")
            .and_then(Value::as_str)
            .ok_or("a differential element without a path")?;
        // A profile on a type names its root by the type (`Observation`), as the base does.
        let path = rebase(path, &base_type);
        let id = d
            .get("id")
            .and_then(Value::as_str)
            .map(|i| rebase(i, &base_type))
            .unwrap_or_else(|| path.clone());
        // `Observation.valueQuantity` constrains `Observation.value[x]` to Quantity.
        let id = choice_renamed(&mut els, &id);
        let path = id
            .split('.')
            .map(|seg| seg.split(':').next().unwrap_or(seg))
            .collect::<Vec<_>>()
            .join(".");
        let at = match find(&els, &id) {
            Some(i) => i,
            None => materialise(&mut els, &id, &path, d, unfold)?,
        };
        merge(&mut els[at], d);
    }
    let mut full = sd.clone();
    if let Some(obj) = full.as_object_mut() {
        obj.insert("snapshot".into(), serde_json::json!({ "element": els }));
    }
    Ok(full)
}

/// Rewrites each segment of `id` that names a choice element by its type (`valueQuantity`) to
/// the choice element (`value[x]`), narrowing that element to the type, so what follows is
/// constrained and unfolded inside the type.
fn choice_renamed(els: &mut [Value], id: &str) -> String {
    let mut segs = id.split('.');
    let mut cur = segs.next().unwrap_or_default().to_string();
    for seg in segs {
        let (name, slice) = match seg.split_once(':') {
            Some((n, s)) => (n, Some(s)),
            None => (seg, None),
        };
        let direct = format!("{cur}.{name}");
        let mut next = direct.clone();
        if find(els, &direct).is_none() {
            let choice = els.iter().position(|e| {
                let eid = id_of(e);
                eid.strip_prefix(cur.as_str())
                    .and_then(|r| r.strip_prefix('.'))
                    .and_then(|r| r.strip_suffix("[x]"))
                    .is_some_and(|base| {
                        name.strip_prefix(base).is_some_and(|suffix| {
                            !suffix.is_empty()
                                && type_codes(e)
                                    .iter()
                                    .any(|t| super::structure::type_suffix_matches(t, suffix))
                        })
                    })
            });
            if let Some(i) = choice {
                let eid = id_of(&els[i]).to_string();
                let base = eid[cur.len() + 1..eid.len() - 3].to_string();
                let suffix = &name[base.len()..];
                if let Some(t) = type_codes(&els[i])
                    .into_iter()
                    .find(|t| super::structure::type_suffix_matches(t, suffix))
                {
                    if let Some(o) = els[i].as_object_mut() {
                        o.insert("type".into(), serde_json::json!([{ "code": t }]));
                    }
                }
                next = eid;
            }
        }
        cur = match slice {
            Some(s) => format!("{next}:{s}"),
            None => next,
        };
    }
    cur
}

fn type_codes(e: &Value) -> Vec<String> {
    e.get("type")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("code").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn rebase(path: &str, base_type: &str) -> String {
    match path.split_once('.') {
        Some((_, rest)) => format!("{base_type}.{rest}"),
        None => base_type.to_string(),
    }
}

fn id_of(e: &Value) -> &str {
    e.get("id")
        .or_else(|| e.get("path"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn find(els: &[Value], id: &str) -> Option<usize> {
    els.iter().position(|e| id_of(e) == id)
}

/// The index after `at` and all elements below it (its children, slices and their children).
fn end_of_subtree(els: &[Value], at: usize) -> usize {
    let id = id_of(&els[at]).to_string();
    let mut i = at + 1;
    while i < els.len() {
        let other = id_of(&els[i]);
        let below = other
            .strip_prefix(id.as_str())
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with(':'));
        if !below {
            break;
        }
        i += 1;
    }
    i
}

/// Creates the element `id` that the base does not have: a slice (copied from the element it
/// slices, with its subtree) or an element inside a complex type (unfolded from the type).
fn materialise(
    els: &mut Vec<Value>,
    id: &str,
    path: &str,
    d: &Map<String, Value>,
    unfold: &dyn Fn(&str) -> Option<Vec<Value>>,
) -> Result<usize, String> {
    let (parent_id, last) = id
        .rsplit_once('.')
        .ok_or(format!("`{id}` is not in the base"))?;
    if let Some((name, slice)) = last.split_once(':') {
        let sliced_id = format!("{parent_id}.{name}");
        let sliced = match find(els, &sliced_id) {
            Some(i) => i,
            None => materialise(els, &sliced_id, path, &Map::new(), unfold)?,
        };
        let end = end_of_subtree(els, sliced);
        // The slice starts as a copy of the sliced element and its children, renamed.
        let copies: Vec<Value> = els[sliced..end]
            .iter()
            .filter(|e| {
                let eid = id_of(e);
                eid == sliced_id || !eid[sliced_id.len()..].starts_with(':')
            })
            .map(|e| {
                let mut c = e.clone();
                let eid = id_of(e).to_string();
                let new_id = format!("{id}{}", &eid[sliced_id.len()..]);
                if let Some(o) = c.as_object_mut() {
                    o.insert("id".into(), Value::String(new_id.clone()));
                    if new_id == id {
                        o.insert("sliceName".into(), Value::String(slice.to_string()));
                        o.remove("slicing");
                    }
                }
                c
            })
            .collect();
        let n = copies.len();
        els.splice(end..end, copies);
        let _ = n;
        return Ok(end);
    }
    let parent = match find(els, parent_id) {
        Some(i) => i,
        None => materialise(els, parent_id, parent_path(path), &Map::new(), unfold)?,
    };
    // The parent has no children here: unfold its type's elements under it.
    let ty = els[parent]
        .get("type")
        .and_then(Value::as_array)
        .and_then(|t| {
            if t.len() == 1 {
                t[0].get("code").and_then(Value::as_str)
            } else {
                // `value[x]` constrained to one type by a `valueQuantity` child id.
                let _ = d;
                None
            }
        })
        .ok_or(format!(
            "`{id}`: cannot tell the type of `{parent_id}` to unfold it"
        ))?
        .to_string();
    let type_elements = unfold(&ty).ok_or(format!("`{id}`: type {ty} is not loaded"))?;
    let parent_path_s = els[parent]
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or(parent_id)
        .to_string();
    let end = end_of_subtree(els, parent);
    let children: Vec<Value> = type_elements
        .iter()
        .skip(1)
        .map(|e| {
            let mut c = e.clone();
            let epath = e.get("path").and_then(Value::as_str).unwrap_or_default();
            let rest = epath.split_once('.').map(|(_, r)| r).unwrap_or_default();
            let eid = id_of(e);
            let id_rest = eid.split_once('.').map(|(_, r)| r).unwrap_or_default();
            if let Some(o) = c.as_object_mut() {
                o.insert(
                    "path".into(),
                    Value::String(format!("{parent_path_s}.{rest}")),
                );
                o.insert("id".into(), Value::String(format!("{parent_id}.{id_rest}")));
            }
            c
        })
        .collect();
    els.splice(end..end, children);
    find(els, id).ok_or(format!("`{id}` is not an element of {ty}"))
}

fn parent_path(path: &str) -> &str {
    path.rsplit_once('.').map(|(p, _)| p).unwrap_or(path)
}

fn merge(el: &mut Value, d: &Map<String, Value>) {
    let Some(obj) = el.as_object_mut() else {
        return;
    };
    for (k, v) in d {
        if REPLACED.contains(&k.as_str())
            || k.starts_with("fixed")
            || k.starts_with("pattern")
            || k.starts_with("minValue")
            || k.starts_with("maxValue")
            || k == "sliceName"
        {
            obj.insert(k.clone(), v.clone());
        } else if k == "constraint" {
            let mut list = obj
                .get("constraint")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            list.extend(v.as_array().cloned().unwrap_or_default());
            obj.insert(k.clone(), Value::Array(list));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn constrains_inside_a_type_and_adds_a_slice() {
        let base = vec![
            json!({"id": "Observation", "path": "Observation", "min": 0, "max": "*"}),
            json!({"id": "Observation.code", "path": "Observation.code", "min": 1, "max": "1", "type": [{"code": "CodeableConcept"}]}),
            json!({"id": "Observation.component", "path": "Observation.component", "min": 0, "max": "*", "type": [{"code": "BackboneElement"}]}),
            json!({"id": "Observation.component.code", "path": "Observation.component.code", "min": 1, "max": "1"}),
        ];
        let cc = vec![
            json!({"id": "CodeableConcept", "path": "CodeableConcept"}),
            json!({"id": "CodeableConcept.coding", "path": "CodeableConcept.coding", "min": 0, "max": "*"}),
            json!({"id": "CodeableConcept.text", "path": "CodeableConcept.text", "min": 0, "max": "1"}),
        ];
        let sd = json!({"url": "x", "differential": {"element": [
            {"id": "Observation.code.coding", "path": "Observation.code.coding", "min": 1},
            {"id": "Observation.component", "path": "Observation.component", "slicing": {"rules": "open"}},
            {"id": "Observation.component:sys", "path": "Observation.component", "sliceName": "sys", "min": 1, "max": "1"},
            {"id": "Observation.component:sys.code", "path": "Observation.component.code", "patternCodeableConcept": {"text": "s"}},
        ]}});
        let unfold = |t: &str| (t == "CodeableConcept").then(|| cc.clone());
        let full = generate(&base, &sd, &unfold).unwrap();
        let ids: Vec<&str> = full["snapshot"]["element"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect();
        assert_eq!(
            ids,
            [
                "Observation",
                "Observation.code",
                "Observation.code.coding",
                "Observation.code.text",
                "Observation.component",
                "Observation.component.code",
                "Observation.component:sys",
                "Observation.component:sys.code"
            ]
        );
        let els = full["snapshot"]["element"].as_array().unwrap();
        assert_eq!(els[2]["min"], 1);
        assert_eq!(els[6]["sliceName"], "sys");
        assert_eq!(els[7]["patternCodeableConcept"]["text"], "s");
        assert!(els[4].get("slicing").is_some());
    }

    #[test]
    fn a_choice_constrained_by_its_typed_name_is_narrowed_and_unfolded() {
        let base = vec![
            json!({"id": "Observation", "path": "Observation"}),
            json!({"id": "Observation.value[x]", "path": "Observation.value[x]", "min": 0, "max": "1",
                   "type": [{"code": "Quantity"}, {"code": "string"}]}),
        ];
        let qty = vec![
            json!({"id": "Quantity", "path": "Quantity"}),
            json!({"id": "Quantity.value", "path": "Quantity.value", "min": 0, "max": "1"}),
            json!({"id": "Quantity.code", "path": "Quantity.code", "min": 0, "max": "1"}),
        ];
        let sd = json!({"url": "x", "differential": {"element": [
            {"id": "Observation.valueQuantity", "path": "Observation.valueQuantity", "min": 1},
            {"id": "Observation.valueQuantity.code", "path": "Observation.valueQuantity.code", "fixedCode": "/min"},
        ]}});
        let unfold = |t: &str| (t == "Quantity").then(|| qty.clone());
        let full = generate(&base, &sd, &unfold).unwrap();
        let els = full["snapshot"]["element"].as_array().unwrap();
        let ids: Vec<&str> = els.iter().map(id_of).collect();
        assert_eq!(
            ids,
            [
                "Observation",
                "Observation.value[x]",
                "Observation.value[x].value",
                "Observation.value[x].code"
            ]
        );
        assert_eq!(els[1]["type"], json!([{"code": "Quantity"}]));
        assert_eq!(els[1]["min"], 1);
        assert_eq!(els[3]["fixedCode"], "/min");
    }
}
