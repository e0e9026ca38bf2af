//! Load metrics: one HdrHistogram per step name (µs, 3 significant digits), one for every step
//! together, per-second series, and errors by kind. Fed by one aggregator task, so the request
//! path never takes a lock; histograms add exactly, so workers' results merge without averaging.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use emr_core::report::{ErrorKind, Status, StepResult};

/// Latencies up to an hour, in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail at run time.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Per-second latency: 2 significant digits up to 60 s (≈ 20 kB each), so a long run's series
/// stays small; exact figures come from the whole-run histograms.
pub fn new_series_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid histogram bounds")
}

/// One second of the run.
#[derive(Debug, Clone, Default)]
pub struct Second {
    pub requests: u64,
    pub errors: u64,
    /// Dropped once the second is `SERIES_SLACK` behind the newest sample, keeping its p50/p99.
    pub latency: Option<Histogram<u64>>,
    compacted: Option<(u64, u64)>,
}

impl Second {
    /// p50 and p99 of the second, in microseconds (0 when it saw no request).
    pub fn p50_p99_us(&self) -> (u64, u64) {
        match (&self.latency, self.compacted) {
            (Some(h), _) => (h.value_at_quantile(0.5), h.value_at_quantile(0.99)),
            (None, Some(q)) => q,
            (None, None) => (0, 0),
        }
    }
}

/// How far behind the newest sample a second's histogram is kept. Samples arrive when their
/// iteration ends, so a second can still receive some a little later; a minute covers any
/// iteration the drain allows. Without it, a 24-hour soak run would keep 86,400 histograms
/// (≈ 1.7 GB); with it the series costs two numbers per second.
pub const SERIES_SLACK: usize = 60;

#[derive(Debug, Clone)]
pub struct Metrics {
    pub steps: BTreeMap<String, Histogram<u64>>,
    pub step_errors: BTreeMap<String, u64>,
    /// Per transport (`fhir`, `hl7`): the same samples as `steps`, grouped by protocol.
    pub transports: BTreeMap<&'static str, Histogram<u64>>,
    pub transport_errors: BTreeMap<&'static str, u64>,
    pub overall: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
    pub requests: u64,
    pub iterations: u64,
    pub dropped_iterations: u64,
    pub seconds: Vec<Second>,
    /// Seconds before this index have been compacted.
    compacted_upto: usize,
    /// Since the last `take_interval`, by interval-log tag (`_all`, `_fhir`, step names), when
    /// the run writes an interval log as it goes.
    interval: Option<BTreeMap<String, Histogram<u64>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            steps: BTreeMap::new(),
            step_errors: BTreeMap::new(),
            transports: BTreeMap::new(),
            transport_errors: BTreeMap::new(),
            overall: new_histogram(),
            errors: BTreeMap::new(),
            requests: 0,
            iterations: 0,
            dropped_iterations: 0,
            seconds: Vec::new(),
            compacted_upto: 0,
            interval: None,
        }
    }
}

/// Why a step counts as an error, for the "errors by kind" table.
pub fn error_kind(step: &StepResult) -> Option<String> {
    if matches!(step.status, Status::Passed | Status::Skipped) {
        return None;
    }
    if let Some(e) = &step.error {
        return Some(
            match e.kind {
                ErrorKind::Connect => "connect_refused",
                ErrorKind::Timeout => "timeout",
                ErrorKind::Reset => "reset",
                ErrorKind::Transport => "transport",
                ErrorKind::Auth => "auth",
                ErrorKind::Scenario => "scenario",
                ErrorKind::Interrupted => "interrupted",
                ErrorKind::Tls => "tls",
                ErrorKind::Protocol => "protocol",
                ErrorKind::Limit => "limit",
                ErrorKind::Policy => "policy",
            }
            .to_string(),
        );
    }
    let resp = step.response.as_ref();
    if let Some(code) = resp.and_then(|r| r.status).filter(|s| *s >= 400) {
        return Some(format!("http_{}xx", code / 100));
    }
    if let Some(ack) = resp
        .and_then(|r| r.ack.as_deref())
        .filter(|a| !matches!(*a, "AA" | "CA"))
    {
        return Some(format!("nak_{}", ack.to_ascii_lowercase()));
    }
    Some("check_failed".into())
}

/// The transport of a step kind, as a static name (no allocation per request).
fn transport_of(kind: &str) -> &'static str {
    match kind {
        "fhir" => "fhir",
        "hl7" => "hl7",
        _ => "other",
    }
}

fn transport_tag(transport: &str) -> &'static str {
    match transport {
        "fhir" => "_fhir",
        "hl7" => "_hl7",
        _ => "_other",
    }
}

impl Metrics {
    /// Keeps the samples since the last `take_interval` apart too, for an interval log.
    pub fn track_intervals(&mut self) {
        self.interval = Some(BTreeMap::new());
    }

    /// The histograms of the samples recorded since the last call, by tag; afterwards empty.
    pub fn take_interval(&mut self) -> BTreeMap<String, Histogram<u64>> {
        match &mut self.interval {
            Some(i) => std::mem::take(i),
            None => BTreeMap::new(),
        }
    }

