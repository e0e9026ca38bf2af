//! FHIR R4 over REST: the HTTP transport (reqwest, and a lean hyper path for load).

pub mod client;
pub mod guard;
mod lean;

pub use client::{FhirClient, TransportError, DEFAULT_MAX_BODY};
pub use emr_core::{HttpRequest, HttpResponse, FHIR_JSON};
pub use guard::RemoteGuard;
