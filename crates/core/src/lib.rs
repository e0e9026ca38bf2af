//! emr-harness core: what a scenario says and what a response means, with no network and no
//! async runtime (like hurl's `hurl_core`). Scenario files are read and validated (`scenario`),
//! templates rendered (`scenario::template`), HL7 v2 messages parsed (`hl7`), FHIRPath evaluated
//! (`fhirpath`), responses checked (`check`), and outcomes kept in one tree (`report`) that every
//! report format reads. Transports, the sandbox and the runner build on it; it imports none of them.

#![warn(unreachable_pub)]

pub mod check;
pub mod exchange;
pub mod fhir_types;
pub mod fhirpath;
pub mod hl7;
pub mod limits;
pub mod origin;
pub mod outcome;
pub mod report;
pub mod scenario;
pub mod secret;

pub use exchange::{HttpRequest, HttpResponse};

/// The media type FHIR R4 JSON travels as.
pub const FHIR_JSON: &str = "application/fhir+json";
