//! emr-harness runner: everything that drives a target and reports on it. `run` replays
//! scenarios through the step executor (scenario → rendered request → transport → checks →
//! outcome), `load` drives the same executor at a rate, `certify` runs the built-in suites,
//! `record` and `import` turn traffic into scenarios, `report` writes the result tree as a table,
//! JSON or JUnit, and `golden` keeps the snapshot files and their review.

#![warn(unreachable_pub)]

pub mod certify;
pub mod golden;
pub mod import;
pub mod load;
pub mod record;
pub mod report;
pub mod run;
pub mod write;
