//! emr-harness validators: judging a FHIR resource (and, as the definitions issues land, HL7 v2
//! messages) against the standard. Kept in their own crate because the FHIR model they carry is
//! the single largest thing to compile: only this crate instantiates it.

#![warn(unreachable_pub)]

pub mod fhir;
pub mod hl7v2;

pub use fhir::{validate_resource, FhirValidator};
pub use hl7v2::V2Validator;
