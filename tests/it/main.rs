//! The integration tests: one binary (as ripgrep does), so the workspace links one test
//! executable instead of one per file. Each module tests one area from the outside, over real
//! sockets: the built binary, the sandbox, and the third-party targets `.ci/run` starts.

mod common;

mod auth;
mod bad_input;
mod certify;
mod cli;
mod examples;
mod fhir_validate;
mod golden_files;
mod hl7_corpus;
mod hl7_parser;
mod hl7_validate;
mod hostile;
mod https;
mod load;
mod mllp;
mod mllp_tls;
mod record;
mod reports;
mod sandbox_api;
mod testscript;
mod validation;
