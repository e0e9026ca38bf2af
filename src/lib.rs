//! emr-harness: conformance and load testing for EMR integration endpoints.
//!
//! Data flows one way: scenario files are loaded and validated (`scenario`), each step is rendered
//! and sent over its transport (`fhir`), the response is checked (`check`), and the outcomes form
//! one result tree (`report::model`) that every report format reads (`report`). `run` is the step
//! executor that ties them together; `sandbox` is the embedded EMR the examples run against.

pub mod auth;
pub mod certify;
pub mod check;
pub mod fhir;
pub mod hl7;
pub mod import;
pub mod limits;
pub mod load;
pub mod mllp;
pub mod record;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod scenario;
pub mod tls;
