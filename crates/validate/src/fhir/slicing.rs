//! Slicing (profiling.html#slicing): each instance of a sliced element is assigned to the slice
//! its discriminators select (value, pattern, type, profile, exists), each slice's cardinality is
//! checked, an instance in no slice is an error when the slicing is closed, and each instance is
//! validated against its slice's own constraints.

use emr_core::outcome::Severity;
use serde_json::Value;

use super::profile::matches_pattern;
use super::structure::{Element, Structure};
use super::walk::{Frame, Seg, Walker};

/// The values at a dotted path inside `v` (`coding.code`), arrays flattened; `$this` is `v`.
fn at_path<'v>(v: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut cur = vec![v];
    if path == "$this" {
        return cur;
    }
    for seg in path.split('.') {
        let mut next = Vec::new();
        for c in cur {
            match c.get(seg) {
                Some(Value::Array(a)) => next.extend(a.iter()),
                Some(x) => next.push(x),
                None => {}
            }
        }
        cur = next;
    }
    cur
}

/// What slice `slice` says must be found at `path`: a fixed or pattern value on the element at
/// that path in the slice, or inside the slice's own pattern; for an extension slice sliced by
/// `url`, its type's profile URL.
fn expected_at(sd: &Structure, slice: &Element, path: &str) -> Option<(Value, bool)> {
    if path == "url" {
        if let Some(p) = slice
            .types
            .iter()
            .find(|t| t.code == "Extension")
            .and_then(|t| t.profiles.first())
        {
            return Some((Value::String(p.clone()), true));
        }
    }
    let segs: Vec<&str> = if path == "$this" {
        Vec::new()
    } else {
        path.split('.').collect()
    };
    // The deepest element along the path with a fixed or pattern value, then the rest of the
    // path inside that value.
    for depth in (0..=segs.len()).rev() {
        let el = if depth == 0 {
            Some(slice)
        } else {
            let id = format!("{}.{}", slice.id, segs[..depth].join("."));
            sd.elements.iter().find(|e| e.id == id)
        };
        let Some(el) = el else { continue };
        let (value, fixed) = match (&el.fixed, &el.pattern) {
            (Some(f), _) => (f, true),
            (None, Some(p)) => (p, false),
            _ => continue,
        };
        let rest = segs[depth..].join(".");
        let inner = if rest.is_empty() {
            Some(value.clone())
        } else {
            at_path(value, &rest).first().map(|v| (*v).clone())
        };
        if let Some(v) = inner {
            return Some((v, fixed));
        }
    }
    None
}

fn type_of_instance(key: &str, base: &str, v: &Value) -> Option<String> {
    if let Some(rt) = v.get("resourceType").and_then(Value::as_str) {
        return Some(rt.to_string());
    }
    key.strip_prefix(base)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string())
}

/// Does `item` belong to `slice` under every discriminator?
fn in_slice<'a>(
    w: &mut Walker<'a>,
    sd: &'a Structure,
    sliced: &Element,
    slice: &'a Element,
    item: &'a Value,
    key: &str,
) -> bool {
    let Some(slicing) = &sliced.slicing else {
        return false;
    };
    if slicing.discriminators.is_empty() {
        return false;
    }
    slicing
        .discriminators
        .iter()
        .all(|(kind, path)| match kind.as_str() {
            "value" | "pattern" => {
                let Some((want, fixed)) = expected_at(sd, slice, path) else {
                    // The spec lets a required binding tell slices apart too (profiling.html
                    // #discriminator, `value`): a coded value in the slice's value set matches.
                    return by_binding(w, sd, slice, path, item);
                };
                at_path(item, path).iter().any(|v| {
                    if fixed {
                        **v == want
                    } else {
                        matches_pattern(v, &want)
                    }
                })
            }
            "exists" => {
                let exists = !at_path(item, path).is_empty();
                let id = format!("{}.{}", slice.id, path);
                match sd.elements.iter().find(|e| e.id == id) {
                    Some(e) if e.min >= 1 => exists,
                    Some(e) if e.max == super::structure::Max::N(0) => !exists,
                    _ => true,
                }
            }
            "type" => {
                let found = type_of_instance(key, &sliced.name, item);
                let target = if path == "$this" {
                    slice
                        .types
                        .iter()
                        .map(|t| t.code.as_str())
                        .collect::<Vec<_>>()
                } else {
                    let id = format!("{}.{}", slice.id, path);
                    sd.elements
                        .iter()
                        .find(|e| e.id == id)
                        .map(|e| e.types.iter().map(|t| t.code.as_str()).collect())
                        .unwrap_or_default()
                };
                found.is_some_and(|f| target.iter().any(|t| t.eq_ignore_ascii_case(&f)))
            }
            "profile" => {
                let profiles: Vec<String> = slice
                    .types
                    .iter()
                    .flat_map(|t| t.profiles.clone())
                    .collect();
                profiles.iter().any(|p| conforms(w, p, item))
            }
            _ => false,
        })
}

