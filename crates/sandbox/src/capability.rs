//! The sandbox's CapabilityStatement (`GET /metadata`): what it really supports, per type.

use serde_json::{json, Value};

use super::search::{type_params, COMMON_PARAMS};
use emr_core::fhir_types::RESOURCE_TYPES;

pub(crate) fn capability_statement(base_url: &str) -> Value {
    let interactions = json!([
        {"code": "read"}, {"code": "vread"}, {"code": "update"}, {"code": "delete"},
        {"code": "history-instance"}, {"code": "history-type"}, {"code": "create"}, {"code": "search-type"}
    ]);
    let resources: Vec<Value> = RESOURCE_TYPES
        .iter()
        .map(|t| {
            let params: Vec<Value> = COMMON_PARAMS
                .iter()
                .chain(type_params(t))
                .map(|(name, kind)| json!({"name": name, "type": kind}))
                .collect();
            json!({
                "type": t,
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalDelete": "not-supported",
                "searchParam": params,
                "operation": [{"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}],
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-25",
        "publisher": "emr-harness",
        "kind": "instance",
        "software": {"name": "emr-harness sandbox EMR", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "emr-harness embedded sandbox EMR (in-memory, for testing)", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "searchParam": [
                {"name": "_count", "type": "number"},
                {"name": "_offset", "type": "number"}
            ]
        }]
    })
}
