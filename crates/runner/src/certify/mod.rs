//! Built-in conformance suites (`emr-harness certify ...`): the tool knows the standard, so a vendor
//! brings only an endpoint. Each suite is a list of checks; each check sends its own test data,
//! cites the part of the standard it tests, and ends pass, fail or skip (with the reason), keeping
//! the exchanges as evidence. One report model for every suite, scored per area like Touchstone.

pub mod fhir;
pub mod hl7;
pub mod report;

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "emr-harness/certify/v1";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not applicable to this endpoint (e.g. not declared), with the reason.
    Skip,
    /// The exchange itself broke (no connection, no answer) so the rule could not be judged.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
            Verdict::Error => "error",
        }
    }
}

/// One request and what came back, as sent and received (secrets redacted before they get here).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Exchange {
    pub sent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    /// Why nothing usable came back (timeout, reset, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckOutcome {
    /// Stable id, e.g. `hl7.original.msa2`.
    pub id: String,
    pub area: String,
    pub title: String,
    /// The section of the standard the check tests.
    pub spec: String,
    pub verdict: Verdict,
    /// What was observed, in one sentence: why it passed, failed or was skipped.
    pub reason: String,
    pub duration_ms: f64,
    pub evidence: Vec<Exchange>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AreaScore {
    pub area: String,
    pub passed: usize,
    pub failed: usize,
    pub errored: usize,
    pub skipped: usize,
    /// Passed / (judged checks), in percent; skipped checks do not count. 100 when none judged.
    pub score: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertReport {
    pub schema: String,
    pub tool_version: String,
    /// `hl7` or `fhir`.
    pub suite: String,
    pub target: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_ms: f64,
    /// True when the server's TLS certificate was not verified (`--insecure`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_insecure: bool,
    /// One row per area, in the order the areas first appear, then `overall`.
    pub areas: Vec<AreaScore>,
    pub checks: Vec<CheckOutcome>,
}

impl CertReport {
    pub fn new(suite: &str, target: &str, started: chrono::DateTime<chrono::Utc>) -> Self {
        CertReport {
            schema: SCHEMA.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            suite: suite.into(),
            target: target.into(),
            started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms: 0.0,
            tls_insecure: false,
            areas: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// Fills `areas` from `checks`.
    pub fn score(&mut self) {
        let mut areas: Vec<AreaScore> = Vec::new();
        let mut overall = AreaScore {
            area: "overall".into(),
            ..Default::default()
        };
        for c in &self.checks {
            let i = match areas.iter().position(|a| a.area == c.area) {
                Some(i) => i,
                None => {
                    areas.push(AreaScore {
                        area: c.area.clone(),
                        ..Default::default()
                    });
                    areas.len() - 1
                }
            };
            for a in [&mut areas[i], &mut overall] {
                match c.verdict {
                    Verdict::Pass => a.passed += 1,
                    Verdict::Fail => a.failed += 1,
                    Verdict::Error => a.errored += 1,
                    Verdict::Skip => a.skipped += 1,
                }
            }
        }
        areas.push(overall);
        for a in &mut areas {
            let judged = a.passed + a.failed + a.errored;
            a.score = if judged == 0 {
                100.0
            } else {
                (a.passed as f64 * 1000.0 / judged as f64).round() / 10.0
            };
        }
        self.areas = areas;
    }

    /// True when no check failed or errored (skips are fine).
    pub fn passed(&self) -> bool {
        self.checks
            .iter()
            .all(|c| matches!(c.verdict, Verdict::Pass | Verdict::Skip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(area: &str, verdict: Verdict) -> CheckOutcome {
        CheckOutcome {
            id: format!("{area}.x"),
            area: area.into(),
            title: String::new(),
            spec: String::new(),
            verdict,
            reason: String::new(),
            duration_ms: 0.0,
            evidence: Vec::new(),
        }
    }

    #[test]
    fn scores_per_area_ignore_skips() {
        let mut r = CertReport::new("hl7", "x", chrono::Utc::now());
        r.checks = vec![
            check("a", Verdict::Pass),
            check("a", Verdict::Fail),
            check("a", Verdict::Skip),
            check("b", Verdict::Skip),
            check("c", Verdict::Pass),
            check("c", Verdict::Pass),
            check("c", Verdict::Error),
        ];
        r.score();
        let s: Vec<(&str, f64)> = r.areas.iter().map(|a| (a.area.as_str(), a.score)).collect();
        assert_eq!(
            s,
            vec![("a", 50.0), ("b", 100.0), ("c", 66.7), ("overall", 60.0)]
        );
        assert!(!r.passed());
    }
}
