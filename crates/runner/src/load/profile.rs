//! Load profiles (`profiles/*.yaml`): which scenarios, in what mix, at what rate, for how long,
//! and the SLOs that decide the exit code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use emr_core::scenario::error::{locate, Located, ScenarioError};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// FHIR base URL; `--target` overrides; absent: the embedded sandbox.
    #[serde(default)]
    pub target: Option<String>,
    /// MLLP `host:port` for hl7 steps; `--mllp` overrides.
    #[serde(default)]
    pub mllp: Option<String>,
    pub scenarios: Vec<Mix>,
    #[serde(default)]
    pub model: Model,
    /// Open model: scenario iterations per second (summed over all workers).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Closed model: concurrent virtual users.
    #[serde(default)]
    pub users: Option<usize>,
    /// Closed model: pause between a user's iterations.
    #[serde(default, with = "opt_duration")]
    pub think_time: Option<Duration>,
    /// Stages replace `rate`/`users` with a schedule: ramp up, hold, ramp down.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Total length when there are no stages.
    #[serde(default, with = "opt_duration")]
    pub duration: Option<Duration>,
    /// Hard cap on scenario iterations (every run is bounded by time and by count).
    #[serde(default)]
    pub max_iterations: Option<u64>,
    /// Open model: iterations allowed in flight at once; beyond it an iteration is dropped and
    /// counted (k6's maxVUs), never queued, so a slow target cannot bend the schedule.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Run the scenarios' checks during load (failures count as errors).
    #[serde(default = "yes")]
    pub checks: bool,
    /// Allow a target that is not on this machine (also `--allow-remote`).
    #[serde(default)]
    pub allow_remote: bool,
    #[serde(default)]
    pub slo: Vec<Slo>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// Fixed arrival rate (k6 constant-arrival-rate, wrk2 -R): latency from the intended start.
    #[default]
    Open,
    /// N virtual users looping with think time.
    Closed,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// Scenario file, relative to the profile.
    pub path: PathBuf,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[serde(with = "duration")]
    pub duration: Duration,
    /// Open model: the rate reached at the end of the stage (linear ramp from the previous).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Closed model: users during the stage.
    #[serde(default)]
    pub users: Option<usize>,
}

/// One service-level objective: a latency percentile, the error rate, or throughput.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Step name; absent means every step together.
    #[serde(default)]
    pub step: Option<String>,
    /// `fhir` or `hl7`: every step of that transport together (instead of `step`).
    #[serde(default)]
    pub transport: Option<String>,
    /// `p50`, `p90`, `p95`, `p99`, `p99.9`, `max`, `mean`, `error_rate`, `throughput`.
    pub metric: String,
    /// Latency (`800ms`) or error rate (`0.1%`): the value must stay below this.
    #[serde(default)]
    pub below: Option<String>,
    /// Throughput in requests per second: the value must reach this.
    #[serde(default)]
    pub above: Option<f64>,
}

pub const LATENCY_METRICS: &[&str] = &["p50", "p90", "p95", "p99", "p99.9", "max", "mean"];

/// Closed-model users per process. Each is a goose user with its own task and state; beyond
/// this a run is better split across processes (`--worker-count`), and a typo such as `1e12`
/// grew memory by 430 MB/s before it was caught.
pub const MAX_USERS: usize = 10_000;

/// Open-model iterations per second per process: far beyond what one process can send (the
/// lean transport tops out near 100k requests/s on this hardware).
pub const MAX_RATE: f64 = 1e6;

impl Profile {
    /// The schedule as stages, whatever form the profile used.
    pub fn effective_stages(&self) -> Vec<Stage> {
        if !self.stages.is_empty() {
            return self.stages.clone();
        }
        vec![Stage {
            duration: self.duration.unwrap_or(Duration::from_secs(10)),
            rate: self.rate,
            users: self.users,
        }]
    }

    pub fn total_duration(&self) -> Duration {
        self.effective_stages().iter().map(|s| s.duration).sum()
    }
}