/// Whether the value at `path` is in the required value set the slice binds there. A value set
/// we cannot expand offline matches, rather than raising a false slice error.
fn by_binding(w: &Walker<'_>, sd: &Structure, slice: &Element, path: &str, item: &Value) -> bool {
    let el = if path == "$this" {
        Some(slice)
    } else {
        let id = format!("{}.{}", slice.id, path);
        sd.elements.iter().find(|e| e.id == id)
    };
    let Some(b) = el.and_then(|e| e.binding.as_ref()) else {
        return false;
    };
    if b.strength != super::structure::Strength::Required {
        return false;
    }
    let exp = super::terminology::expand(w.defs, &b.value_set);
    if matches!(&*exp, super::terminology::Expansion::NotEnumerable(_)) {
        return true;
    }
    at_path(item, path).iter().any(|v| {
        let codings: Vec<&Value> = match v {
            Value::String(_) => vec![*v],
            Value::Object(o) if o.contains_key("coding") => o
                .get("coding")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            other => vec![*other],
        };
        codings.iter().any(|c| match c {
            Value::String(code) => exp.contains(None, code) == Some(true),
            c => c.get("code").and_then(Value::as_str).is_some_and(|code| {
                exp.contains(c.get("system").and_then(Value::as_str), code) == Some(true)
            }),
        })
    })
}

/// Whether `item` meets profile `url` with no errors (a trial walk whose findings are dropped).
fn conforms<'a>(w: &mut Walker<'a>, url: &str, item: &'a Value) -> bool {
    let Some(sd) = w.defs.structure(url) else {
        return false;
    };
    let Some(obj) = item.as_object() else {
        return false;
    };
    let mut trial = Walker::new(w.defs, w.opts);
    let frame = Frame {
        resource: item,
        root: item,
        bundle: None,
    };
    trial.object(obj, item, sd, 0, frame, item.get("resourceType").is_some());
    !trial.found.iter().any(|r| r.issue.severity.fails())
}

pub(crate) fn check<'a>(
    w: &mut Walker<'a>,
    sd: &'a Structure,
    idx: usize,
    items: &[&'a Value],
    key: &'a str,
    frame: Frame<'a>,
) {
    let sliced = &sd.elements[idx];
    if sliced.slices.is_empty() {
        return;
    }
    let mut counts = vec![0usize; sliced.slices.len()];
    for (i, item) in items.iter().enumerate() {
        let hit = sliced
            .slices
            .iter()
            .position(|&s| in_slice(w, sd, sliced, &sd.elements[s], item, key));
        w.path.push(Seg::Key(key));
        if sliced.array {
            w.path.push(Seg::Index(i));
        }
        match hit {
            Some(s) => {
                counts[s] += 1;
                let slice_idx = sliced.slices[s];
                let slice = &sd.elements[slice_idx];
                if let Some(obj) = item.as_object() {
                    if !sd.children_of(slice_idx).is_empty() {
                        w.object(obj, item, sd, slice_idx, frame, false);
                    } else {
                        for p in slice.types.iter().flat_map(|t| t.profiles.iter()) {
                            super::profile::against_type_profile(w, p, obj, item, frame);
                        }
                    }
                }
                super::profile::fixed_and_pattern(w, slice, item, frame);
            }
            None => {
                if sliced.slicing.as_ref().is_some_and(|s| s.rules == "closed") {
                    w.report(
                        &frame,
                        Severity::Error,
                        "structure",
                        format!("This element does not match any known slice defined in the profile, and slicing is closed ({})", sliced.id),
                        Some("slicing-closed"),
                    );
                }
            }
        }
        if sliced.array {
            w.path.pop();
        }
        w.path.pop();
    }
    for (s, &n) in counts.iter().enumerate() {
        let slice = &sd.elements[sliced.slices[s]];
        let name = slice.slice_name.as_deref().unwrap_or("?");
        if (n as u32) < slice.min {
            w.report(
                &frame,
                Severity::Error,
                "required",
                format!(
                    "{}: slice '{name}': minimum required = {}, but only found {n} (from {})",
                    sliced.path, slice.min, sd.url
                ),
                Some("slice-cardinality"),
            );
        } else if !slice.max.allows(n) {
            w.report(
                &frame,
                Severity::Error,
                "structure",
                format!(
                    "{}: slice '{name}': max allowed = {}, but found {n} (from {})",
                    sliced.path,
                    slice.max.text(),
                    sd.url
                ),
                Some("slice-cardinality"),
            );
        }
    }
}
