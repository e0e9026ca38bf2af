//! Transaction and batch Bundles (http.html#transaction).

use serde_json::{json, Value};

use super::super::exchange::*;
use super::super::fixtures::*;

pub(super) async fn transaction_or_batch(
    ctx: &mut Ctx,
    f: &Fixture,
    transaction: bool,
) -> Step<Judged> {
    let (ty, resp_ty) = if transaction {
        ("transaction", "transaction-response")
    } else {
        ("batch", "batch-response")
    };
    let bundle = json!({
        "resourceType": "Bundle",
        "type": ty,
        "entry": [
            {"fullUrl": "urn:uuid:6f7c0a3e-0000-4000-8000-000000000001", "resource": f.patient(), "request": {"method": "POST", "url": "Patient"}},
            {"resource": f.observation(None), "request": {"method": "POST", "url": "Observation"}}
        ]
    });
    let a = ctx.send("POST", "", &[], Some(&bundle)).await?;
    for e in entries(a.body()) {
        if let Some(l) = e.pointer("/response/location").and_then(Value::as_str) {
            for t in ["Patient", "Observation"] {
                if let Some(id) = location_id(Some(l), t) {
                    ctx.created.push(format!("{t}/{id}"));
                }
            }
        }
    }
    expect_status(&a, &format!("the {ty}"), &[200])?;
    let b = a.body();
    if b.get("type").and_then(Value::as_str) != Some(resp_ty) {
        return fail(format!(
            "Bundle.type is {:?}, expected {resp_ty}",
            b.get("type")
        ));
    }
    let statuses: Vec<&str> = entries(b)
        .iter()
        .filter_map(|e| e.pointer("/response/status").and_then(Value::as_str))
        .collect();
    if statuses.len() != 2 || !statuses.iter().all(|s| s.starts_with("201")) {
        return fail(format!("entry statuses {statuses:?}, expected two 201"));
    }
    pass(format!("{resp_ty} with 201 for both entries"))
}