/// Reads and validates a profile; errors name the file, line and field.
pub fn load(path: &Path) -> Result<Profile, ScenarioError> {
    let source = emr_core::limits::read_text_file(
        path,
        emr_core::limits::DEFAULT_MAX_SCENARIO_SIZE,
        "--max-scenario-size",
    )
    .map_err(|e| Located::new(path, e).into_error())?;
    let profile: Profile = serde_norway::from_str(&source).map_err(|e| {
        let (mut line, mut col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        // serde reports a bad value of a top-level field at the document's start: point at the
        // value itself instead, which our duration errors quote.
        if let Some(value) = msg
            .split_once("duration `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(v, _)| v)
        {
            if let Some((n, l)) = source
                .lines()
                .enumerate()
                .find(|(_, l)| l.split_once(':').is_some_and(|(_, v)| v.trim() == value))
            {
                line = n + 1;
                col = l.len() - l.trim_start().len() + 1;
            }
        }
        Located::new(path, msg).at(&source, line, col).into_error()
    })?;
    let bad = |field: &str, message: String| {
        let (line, col) = locate(&source, None, field);
        Located::new(path, message)
            .at(&source, line, col)
            .field(field)
            .into_error()
    };
    if profile.scenarios.is_empty() {
        return Err(bad(
            "scenarios",
            "a profile needs at least one scenario".into(),
        ));
    }
    if profile.scenarios.iter().all(|m| m.weight == 0) {
        return Err(bad("scenarios", "every weight is 0".into()));
    }
    let stages = profile.effective_stages();
    for st in &stages {
        match profile.model {
            Model::Open if st.rate.is_none_or(|r| !(0.0..=MAX_RATE).contains(&r)) => return Err(bad(
                "rate",
                format!("the open model needs `rate` (iterations per second, 0 to {MAX_RATE}) or stages with `rate`"),
            )),
            Model::Closed if st.users.is_none() => {
                return Err(bad(
                    "users",
                    "the closed model needs `users` or stages with `users`".into(),
                ))
            }
            Model::Closed if st.users.is_some_and(|u| !(1..=MAX_USERS).contains(&u)) => {
                return Err(bad(
                    "users",
                    format!(
                        "`users` must be from 1 to {MAX_USERS} per process (more: split the \
                         load with --worker-count)"
                    ),
                ))
            }
            Model::Closed if st.duration.subsec_nanos() != 0 => {
                return Err(bad(
                    "duration",
                    "the closed model (goose) schedules in whole seconds: use e.g. `30s`, `2m`"
                        .into(),
                ))
            }
            _ => {}
        }
    }
    if profile.total_duration() > Duration::from_secs(24 * 3600) {
        return Err(bad("duration", "a run is limited to 24 hours".into()));
    }
    if profile.total_duration().is_zero() {
        return Err(bad("duration", "the run would last no time at all".into()));
    }
    // A schedule that never sends anything "passes" every SLO: refuse it.
    if profile.model == Model::Open && stages.iter().all(|s| s.rate.unwrap_or(0.0) <= 0.0) {
        return Err(bad(
            "rate",
            "the rate is 0 throughout: the run would send nothing".into(),
        ));
    }
    if profile.max_in_flight == Some(0) {
        return Err(bad(
            "max_in_flight",
            "`max_in_flight: 0` would drop every iteration; give at least 1".into(),
        ));
    }
    if profile.max_iterations == Some(0) {
        return Err(bad(
            "max_iterations",
            "`max_iterations: 0` would send nothing; give at least 1".into(),
        ));
    }
    for slo in &profile.slo {
        match (&slo.step, slo.transport.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "slo",
                    "an SLO names a `step` or a `transport`, not both".into(),
                ))
            }
            (None, Some(t)) if !matches!(t, "fhir" | "hl7") => {
                return Err(bad(
                    "transport",
                    format!("SLO transport `{t}` is not `fhir` or `hl7`"),
                ))
            }
            _ => {}
        }
        let m = slo.metric.as_str();
        let ok = if LATENCY_METRICS.contains(&m) {
            slo.below
                .as_deref()
                .is_some_and(|b| humantime::parse_duration(b).is_ok())
        } else if m == "error_rate" {
            slo.below
                .as_deref()
                .is_some_and(|b| parse_rate(b).is_some())
        } else if m == "throughput" {
            slo.above.is_some()
        } else {
            false
        };
        if !ok {
            return Err(bad(
                "slo",
                format!("SLO `{m}` needs: a latency metric ({}) with `below: 800ms`, `error_rate` with `below: 0.1%`, or `throughput` with `above: 100`", LATENCY_METRICS.join(", ")),
            ));
        }
    }
    Ok(profile)
}

