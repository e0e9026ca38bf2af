//! The load driver: replays scenario iterations through the same step executor as conformance
//! runs, on an open model (a fixed or staged arrival rate, scheduled on tokio) or a closed model
//! (N virtual users with think time, run by goose: see `closed.rs`). Results go over a channel
//! to one aggregator.
//!
//! Coordinated omission: in the open model every iteration has an intended start time from the
//! schedule, and its first step's latency is counted from that time, not from when it was finally
//! sent. A target that stalls for a second therefore shows a second of latency for every request
//! that should have gone out during the stall, as wrk2 and k6 report it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::metrics::Metrics;
use super::profile::{Model, Profile, Stage};
use crate::run::Runner;
use emr_core::report::StepResult;
use emr_core::scenario::Scenario;

/// Which slice of the load this process drives (`--worker-index I --worker-count N`).
#[derive(Debug, Clone, Copy)]
pub struct Worker {
    pub index: usize,
    pub count: usize,
}

impl Default for Worker {
    fn default() -> Self {
        Worker { index: 0, count: 1 }
    }
}

pub struct LoadOutcome {
    pub metrics: Metrics,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub elapsed: Duration,
    pub partial: bool,
}

pub(crate) struct Sample {
    pub steps: Vec<StepResult>,
    /// How late the iteration started against its schedule (0 in the closed model).
    pub lag: Duration,
    /// When it was meant to start, from the start of the run.
    pub at: Duration,
}

/// Live counters for a progress display.
#[derive(Default)]
pub struct Live {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub in_flight: AtomicUsize,
    /// p99 of the last complete second, in microseconds.
    pub p99_last_second_us: AtomicU64,
}

pub struct Driver {
    pub profile: Profile,
    pub scenarios: Vec<(Arc<Scenario>, u32)>,
    pub runner: Arc<Runner>,
    pub worker: Worker,
    pub interrupt: watch::Receiver<bool>,
    /// How long in-flight iterations may finish after sending stops.
    pub drain: Duration,
    pub live: Arc<Live>,
    /// The interval log, appended every second while the run goes (see `LiveLog`).
    pub log: Option<super::report::LiveLog>,
}

impl Driver {
    /// Runs the profile; only a closed-model setup goose rejects is an error.
    pub async fn run(mut self) -> Result<LoadOutcome, goose::GooseError> {
        let started_at = chrono::Utc::now();
        let start = Instant::now();
        let (tx, mut rx) = mpsc::unbounded_channel::<Sample>();
        let live = self.live.clone();
        let mut log = self.log.take();
        let aggregator = tokio::spawn(async move {
            let mut m = Metrics::default();
            if log.is_some() {
                m.track_intervals();
            }
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut logged_to = Duration::ZERO;
            let mut second = 0usize;
            loop {
                let s = tokio::select! {
                    s = rx.recv() => match s {
                        Some(s) => s,
                        None => break,
                    },
                    _ = tick.tick(), if log.is_some() => {
                        let now = start.elapsed();
                        append_interval(&mut log, &mut m, logged_to, now);
                        logged_to = now;
                        continue;
                    }
                };
                m.iterations += 1;
                // Once per second, publish the second that just ended for the progress display.
                let now = s.at.as_secs() as usize;
                if now > second {
                    if let Some(s) = m.seconds.get(second) {
                        live.p99_last_second_us
                            .store(s.p50_p99_us().1, Ordering::Relaxed);
                    }
                    second = now;
                }
                for (i, st) in s.steps.iter().enumerate() {
                    let lag = if i == 0 { s.lag } else { Duration::ZERO };
                    let latency = Duration::from_secs_f64(st.duration_ms / 1000.0) + lag;
                    let failed = m.record(st, latency, s.at + latency);
                    live.requests.fetch_add(1, Ordering::Relaxed);
                    live.errors.fetch_add(u64::from(failed), Ordering::Relaxed);
                }
            }
            append_interval(&mut log, &mut m, logged_to, start.elapsed());
            m
        });
        let (dropped, interrupted) = match self.profile.model {
            Model::Open => (self.open(start, tx).await, false),
            Model::Closed => match super::closed::run(&self, start, tx).await {
                Ok(o) => (0, o.interrupted),
                Err(e) => return Err(e),
            },
        };
        let mut metrics = aggregator.await.unwrap_or_default();
        metrics.dropped_iterations = dropped;
        Ok(LoadOutcome {
            metrics,
            started_at,
            elapsed: start.elapsed(),
            partial: interrupted || *self.interrupt.borrow(),
        })
    }

    fn stopped(&self) -> bool {
        *self.interrupt.borrow()
    }

    pub(crate) fn cap(&self) -> u64 {
        let cap = self.profile.max_iterations.unwrap_or(u64::MAX);
        // Split the cap across workers; the first workers take the remainder.
        let (n, i) = (self.worker.count as u64, self.worker.index as u64);
        if cap == u64::MAX {
            cap
        } else {
            cap / n + u64::from(i < cap % n)
        }
    }

