//! Turning other formats into scenario files: FHIR TestScript, HAR (browser devtools, Postman,
//! Insomnia), and HL7 v2 logs and batch files.

pub mod har;
pub mod hl7log;
pub mod testscript;
