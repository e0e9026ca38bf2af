//! Turning other formats into scenario files: FHIR TestScript today (later HAR and HL7 logs).

pub mod testscript;
