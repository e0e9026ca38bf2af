//! FHIR R4 over REST: the HTTP transport and resource validation with fhir-sdk's typed model.

pub mod client;
mod lean;
pub mod origin;
mod resource_types;
pub mod validate;

pub use client::{FhirClient, HttpRequest, HttpResponse, TransportError, DEFAULT_MAX_BODY};
pub use resource_types::RESOURCE_TYPES;

/// The media type FHIR R4 JSON travels as.
pub const FHIR_JSON: &str = "application/fhir+json";
