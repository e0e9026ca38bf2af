#![no_main]

//! The FHIRPath parser and evaluator on arbitrary text: no panic, no stack overflow (deep
//! nesting is refused at parse time), every evaluation ends.

use emr_core::fhirpath::FhirPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    let Ok(path) = FhirPath::parse(&source) else {
        return;
    };
    let patient = serde_json::json!({
        "resourceType": "Patient",
        "id": "p1",
        "active": true,
        "name": [{"family": "Doe", "given": ["Jane", "Q"]}, {"text": "J Doe"}],
        "birthDate": "1980-01-01",
        "identifier": [{"system": "urn:x", "value": "M1"}],
        "extension": [{"url": "u", "valueInteger": 3}],
        "contained": [{"resourceType": "Observation", "id": "o", "valueQuantity": {"value": 1.5}}]
    });
    let _ = path.evaluate(&patient);
});
