//! The step executor: scenario → rendered request → transport → checks → outcome.
//!
//! Data flows one way. Nothing here returns early on a failed check or a broken connection: each
//! becomes part of the result tree, and the next step runs. A step whose input depends on a capture
//! that failed is skipped with the reason, rather than sent with a hole in it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use tokio::sync::watch;

use crate::golden::store::{SnapshotKey, SnapshotStore};
use emr_core::check::redact::Redactor;
use emr_core::check::snapshot::render_response;
use emr_core::check::{self, capture, render_json, Body as ParsedBody};
use emr_core::hl7::Message;
use emr_core::report::CheckResult;
use emr_core::report::{
    ErrorKind, RequestSummary, ResponseSummary, RunReport, ScenarioResult, Status, StepError,
    StepResult, SCHEMA,
};
use emr_core::scenario::model::SnapshotName;
use emr_core::scenario::template::{Generators, RenderContext, Templates};
use emr_core::scenario::{Body, FhirRequest, Hl7Request, Request, Scenario, Step};
use emr_transport::fhir::{FhirClient, HttpRequest, TransportError, FHIR_JSON};
use emr_transport::mllp::{MllpError, MllpPool};
use emr_validate::{FhirValidator, V2Validator};

pub struct RunOptions {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Seed of generated data; each scenario derives its own from this and its name.
    pub seed: u64,
    /// Golden files; `None` skips snapshot checks (load runs).
    pub snapshots: Option<SnapshotStore>,
    /// Evaluate `expect` (a load profile may turn checks off to measure raw rate).
    pub checks: bool,
    /// Segment count, template fuel, ... (response bodies are bounded by the client).
    pub limits: emr_core::limits::Limits,
}

type Captures = Vec<(String, Result<String, String>)>;

pub struct Runner {
    client: FhirClient,
    /// One MLLP connection for the whole run, reused across steps and scenarios.
    mllp: Option<MllpPool>,
    templates: Templates,
    /// HL7 v2 messages judged against the standard (and profiles), parsed profiles kept.
    messages: V2Validator,
    opts: RunOptions,
    interrupt: watch::Receiver<bool>,
}

impl Runner {
    /// `interrupt` turns true on Ctrl-C: in-flight requests are abandoned, the rest skipped.
    /// The FHIR base URL steps are sent to.
    pub fn base_url(&self) -> &url::Url {
        self.client.base()
    }

    pub fn new(
        client: FhirClient,
        mllp: Option<MllpPool>,
        opts: RunOptions,
        interrupt: watch::Receiver<bool>,
    ) -> Self {
        Runner {
            client,
            mllp,
            templates: Templates::with_fuel(opts.limits.template_fuel),
            messages: V2Validator::default(),
            opts,
            interrupt,
        }
    }

    fn interrupted(&self) -> bool {
        *self.interrupt.borrow()
    }

    pub async fn run_all(&self, scenarios: &[Scenario]) -> RunReport {
        let started_at = chrono::Utc::now();
        let started = Instant::now();
        let mut results = Vec::new();
        for s in scenarios {
            let r = self.run_scenario(s).await;
            tracing::info!(scenario = %s.name, status = r.status.as_str(), "scenario finished");
            results.push(r);
        }
        RunReport {
            schema: SCHEMA.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms: ms(started.elapsed()),
            target: self.client.base().to_string(),
            seed: self.opts.seed,
            partial: self.interrupted(),
            tls_insecure: false,
            mllp: self.mllp.as_ref().map(|p| {
                let (messages, connections, reconnects) = p.stats();
                emr_core::report::MllpSummary {
                    messages,
                    connections,
                    reconnects,
                }
            }),
            summary: RunReport::summarize(&results),
            scenarios: results,
        }
    }

    pub async fn run_scenario(&self, s: &Scenario) -> ScenarioResult {
        self.run_iteration(s, 0).await
    }

