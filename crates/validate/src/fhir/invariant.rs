//! Invariants: each `constraint.expression` of the snapshots, evaluated by our FHIRPath engine
//! on the element it is defined on, with `%resource` the resource that holds it.
//!
//! A few rules are checked natively instead, where the walk already knows the answer or the
//! expression needs what a JSON engine cannot see: `ele-1` (every element has a value or
//! children: the walk reports empty objects, arrays and strings as it meets them), `dom-2`..`dom-5`
//! (contained resources: `rules::contained`), `txt-1`/`txt-2` (narrative XHTML:
//! `primitive::xhtml_problem`). Each native rule has a test with the failing instance.

use emr_core::fhirpath::FhirPath;
use serde_json::Value;

use super::defs::Definitions;
use super::structure::Constraint;
use super::walk::Frame;

/// Rules checked by the walk itself rather than by evaluating their expression.
pub(crate) const NATIVE: &[&str] = &[
    "ele-1", "dom-2", "dom-3", "dom-4", "dom-5", "txt-1", "txt-2",
];

pub(crate) fn is_native(key: &str) -> bool {
    NATIVE.contains(&key)
}

/// Whether `c` holds on `node`. An empty result passes, as FHIR's invariant semantics say; an
/// expression the engine cannot parse or evaluate is `Err`, counted as unevaluated, never as a
/// failure of the resource.
pub(crate) fn holds(
    _defs: &Definitions,
    c: &Constraint,
    node: &Value,
    frame: Frame<'_>,
) -> Result<bool, String> {
    let fp: &FhirPath = c.compiled().as_ref().map_err(Clone::clone)?;
    let _ = frame;
    let out = fp.evaluate(node).map_err(|e| e.message)?;
    Ok(!matches!(out.as_slice(), [Value::Bool(false)]))
}