    /// Records one step. `latency` already includes any lag behind the intended start.
    /// Records one step; returns whether it counted as an error.
    pub fn record(&mut self, step: &StepResult, latency: Duration, at: Duration) -> bool {
        if step.status == Status::Skipped {
            return false;
        }
        let us = (latency.as_micros() as u64).max(1);
        self.requests += 1;
        // Look up before inserting: the step name is cloned once per step, not once per request.
        if !self.steps.contains_key(&step.name) {
            self.steps.insert(step.name.clone(), new_histogram());
        }
        if let Some(h) = self.steps.get_mut(&step.name) {
            let _ = h.record(us);
        }
        let transport = transport_of(&step.kind);
        let _ = self
            .transports
            .entry(transport)
            .or_insert_with(new_histogram)
            .record(us);
        let _ = self.overall.record(us);
        if let Some(interval) = &mut self.interval {
            for tag in [
                super::report::ALL,
                transport_tag(transport),
                step.name.as_str(),
            ] {
                if !interval.contains_key(tag) {
                    interval.insert(tag.to_string(), new_histogram());
                }
                if let Some(h) = interval.get_mut(tag) {
                    let _ = h.record(us);
                }
            }
        }
        let sec = at.as_secs() as usize;
        if self.seconds.len() <= sec {
            self.seconds.resize_with(sec + 1, Second::default);
        }
        while self.compacted_upto + SERIES_SLACK < sec {
            let old = &mut self.seconds[self.compacted_upto];
            old.compacted = Some(old.p50_p99_us());
            old.latency = None;
            self.compacted_upto += 1;
        }
        let second = &mut self.seconds[sec];
        second.requests += 1;
        // A straggler for a compacted second still counts, and its latency is in the run's
        // histograms; only that second's p50/p99 no longer moves.
        if second.compacted.is_none() {
            second
                .latency
                .get_or_insert_with(new_series_histogram)
                .saturating_record(us);
        }
        let Some(kind) = error_kind(step) else {
            return false;
        };
        *self.errors.entry(kind).or_default() += 1;
        *self.step_errors.entry(step.name.clone()).or_default() += 1;
        *self.transport_errors.entry(transport).or_default() += 1;
        second.errors += 1;
        true
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emr_core::report::ResponseSummary;

    fn step(status: Status, http: Option<u16>, ack: Option<&str>) -> StepResult {
        StepResult {
            name: "s".into(),
            kind: "fhir".into(),
            line: 1,
            status,
            duration_ms: 1.0,
            request: None,
            response: Some(ResponseSummary {
                status: http,
                ack: ack.map(str::to_string),
                content_type: None,
                bytes: 0,
            }),
            checks: vec![],
            error: None,
            notes: vec![],
        }
    }

    #[test]
    fn classifies_errors_and_records_latency() {
        assert_eq!(
            error_kind(&step(Status::Failed, Some(503), None)).as_deref(),
            Some("http_5xx")
        );
        assert_eq!(
            error_kind(&step(Status::Failed, None, Some("AE"))).as_deref(),
            Some("nak_ae")
        );
        assert_eq!(
            error_kind(&step(Status::Failed, Some(200), None)).as_deref(),
            Some("check_failed")
        );
        assert_eq!(error_kind(&step(Status::Passed, Some(404), None)), None);
        let mut m = Metrics::default();
        m.record(
            &step(Status::Passed, Some(200), None),
            Duration::from_millis(5),
            Duration::from_millis(300),
        );
        m.record(
            &step(Status::Failed, Some(500), None),
            Duration::from_millis(50),
            Duration::from_millis(1300),
        );
        assert_eq!(m.requests, 2);
        assert_eq!(m.error_count(), 1);
        assert_eq!(m.seconds.len(), 2);
        assert!(m.overall.value_at_quantile(1.0) >= 49_000);
    }

    #[test]
    fn latency_and_errors_are_kept_per_transport() {
        let mut m = Metrics::default();
        let mut hl7 = step(Status::Failed, None, Some("AE"));
        hl7.kind = "hl7".into();
        m.record(&hl7, Duration::from_millis(7), Duration::ZERO);
        m.record(
            &step(Status::Passed, Some(200), None),
            Duration::from_millis(2),
            Duration::ZERO,
        );
        assert_eq!(
            m.transports.keys().copied().collect::<Vec<_>>(),
            ["fhir", "hl7"]
        );
        assert_eq!(m.transports["hl7"].len(), 1);
        assert!(m.transports["hl7"].max() >= 6_900);
        assert!(m.transports["fhir"].max() < 2_100);
        assert_eq!(m.transport_errors.get("hl7"), Some(&1));
        assert_eq!(m.transport_errors.get("fhir"), None);
    }

    #[test]
    fn old_seconds_keep_their_quantiles_but_not_their_histograms() {
        let mut m = Metrics::default();
        let ok = step(Status::Passed, Some(200), None);
        for sec in 0..200u64 {
            for ms in [1, 2, 3, 100] {
                m.record(
                    &ok,
                    Duration::from_millis(ms * (sec % 3 + 1)),
                    Duration::from_secs(sec),
                );
            }
        }
        let kept = m.seconds.iter().filter(|s| s.latency.is_some()).count();
        assert!(kept <= SERIES_SLACK + 1, "{kept} histograms kept");
        let (p50, p99) = m.seconds[4].p50_p99_us();
        assert!((3_920..=4_080).contains(&p50), "second 4: p50 {p50}");
        assert!((196_000..=204_000).contains(&p99), "second 4: p99 {p99}");
        assert_eq!(m.seconds[4].requests, 4);
        assert_eq!(m.requests, 800);
    }
}
