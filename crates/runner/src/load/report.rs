//! Load reports: the summary model (JSON, `emr-harness/load-report/v1`), SLO verdicts, the
//! terminal table, JUnit (one test case per SLO), and the HdrHistogram interval log that
//! `report merge` adds up across workers.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tabled::settings::Style;
use tabled::{Table, Tabled};

use super::metrics::{new_histogram, Metrics};
use super::profile::{parse_rate, Profile, Slo};

pub const SCHEMA: &str = "emr-harness/load-report/v1";
/// The tag of the all-steps histogram in interval logs.
pub const ALL: &str = "_all";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadReport {
    pub schema: String,
    pub profile: String,
    pub model: String,
    pub target: String,
    pub started_at: String,
    pub duration_s: f64,
    /// Interrupted (Ctrl-C) before the schedule ended.
    pub partial: bool,
    pub workers: usize,
    pub iterations: u64,
    /// Open model: iterations not started because `max_in_flight` were already running.
    pub dropped_iterations: u64,
    pub requests: u64,
    pub throughput_rps: f64,
    pub errors: u64,
    pub error_rate: f64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub overall: Latency,
    pub steps: Vec<StepLatency>,
    /// The same samples grouped by transport (`fhir`, `hl7`); absent in reports before it.
    #[serde(default)]
    pub transports: Vec<StepLatency>,
    pub slos: Vec<SloResult>,
    /// Per second: requests, errors, p50 and p99 (ms).
    pub series: Vec<SecondPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepLatency {
    pub step: String,
    pub errors: u64,
    #[serde(flatten)]
    pub latency: Latency,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SloResult {
    /// e.g. `p99 of read patient < 800ms`.
    pub name: String,
    pub passed: bool,
    pub actual: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecondPoint {
    pub second: usize,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn latency(h: &Histogram<u64>) -> Latency {
    Latency {
        count: h.len(),
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

pub struct ReportInput<'a> {
    pub profile: &'a Profile,
    pub target: String,
    pub started_at: String,
    pub elapsed: Duration,
    pub partial: bool,
    pub workers: usize,
}

pub fn build(input: ReportInput, m: &Metrics) -> LoadReport {
    let secs = input.elapsed.as_secs_f64().max(1e-9);
    let errors = m.error_count();
    let mut report = LoadReport {
        schema: SCHEMA.into(),
        profile: input.profile.name.clone(),
        model: format!("{:?}", input.profile.model).to_lowercase(),
        target: input.target,
        started_at: input.started_at,
        duration_s: (secs * 1000.0).round() / 1000.0,
        partial: input.partial,
        workers: input.workers,
        iterations: m.iterations,
        dropped_iterations: m.dropped_iterations,
        requests: m.requests,
        throughput_rps: m.requests as f64 / secs,
        errors,
        error_rate: if m.requests == 0 {
            0.0
        } else {
            errors as f64 / m.requests as f64
        },
        errors_by_kind: m.errors.clone(),
        overall: latency(&m.overall),
        steps: grouped(&m.steps, &m.step_errors),
        transports: grouped(&m.transports, &m.transport_errors),
        slos: Vec::new(),
        series: m
            .seconds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (p50, p99) = s.p50_p99_us();
                SecondPoint {
                    second: i,
                    requests: s.requests,
                    errors: s.errors,
                    p50_ms: ms(p50),
                    p99_ms: ms(p99),
                }
            })
            .collect(),
    };
    report.slos = input
        .profile
        .slo
        .iter()
        .map(|s| evaluate_slo(s, &report))
        .collect();
    report
}

/// One row per group (step or transport): its latency and error count.
fn grouped<K: Ord + std::fmt::Display>(
    hists: &BTreeMap<K, Histogram<u64>>,
    errors: &BTreeMap<K, u64>,
) -> Vec<StepLatency> {
    hists
        .iter()
        .map(|(name, h)| StepLatency {
            step: name.to_string(),
            errors: errors.get(name).copied().unwrap_or(0),
            latency: latency(h),
        })
        .collect()
}

pub fn evaluate_slo(slo: &Slo, r: &LoadReport) -> SloResult {
    // Scope: one step, one transport, or every step together.
    let (scope, scoped) = match (&slo.step, &slo.transport) {
        (Some(n), _) => (n.clone(), Some(r.steps.iter().find(|s| &s.step == n))),
        (None, Some(t)) => (
            format!("all {t} steps"),
            Some(r.transports.iter().find(|s| &s.step == t)),
        ),
        (None, None) => ("all steps".to_string(), None),
    };
    let lat = match scoped {
        None => Some(&r.overall),
        Some(found) => found.map(|s| &s.latency),
    };
    let below = slo.below.clone().unwrap_or_default();
    let m = slo.metric.as_str();
    let (passed, actual) = match m {
        "error_rate" => {
            let limit = parse_rate(&below).unwrap_or(0.0);
            let (errors, count) = match scoped {
                None => (r.errors, r.requests),
                Some(found) => found.map_or((0, 0), |s| (s.errors, s.latency.count)),
            };
            let rate = if count == 0 {
                0.0
            } else {
                errors as f64 / count as f64
            };
            (
                rate < limit || (limit == 0.0 && errors == 0),
                format!("{:.3}% ({errors} of {count})", rate * 100.0),
            )
        }
        "throughput" => {
            let want = slo.above.unwrap_or(0.0);
            (
                r.throughput_rps >= want,
                format!("{:.1} req/s", r.throughput_rps),
            )
        }
        _ => match lat {
            None => (false, format!("no requests for `{scope}`")),
            Some(l) => {
                let v = match m {
                    "p50" => l.p50_ms,
                    "p90" => l.p90_ms,
                    "p95" => l.p95_ms,
                    "p99" => l.p99_ms,
                    "p99.9" => l.p999_ms,
                    "max" => l.max_ms,
                    _ => l.mean_ms,
                };
                let limit = humantime::parse_duration(&below)
                    .map(|d| d.as_secs_f64() * 1000.0)
                    .unwrap_or(0.0);
                (v < limit, format!("{v:.2}ms"))
            }
        },
    };
    let name = match m {
        "throughput" => format!("throughput >= {} req/s", slo.above.unwrap_or(0.0)),
        _ => format!("{m} of {scope} < {below}"),
    };
    SloResult {
        name,
        passed,
        actual,
    }
}

#[derive(Tabled)]
struct Row {
    step: String,
    count: u64,
    errors: u64,
    #[tabled(rename = "p50 ms")]
    p50: String,
    #[tabled(rename = "p95 ms")]
    p95: String,
    #[tabled(rename = "p99 ms")]
    p99: String,
    #[tabled(rename = "p99.9 ms")]
    p999: String,
    #[tabled(rename = "max ms")]
    max: String,
}

fn row(step: &str, errors: u64, l: &Latency) -> Row {
    Row {
        step: step.into(),
        count: l.count,
        errors,
        p50: format!("{:.2}", l.p50_ms),
        p95: format!("{:.2}", l.p95_ms),
        p99: format!("{:.2}", l.p99_ms),
        p999: format!("{:.2}", l.p999_ms),
        max: format!("{:.2}", l.max_ms),
    }
}

pub fn render_table(r: &LoadReport) -> String {
    let mut rows: Vec<Row> = r
        .steps
        .iter()
        .map(|s| row(&s.step, s.errors, &s.latency))
        .collect();
    // Per-transport rows only tell something when the mix has more than one.
    if r.transports.len() > 1 {
        for t in &r.transports {
            rows.push(row(&format!("(all {})", t.step), t.errors, &t.latency));
        }
    }
    rows.push(row("(all steps)", r.errors, &r.overall));
    let mut t = Table::new(rows);
    t.with(Style::rounded());
    let mut out = format!(
        "load profile `{}` ({} model) against {}: {:.1}s{}\n{}\n",
        r.profile,
        r.model,
        r.target,
        r.duration_s,
        if r.partial {
            " (PARTIAL: interrupted)"
        } else {
            ""
        },
        t
    );
    out.push_str(&format!(
        "{} iterations ({} dropped), {} requests, {:.1} req/s, {} errors ({:.3}%)\n",
        r.iterations,
        r.dropped_iterations,
        r.requests,
        r.throughput_rps,
        r.errors,
        r.error_rate * 100.0
    ));
    if !r.errors_by_kind.is_empty() {
        let kinds: Vec<String> = r
            .errors_by_kind
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        out.push_str(&format!("errors by kind: {}\n", kinds.join(", ")));
    }
    for s in &r.slos {
        out.push_str(&format!(
            "SLO {} {} (actual {})\n",
            if s.passed { "ok  " } else { "FAIL" },
            s.name,
            s.actual
        ));
    }
    out
}

pub fn to_junit(r: &LoadReport) -> std::io::Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut junit = Report::new("emr-harness load");
    let mut suite = TestSuite::new(format!("load: {}", r.profile));
    suite.set_time(Duration::from_secs_f64(r.duration_s));
    for s in &r.slos {
        let status = if s.passed {
            TestCaseStatus::success()
        } else {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!("SLO breached: {} (actual {})", s.name, s.actual));
            st.set_type("slo");
            st
        };
        let mut case = TestCase::new(s.name.clone(), status);
        case.set_classname(format!("load.{}", r.profile));
        suite.add_test_case(case);
    }
    junit.add_test_suite(suite);
    junit.to_string().map_err(std::io::Error::other)
}

/// The interval log written while the run goes: a header at the start, then every second one
/// line per tag with the histogram of that second's samples, each line written whole and at
/// once. A run killed with SIGKILL (an OOM kill, a Kubernetes deadline) therefore leaves a log
/// that `report merge` reads, up to its last second; adding the intervals by tag gives exactly
/// the whole run's histograms, as the single end-of-run log did.
pub struct LiveLog {
    out: std::io::LineWriter<std::fs::File>,
    ser: V2Serializer,
    line: String,
    buf: Vec<u8>,
}

impl LiveLog {
    pub fn create(path: &std::path::Path, start: std::time::SystemTime) -> Result<Self, String> {
        let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Big enough for any histogram line, so each line leaves in one write.
        let mut out = std::io::LineWriter::with_capacity(1 << 20, file);
        let mut ser = V2Serializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(
                "emr-harness load run; tag _all is every step together, _fhir and _hl7 each transport; values in microseconds; one interval per second",
            )
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut out, &mut ser)
            .map_err(|e| e.to_string())?;
        std::io::Write::flush(&mut out).map_err(|e| e.to_string())?;
        Ok(LiveLog {
            out,
            ser,
            line: String::new(),
            buf: Vec::new(),
        })
    }

    /// Appends the histograms of the interval `[from, from + length)` (times from the start).
    pub fn append(
        &mut self,
        histograms: &BTreeMap<String, Histogram<u64>>,
        from: Duration,
        length: Duration,
    ) -> Result<(), String> {
        use base64::Engine as _;
        use std::fmt::Write as _;
        use std::io::Write as _;
        for (tag, h) in histograms.iter().filter(|(_, h)| !h.is_empty()) {
            self.buf.clear();
            self.ser
                .serialize(h, &mut self.buf)
                .map_err(|e| format!("{e:?}"))?;
            // The format of HdrHistogram's interval log (as its Java and Rust writers produce).
            self.line.clear();
            let _ = write!(
                self.line,
                "Tag={},{:.3},{:.3},{:.3},",
                sanitize(tag),
                from.as_secs_f64(),
                length.as_secs_f64(),
                h.max() as f64 / 1000.0
            );
            base64::engine::general_purpose::STANDARD.encode_string(&self.buf, &mut self.line);
            self.line.push('\n');
            self.out
                .write_all(self.line.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        self.out.flush().map_err(|e| e.to_string())
    }
}

/// Tags cannot hold commas, spaces or `=` in the log format.
fn sanitize(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c == ',' || c.is_whitespace() || c == '=' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Adds every histogram of every log, by tag: the exact merge (never averaged percentiles).
pub fn merge_logs(texts: &[String]) -> Result<BTreeMap<String, Histogram<u64>>, String> {
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut de = Deserializer::new();
    for (i, text) in texts.iter().enumerate() {
        // A log cut off by a kill mid-write ends in a partial line: everything before it counts.
        let text = match text.rfind('\n') {
            Some(end) if end + 1 < text.len() => &text[..=end],
            _ => text.as_str(),
        };
        for entry in IntervalLogIterator::new(text.as_bytes()) {
            let entry = entry.map_err(|e| format!("log {}: {e:?}", i + 1))?;
            if let LogEntry::Interval(h) = entry {
                let tag = h
                    .tag()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| ALL.into());
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .map_err(|e| format!("log {}: {e}", i + 1))?;
                let hist: Histogram<u64> = de
                    .deserialize(&mut std::io::Cursor::new(bytes))
                    .map_err(|e| format!("log {}: {e:?}", i + 1))?;
                merged
                    .entry(tag)
                    .or_insert_with(new_histogram)
                    .add(&hist)
                    .map_err(|e| format!("{e:?}"))?;
            }
        }
    }
    Ok(merged)
}

/// A load report as files: `load-report.json`, `load-junit.xml`, `load-report.html`, with the
/// worker's suffix (`-worker2`) when the load is split across processes.
pub struct LoadFiles<'a> {
    pub report: &'a LoadReport,
    pub suffix: &'a str,
}

impl crate::report::ReportFiles for LoadFiles<'_> {
    fn file(&self, format: crate::report::Format) -> Result<Option<(String, String)>, String> {
        use crate::report::Format;
        let s = self.suffix;
        Ok(match format {
            Format::Table => None,
            Format::Json => Some((
                format!("load-report{s}.json"),
                serde_json::to_string_pretty(self.report).map_err(|e| e.to_string())?,
            )),
            Format::Junit => Some((
                format!("load-junit{s}.xml"),
                to_junit(self.report).map_err(|e| e.to_string())?,
            )),
            Format::Html => Some((
                format!("load-report{s}.html"),
                super::html::render(self.report)?,
            )),
        })
    }
}
