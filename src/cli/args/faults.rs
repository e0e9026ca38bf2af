//! Fault injection for the sandbox (also the in-process sandbox of `run`, `load`, `certify`).

use std::time::Duration;

use clap::Args;
use emr_sandbox::Faults;

/// Fault injection for the sandbox (also for the in-process sandbox of `run`).
#[derive(Args, Clone)]
pub(crate) struct FaultArgs {
    /// Add this latency to every response (e.g. 50ms).
    #[arg(long = "fault-latency", value_parser = humantime::parse_duration)]
    latency: Option<Duration>,
    /// Fraction (0..1) of requests answered 500 with an OperationOutcome.
    #[arg(long = "fault-error-rate", default_value_t = 0.0)]
    error_rate: f64,
    /// Fraction (0..1) of connections dropped mid-response.
    #[arg(long = "fault-drop-rate", default_value_t = 0.0)]
    drop_rate: f64,
    /// Fraction (0..1) of responses with a truncated (invalid) JSON body.
    #[arg(long = "fault-malformed-rate", default_value_t = 0.0)]
    malformed_rate: f64,
    /// Fraction (0..1) of responses sent as text/html.
    #[arg(long = "fault-wrong-content-type-rate", default_value_t = 0.0)]
    wrong_content_type_rate: f64,
    /// Fraction (0..1) of HL7 messages answered AE instead of processed (MLLP listener).
    #[arg(long = "fault-nak-rate", default_value_t = 0.0)]
    nak_rate: f64,
    /// A periodic stall, PAUSE/EVERY (e.g. 1s/10s): no answers for PAUSE once every EVERY.
    #[arg(long = "fault-stall", value_parser = parse_stall)]
    stall: Option<(Duration, Duration)>,
    /// Break one conformance rule on every answer (repeatable), to see a certify check catch it.
    #[arg(long = "fault-break", value_enum)]
    broken: Vec<emr_sandbox::fault::Rule>,
}

fn parse_stall(s: &str) -> Result<(Duration, Duration), String> {
    let (a, b) = s
        .split_once('/')
        .ok_or("expected PAUSE/EVERY, e.g. 1s/10s")?;
    let pause = humantime::parse_duration(a).map_err(|e| e.to_string())?;
    let every = humantime::parse_duration(b).map_err(|e| e.to_string())?;
    if pause >= every {
        return Err("the pause must be shorter than the period".into());
    }
    Ok((pause, every))
}

impl FaultArgs {
    pub(crate) fn faults(&self) -> Faults {
        Faults {
            latency: self.latency.unwrap_or_default(),
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            malformed_rate: self.malformed_rate,
            wrong_content_type_rate: self.wrong_content_type_rate,
            nak_rate: self.nak_rate,
            stall_for: self.stall.map(|s| s.0).unwrap_or_default(),
            stall_every: self.stall.map(|s| s.1).unwrap_or_default(),
            broken: self.broken.clone(),
        }
    }
}