    async fn open(&self, start: Instant, tx: mpsc::UnboundedSender<Sample>) -> u64 {
        let stages = self.profile.effective_stages();
        let total = self.profile.total_duration();
        let max_in_flight = self.profile.max_in_flight.unwrap_or(1000);
        let share = 1.0 / self.worker.count as f64;
        let cap = self.cap();
        let mut interrupt = self.interrupt.clone();
        let mut tasks = tokio::task::JoinSet::new();
        let mut scheduled: u64 = 0;
        let mut dropped: u64 = 0;
        // Offset the worker's schedule by its share of one interval, so N workers interleave.
        let mut next = Duration::ZERO;
        let mut first = true;
        loop {
            let rate = rate_at(&stages, next) * share;
            if rate <= 0.0 {
                next += Duration::from_millis(10);
                if next >= total {
                    break;
                }
                continue;
            }
            if first {
                next += Duration::from_secs_f64(
                    self.worker.index as f64 / (rate * self.worker.count as f64),
                );
                first = false;
            }
            if next >= total || scheduled >= cap || self.stopped() {
                break;
            }
            let intended = start + next;
            tokio::select! {
                _ = tokio::time::sleep_until(intended.into()) => {}
                _ = interrupt.wait_for(|s| *s) => break,
            }
            let at = next;
            next += Duration::from_secs_f64(1.0 / rate);
            while tasks.try_join_next().is_some() {}
            if self.live.in_flight.load(Ordering::Relaxed) >= max_in_flight {
                dropped += 1;
                continue;
            }
            let global = scheduled * self.worker.count as u64 + self.worker.index as u64;
            scheduled += 1;
            let scenario = pick(&self.scenarios, global);
            let runner = self.runner.clone();
            let tx = tx.clone();
            let live = self.live.clone();
            live.in_flight.fetch_add(1, Ordering::Relaxed);
            tasks.spawn(async move {
                let lag = Instant::now().saturating_duration_since(intended);
                let result = runner.run_iteration(&scenario, global).await;
                let _ = tx.send(Sample {
                    steps: result.steps,
                    lag,
                    at,
                });
                live.in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        drop(tx);
        self.drain(tasks).await;
        dropped
    }

    /// Waits for in-flight iterations, at most `self.drain`; what is still running then is
    /// abandoned (and not counted), so a hung target cannot hang the run.
    async fn drain(&self, mut tasks: tokio::task::JoinSet<()>) {
        let deadline = tokio::time::sleep(self.drain);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { return },
                _ = &mut deadline => {
                    tracing::warn!(abandoned = tasks.len(), "drain timeout: abandoning in-flight iterations");
                    tasks.abort_all();
                    return;
                }
            }
        }
    }
}

/// Writes the samples since `from` as one interval; a log that cannot be written is reported
/// once and dropped (the run and its other reports go on).
fn append_interval(
    log: &mut Option<super::report::LiveLog>,
    m: &mut Metrics,
    from: Duration,
    to: Duration,
) {
    let Some(l) = log else { return };
    let histograms = m.take_interval();
    if let Err(e) = l.append(&histograms, from, to.saturating_sub(from)) {
        tracing::warn!(error = %e, "cannot write the interval log; it stops here");
        *log = None;
    }
}

/// Scenario `n` of the weighted mix, deterministically (weighted round robin).
fn pick(scenarios: &[(Arc<Scenario>, u32)], n: u64) -> Arc<Scenario> {
    let total: u64 = scenarios
        .iter()
        .map(|(_, w)| u64::from(*w))
        .sum::<u64>()
        .max(1);
    let mut slot = n % total;
    for (s, w) in scenarios {
        if slot < u64::from(*w) {
            return s.clone();
        }
        slot -= u64::from(*w);
    }
    scenarios[0].0.clone()
}

/// The arrival rate at time `t`: the first stage holds its rate; each later stage ramps linearly
/// from the previous stage's rate to its own (a `rate: 0` stage of `0s` starts a ramp from zero).
pub fn rate_at(stages: &[Stage], t: Duration) -> f64 {
    let mut begin = Duration::ZERO;
    let mut prev: Option<f64> = None;
    for st in stages {
        let end = begin + st.duration;
        let target = st.rate.unwrap_or(0.0);
        if t < end {
            let from = prev.unwrap_or(target);
            let frac = (t - begin).as_secs_f64() / st.duration.as_secs_f64().max(1e-9);
            return from + (target - from) * frac;
        }
        prev = Some(target);
        begin = end;
    }
    prev.unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: u64, rate: f64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            rate: Some(rate),
            users: None,
        }
    }

    #[test]
    fn stages_hold_then_ramp() {
        let st = vec![
            stage(10, 10.0),
            stage(10, 30.0),
            stage(0, 0.0),
            stage(10, 20.0),
        ];
        assert_eq!(rate_at(&st, Duration::from_secs(5)), 10.0);
        assert_eq!(rate_at(&st, Duration::from_secs(15)), 20.0);
        assert_eq!(rate_at(&st, Duration::from_secs(25)), 10.0);
    }
}