/// `0.1%` → 0.001; `0.001` → 0.001.
pub fn parse_rate(s: &str) -> Option<f64> {
    let s = s.trim();
    match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok().map(|v| v / 100.0),
        None => s.parse().ok(),
    }
}

/// A duration as written in a profile (`30s`, `2m`, `1h30m`), with an error that quotes it.
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|_| format!("duration `{s}` is not a positive duration such as 30s, 2m or 1h30m"))
}

mod duration {
    use super::*;
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
    pub(super) fn serialize<S: serde::Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*v).to_string())
    }
}

mod opt_duration {
    use super::*;
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
    pub(super) fn serialize<S: serde::Serializer>(
        v: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&humantime::format_duration(*v).to_string()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(src: &str) -> Result<Profile, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.yaml");
        std::fs::write(&p, src).unwrap();
        load(&p).map_err(|e| e.to_string())
    }

    #[test]
    fn loads_and_validates() {
        let p = load_str("name: x\nscenarios: [{path: a.yaml, weight: 2}]\nrate: 5\nduration: 2s\nslo: [{metric: p99, below: 800ms}, {metric: error_rate, below: 1%}]\n").unwrap();
        assert_eq!(p.model, Model::Open);
        assert_eq!(p.total_duration(), Duration::from_secs(2));
        assert!(
            load_str("name: x\nscenarios: [{path: a.yaml}]\nduration: 2s\n")
                .unwrap_err()
                .contains("needs `rate`")
        );
        let e = load_str(
            "name: x\nscenarios: [{path: a.yaml}]\nrate: 1\nslo:\n  - {metric: p42, below: 1s}\n",
        )
        .unwrap_err();
        assert!(e.contains("p.yaml:4"), "{e}");
        assert!(
            load_str("name: x\nscenarios: [{path: a.yaml}]\nrate: 1\nbogus: 1\n")
                .unwrap_err()
                .contains("unknown field `bogus`")
        );
        assert_eq!(parse_rate("0.5%"), Some(0.005));
        let e = load_str("name: x\nscenarios: [{path: a.yaml}]\nrate: 1\nslo:\n  - {transport: smtp, metric: p99, below: 1s}\n").unwrap_err();
        assert!(e.contains("not `fhir` or `hl7`"), "{e}");
        assert!(load_str(
            "name: x\nscenarios: [{path: a.yaml}]\nmodel: closed\nusers: 2\nduration: 1500ms\n"
        )
        .unwrap_err()
        .contains("whole seconds"));
    }

    #[test]
    fn plans_that_cannot_run_are_refused_at_their_line() {
        let e =
            load_str("name: x\nscenarios: [{path: a.yaml}]\nrate: 1\nduration: -5s\n").unwrap_err();
        assert!(e.contains("p.yaml:4:1") && e.contains("`-5s`"), "{e}");
        for (src, line, what) in [
            ("model: closed\nusers: 0\nduration: 5s\n", 4, "from 1 to"),
            (
                "model: closed\nusers: 1000000000000\nduration: 5s\n",
                4,
                "from 1 to",
            ),
            ("rate: 0\nduration: 5s\n", 3, "send nothing"),
            ("rate: 5\nmax_in_flight: 0\nduration: 5s\n", 4, "at least 1"),
            ("rate: 5\nduration: 0s\n", 4, "no time"),
        ] {
            let e =
                load_str(&format!("name: x\nscenarios: [{{path: a.yaml}}]\n{src}")).unwrap_err();
            assert!(
                e.contains(&format!("p.yaml:{line}:")) && e.contains(what),
                "{src}: {e}"
            );
        }
    }
}