    /// One run of `s` whose generated data comes from stream `iteration` (load runs give every
    /// iteration, and every worker, its own stream, so no two iterations collide on an MRN).
    pub async fn run_iteration(&self, s: &Scenario, iteration: u64) -> ScenarioResult {
        let started = Instant::now();
        let seed = self.opts.seed ^ iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let generators = Arc::new(Generators::new(scenario_seed(seed, &s.name)));
        let mut state = ScenarioState {
            vars: Arc::new(IndexMap::new()),
            derived: Vec::new(),
            captured: Vec::new(),
            failed_captures: HashMap::new(),
            generators,
        };
        let mut result = ScenarioResult {
            name: s.name.clone(),
            file: s.path.display().to_string(),
            status: Status::Passed,
            duration_ms: 0.0,
            error: None,
            steps: Vec::new(),
        };
        for (name, template) in &s.vars {
            match self.templates.render(template, &state.context()) {
                Ok(v) => {
                    if template.contains("{{") {
                        state.derived.push((name.clone(), v.clone()));
                    }
                    Arc::make_mut(&mut state.vars).insert(name.clone(), v);
                }
                Err(e) => {
                    result.error = Some(StepError {
                        kind: ErrorKind::Scenario,
                        message: format!("var `{name}`: {e}"),
                        field: Some(format!("vars.{name}")),
                    });
                    result.status = Status::Error;
                    result.duration_ms = ms(started.elapsed());
                    return result;
                }
            }
        }
        for step in &s.steps {
            let r = self.run_step(s, step, &mut state).await;
            tracing::debug!(step = %step.name, status = r.status.as_str(), "step finished");
            result.status = result.status.max(r.status);
            result.steps.push(r);
        }
        // A scenario of only skipped steps did not pass.
        if result.steps.iter().all(|st| st.status == Status::Skipped) && !result.steps.is_empty() {
            result.status = Status::Skipped;
        }
        result.duration_ms = ms(started.elapsed());
        result
    }

