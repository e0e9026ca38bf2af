//! What a server does with invalid content: an unknown element, a required-binding violation.

use serde_json::{json, Value};

use super::super::exchange::*;
use super::super::fixtures::*;
use emr_validate::fhir::{is_operation_outcome, validate_resource};

pub(super) async fn rejects_invalid(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let mut bad = f.patient();
    bad["favouriteColour"] = json!("blue");
    rejected(ctx, &bad, "an unknown element (Patient.favouriteColour)").await
}

pub(super) async fn required_binding(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let mut bad = f.patient();
    bad["gender"] = json!("banana");
    rejected(ctx, &bad, "Patient.gender = \"banana\"").await
}

/// POSTs an invalid Patient: a 4xx with an OperationOutcome passes; a 2xx fails, and the stored
/// resource is read back and validated so the report says what the server kept.
pub(super) async fn rejected(ctx: &mut Ctx, bad: &Value, what: &str) -> Step<Judged> {
    let a = ctx.send("POST", "Patient", &[], Some(bad)).await?;
    if (400..500).contains(&a.status()) {
        if is_operation_outcome(a.body()) {
            return pass(format!(
                "{} with an OperationOutcome{}",
                a.status(),
                outcome_text(a.body())
            ));
        }
        return pass(format!(
            "{} (without an OperationOutcome: fhir.errors.operation-outcome judges that)",
            a.status()
        ));
    }
    if (200..300).contains(&a.status()) {
        let id = match a.id() {
            id if !id.is_empty() => id,
            _ => location_id(a.header("location"), "Patient").unwrap_or_default(),
        };
        if !id.is_empty() {
            ctx.created.push(format!("Patient/{id}"));
        }
        let stored = match validate_resource(a.body(), Some("Patient")) {
            Err(p) => format!("; what it returned is invalid: {}", p.join("; ")),
            Ok(()) => String::new(),
        };
        return fail(format!("accepted {what} with {}{stored}", a.status()));
    }
    fail(format!(
        "answered {} to {what}, expected 400 or 422",
        a.status()
    ))
}
