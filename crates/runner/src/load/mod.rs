//! Load runs: profiles of weighted scenario mixes, an open (arrival-rate) or closed (virtual
//! users) model over the same step executor as conformance runs, HdrHistogram metrics with
//! coordinated omission corrected, SLO verdicts, and reports that merge exactly across workers.

pub mod closed;
pub mod driver;
pub mod html;
pub mod metrics;
pub mod profile;
pub mod report;
pub mod safety;

pub use driver::{Driver, LoadOutcome, Worker};
pub use profile::Profile;