    async fn run_step(&self, s: &Scenario, step: &Step, state: &mut ScenarioState) -> StepResult {
        let mut out = StepResult {
            name: step.name.clone(),
            kind: step.request.kind().to_string(),
            line: step.line,
            status: Status::Passed,
            duration_ms: 0.0,
            request: None,
            response: None,
            checks: Vec::new(),
            error: None,
            notes: Vec::new(),
        };
        if self.interrupted() {
            out.status = Status::Skipped;
            out.error = Some(error(
                ErrorKind::Interrupted,
                "the run was interrupted before this step",
                None,
            ));
            return out;
        }
        if let Some((var, from)) = self.blocked_by(&step.request, state) {
            out.status = Status::Skipped;
            out.error = Some(error(
                ErrorKind::Scenario,
                format!("needs `{var}`, which step `{from}` did not capture"),
                None,
            ));
            return out;
        }
        let captured = match &step.request {
            Request::Fhir(req) => self.fhir_step(s, step, req, state, &mut out).await,
            Request::Hl7(req) => self.hl7_step(s, step, req, state, &mut out).await,
        };
        let redactor = state.redactor(self.client.base().as_str(), s);
        if out.checks.iter().any(|c| !c.passed) && out.status == Status::Passed {
            out.status = Status::Failed;
        }
        for c in &mut out.checks {
            c.actual = redactor.hide_secrets(&c.actual);
            c.expected = redactor.hide_secrets(&c.expected);
        }
        match captured {
            // The exchange broke: nothing to capture from, and later steps needing it are skipped.
            None => self.mark_captures_failed(step, state),
            Some(results) => {
                for (name, value) in results {
                    match value {
                        Ok(v) => {
                            state.captured.push((name.clone(), v.clone()));
                            Arc::make_mut(&mut state.vars).insert(name, v);
                        }
                        Err(e) => {
                            state
                                .failed_captures
                                .insert(name.clone(), step.name.clone());
                            if out.error.is_none() {
                                out.status = Status::Error;
                                out.error = Some(error(
                                    ErrorKind::Scenario,
                                    format!("capture `{name}`: {e}"),
                                    Some(format!("capture.{name}")),
                                ));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Sends `fut` unless the run is interrupted first; times it into `out`.
    async fn timed<T>(
        &self,
        out: &mut StepResult,
        fut: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let started = Instant::now();
        let mut interrupt = self.interrupt.clone();
        let r = tokio::select! {
            r = fut => Some(r),
            _ = interrupt.wait_for(|stop| *stop) => None,
        };
        out.duration_ms = ms(started.elapsed());
        if r.is_none() {
            out.status = Status::Skipped;
            out.error = Some(error(
                ErrorKind::Interrupted,
                "interrupted while waiting for the response",
                None,
            ));
        }
        r
    }

    /// A FHIR REST step. Returns the captures, or `None` when there was no response to capture from.
    async fn fhir_step(
        &self,
        s: &Scenario,
        step: &Step,
        req: &FhirRequest,
        state: &ScenarioState,
        out: &mut StepResult,
    ) -> Option<Captures> {
        let ctx = state.context();
        let render = |t: &str| self.templates.render(t, &ctx).map_err(|e| e.0);
        let http = match self.prepare(req, &render) {
            Ok(h) => h,
            Err((field, e)) => {
                out.status = Status::Error;
                out.error = Some(error(ErrorKind::Scenario, e, Some(field)));
                return None;
            }
        };
        // Built after rendering (so values generated for this very request are redacted too),
        // and only when something needs it: under load, building one per request (clones of
        // every generated value, the base URL, the rules) was a visible share of the client's CPU.
        let redactor = || state.redactor(self.client.base().as_str(), s);
        let url = if state.generators.has_secrets() {
            redactor().hide_secrets(&http.url)
        } else {
            http.url.clone()
        };
        out.request = Some(RequestSummary {
            method: http.method.clone(),
            url,
        });
        if self.client.has_credentials() && !self.client.credentials_go_to(&http.url) {
            out.notes.push(if http.credentials_anywhere {
                "credentials sent to another origin than the target (send_credentials: true)".into()
            } else {
                "credentials withheld: the URL is on another origin than the target \
                 (set `send_credentials: true` on the step to send them)"
                    .into()
            });
        }
        let resp = match self.timed(out, self.client.send(&http)).await? {
            Ok(r) => r,
            Err(e) => {
                out.status = Status::Error;
                out.error = Some(error(
                    transport_kind(&e),
                    redactor().hide_secrets(&e.to_string()),
                    None,
                ));
                return None;
            }
        };
        out.response = Some(ResponseSummary {
            status: Some(resp.status),
            ack: None,
            content_type: resp.header("content-type").map(str::to_string),
            bytes: resp.body.len(),
        });
        if !self.opts.checks && step.capture.is_empty() {
            return Some(Vec::new()); // raw-rate load: no JSON parse on the hot path
        }
        let body = ParsedBody::parse(&resp);
        if self.opts.checks {
            let cx = check::Cx {
                render: &render,
                validator: &FhirValidator::default(),
                messages: &self.messages,
                compiled: &step.compiled,
            };
            out.checks = check::evaluate(&step.expect, &resp, &body, &cx);
        }
        if let Some(name) = step
            .expect
            .snapshot
            .as_ref()
            .and_then(|n| snapshot_name(n, step))
        {
            let content = render_response(&resp, &s.snapshot_headers, &redactor());
            out.checks.extend(self.snapshot(s, step, &name, &content));
        }
        Some(
            step.captures
                .iter()
                .map(|(name, rule)| {
                    let value = capture::apply(rule, &resp, &body, &step.compiled);
                    (name.clone(), value)
                })
                .collect(),
        )
    }

    /// An HL7 v2 step over MLLP.
    async fn hl7_step(
        &self,
        s: &Scenario,
        step: &Step,
        req: &Hl7Request,
        state: &ScenarioState,
        out: &mut StepResult,
    ) -> Option<Captures> {
        let Some(mllp) = &self.mllp else {
            out.status = Status::Error;
            out.error = Some(error(
                ErrorKind::Scenario,
                "this step sends HL7 v2, but no MLLP target was given (--mllp host:port)",
                Some("hl7".into()),
            ));
            return None;
        };
        let ctx = state.context();
        let render = |t: &str| self.templates.render(t, &ctx).map_err(|e| e.0);
        let text = match render(&req.message) {
            Ok(t) => normalize_segments(&t),
            Err(e) => {
                out.status = Status::Error;
                out.error = Some(error(ErrorKind::Scenario, e, Some("hl7.message".into())));
                return None;
            }
        };
        let redactor = &state.redactor(self.client.base().as_str(), s);
        let max_segments = self.opts.limits.max_segments;
        let sent = Message::parse_limited(&text, max_segments);
        if let (Some(rules), true) = (&req.check_structure, self.opts.checks) {
            out.checks
                .push(check::hl7::sent_structure(&sent, rules, &self.messages));
        }
        out.request = Some(RequestSummary {
            method: "MLLP".into(),
            url: format!("mllp://{}", mllp.addr()),
        });
        let mut client = match mllp.checkout() {
            Ok(c) => c,
            Err(e) => {
                out.status = Status::Error;
                out.error = Some(error(mllp_kind(&e), e.to_string(), None));
                return None;
            }
        };
        let answer = match self.timed(out, client.send(text.as_bytes())).await? {
            Ok(a) => a,
            Err(e) => {
                out.status = Status::Error;
                out.error = Some(error(
                    mllp_kind(&e),
                    redactor.hide_secrets(&e.to_string()),
                    None,
                ));
                return None;
            }
        };
        mllp.record(&client);
        if client.last_reconnected {
            out.notes.push(
                "the peer had closed the connection after its last ACK: sent on a new connection"
                    .into(),
            );
        }
        mllp.checkin(client);
        let ack_text = String::from_utf8_lossy(&answer).into_owned();
        let (checks, ack) = check::hl7::evaluate(
            &step.expect,
            &sent,
            &ack_text,
            max_segments,
            &check::Cx {
                render: &render,
                validator: &FhirValidator::default(),
                messages: &self.messages,
                compiled: &step.compiled,
            },
        );
        let ack = match ack {
            Err(e) if e.limit => {
                out.status = Status::Error;
                out.error = Some(error(ErrorKind::Limit, format!("the ACK: {e}"), None));
                return None;
            }
            other => other.ok(),
        };
        if self.opts.checks {
            out.checks.extend(checks);
        }
        out.response = Some(ResponseSummary {
            status: None,
            ack: ack.as_ref().and_then(|a| a.value("MSA-1")),
            content_type: None,
            bytes: answer.len(),
        });
        if let (Some(name), Some(ack)) = (
            step.expect
                .snapshot
                .as_ref()
                .and_then(|n| snapshot_name(n, step)),
            &ack,
        ) {
            let extra: Vec<(String, String)> = s
                .redact
                .iter()
                .filter_map(|r| {
                    r.field.clone().map(|f| {
                        (
                            f,
                            r.replacement.clone().unwrap_or_else(|| "[redacted]".into()),
                        )
                    })
                })
                .collect();
            let content = check::hl7::render_ack(ack, &extra, redactor);
            out.checks.extend(self.snapshot(s, step, &name, &content));
        }
        Some(
            step.captures
                .iter()
                .map(|(name, rule)| {
                    let path = rule.field.as_deref().map(|f| step.compiled.field(f));
                    let value = match (&ack, path) {
                        (None, _) => Err("the answer is not an HL7 message".to_string()),
                        (_, None) => Err("no field path".to_string()),
                        (_, Some(Err(e))) => Err(e),
                        (Some(a), Some(Ok(p))) => a
                            .get(&p)
                            .filter(|v| !v.is_empty())
                            .ok_or_else(|| format!("{p} is empty in the ACK")),
                    };
                    (name.clone(), value)
                })
                .collect(),
        )
    }

    fn snapshot(
        &self,
        s: &Scenario,
        step: &Step,
        name: &str,
        content: &str,
    ) -> Option<CheckResult> {
        Some(self.opts.snapshots.as_ref()?.check(
            &SnapshotKey {
                scenario: &s.name,
                scenario_file: &s.path,
                step: &step.name,
                name,
            },
            content,
        ))
    }

    /// The first variable this request needs that an earlier capture failed to provide.
    fn blocked_by(&self, req: &Request, state: &ScenarioState) -> Option<(String, String)> {
        if state.failed_captures.is_empty() {
            return None;
        }
        let texts: Vec<String> = match req {
            Request::Fhir(r) => {
                let mut t = vec![r.path.clone()];
                t.extend(r.headers.values().cloned());
                match &r.body {
                    Some(Body::Text(b)) => t.push(b.clone()),
                    Some(Body::Json(v)) => t.extend(emr_core::scenario::load::string_leaves(v)),
                    None => {}
                }
                t
            }
            Request::Hl7(r) => vec![r.message.clone()],
        };
        for t in texts {
            for var in self.templates.referenced_variables(&t).unwrap_or_default() {
                let top = var.split('.').next().unwrap_or(&var).to_string();
                if let Some(from) = state.failed_captures.get(&top) {
                    return Some((top, from.clone()));
                }
            }
        }
        None
    }

    fn mark_captures_failed(&self, step: &Step, state: &mut ScenarioState) {
        for name in step.capture.keys() {
            state
                .failed_captures
                .insert(name.clone(), step.name.clone());
        }
    }

    /// Renders a FHIR request; on failure says which field's template failed.
    fn prepare(
        &self,
        req: &FhirRequest,
        render: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<HttpRequest, (String, String)> {
        let path = render(&req.path).map_err(|e| ("fhir.path".to_string(), e))?;
        let mut headers = Vec::new();
        for (k, v) in &req.headers {
            headers.push((
                k.clone(),
                render(v).map_err(|e| (format!("fhir.headers.{k}"), e))?,
            ));
        }
        let has = |headers: &Vec<(String, String)>, name: &str| {
            headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if !has(&headers, "accept") {
            headers.push(("Accept".into(), FHIR_JSON.into()));
        }
        let body = match &req.body {
            None => None,
            Some(Body::Text(t)) => Some(
                render(t)
                    .map_err(|e| ("fhir.body".to_string(), e))?
                    .into_bytes(),
            ),
            Some(Body::Json(v)) => {
                let rendered = render_json(v, render).map_err(|e| ("fhir.body".to_string(), e))?;
                Some(
                    serde_json::to_vec(&rendered)
                        .map_err(|e| ("fhir.body".to_string(), e.to_string()))?,
                )
            }
        };
        if body.is_some() && !has(&headers, "content-type") {
            headers.push(("Content-Type".into(), FHIR_JSON.into()));
        }
        Ok(HttpRequest {
            method: req.method.clone(),
            url: self.client.url_for(&path),
            headers,
            body,
            credentials_anywhere: req.send_credentials,
        })
    }
}

/// What one scenario run has learnt so far.
struct ScenarioState {
    /// Shared with every render context; copied only when a capture changes it.
    vars: Arc<IndexMap<String, String>>,
    /// Vars whose value was computed from a template (generated data), for snapshot redaction.
    derived: Vec<(String, String)>,
    captured: Vec<(String, String)>,
    /// capture name → step that failed to provide it.
    failed_captures: HashMap<String, String>,
    generators: Arc<Generators>,
}

impl ScenarioState {
    fn context(&self) -> RenderContext {
        RenderContext {
            vars: self.vars.clone(),
            generators: self.generators.clone(),
        }
    }

    fn redactor(&self, base: &str, s: &Scenario) -> Redactor {
        let (generated, secrets) = self.generators.generated();
        // Short captured values (a version "1", a total) are too likely to collide with content.
        let captured = self.captured.iter().filter(|(_, v)| v.len() >= 6).cloned();
        Redactor::new(base, &s.redact)
            .with_compiled(s.compiled.clone())
            .with_secrets(secrets)
            .with_generated(
                self.derived
                    .iter()
                    .cloned()
                    .chain(captured)
                    .chain(generated),
            )
    }
}

fn snapshot_name(s: &SnapshotName, step: &Step) -> Option<String> {
    match s {
        SnapshotName::Name(n) => Some(n.clone()),
        SnapshotName::Flag(true) => Some(emr_core::scenario::load::slug(&step.name)),
        SnapshotName::Flag(false) => None,
    }
}

fn error(kind: ErrorKind, message: impl Into<String>, field: Option<String>) -> StepError {
    StepError {
        kind,
        message: message.into(),
        field,
    }
}

fn mllp_kind(e: &MllpError) -> ErrorKind {
    match e.kind() {
        "connect" => ErrorKind::Connect,
        "timeout" => ErrorKind::Timeout,
        "reset" => ErrorKind::Reset,
        _ => ErrorKind::Transport,
    }
}

/// Template text (YAML gives `\n` line ends) as ER7: segments end with `\r`, blank lines dropped.
pub fn normalize_segments(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.split(['\r', '\n']).filter(|l| !l.trim().is_empty()) {
        out.push_str(line);
        out.push('\r');
    }
    out
}

fn transport_kind(e: &TransportError) -> ErrorKind {
    match e {
        TransportError::Connect(_) => ErrorKind::Connect,
        TransportError::Timeout(_) => ErrorKind::Timeout,
        TransportError::Reset(_) => ErrorKind::Reset,
        TransportError::InvalidRequest(_) => ErrorKind::Scenario,
        TransportError::Auth(_) => ErrorKind::Auth,
        TransportError::Tls(_) => ErrorKind::Tls,
        TransportError::Protocol(_) => ErrorKind::Protocol,
        TransportError::TooLarge { .. } => ErrorKind::Limit,
        TransportError::Refused(_) => ErrorKind::Policy,
        TransportError::Other(_) => ErrorKind::Transport,
    }
}

/// Each scenario gets its own stream of generated data, stable for a given run seed.
fn scenario_seed(seed: u64, name: &str) -> u64 {
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf29ce484222325 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}
