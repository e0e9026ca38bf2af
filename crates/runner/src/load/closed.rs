//! The closed model, driven by goose embedded as a library: goose owns the virtual users, their
//! weighted allocation to scenarios, the ramp (its test plan) and the think time; each goose
//! transaction is one iteration of one of our scenarios through our step executor, so FHIR and
//! HL7 steps, checks and metrics are the same as in the open model.
//!
//! Goose is configured in code (`GooseAttack::initialize_with_config`): its CLI is never parsed,
//! its telnet and websocket controllers are off, its own metrics and printing are off (ours are
//! the ones reported). Goose schedules in whole seconds, so the profile loader requires whole
//! seconds for closed-model stages.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{Scenario as GooseScenario, Transaction, TransactionFunction};
use goose::GooseAttack;
use tokio::sync::mpsc;

use super::driver::{Driver, Sample};
use super::profile::Stage;

/// What the goose run ended with, beyond the samples it sent.
pub struct ClosedOutcome {
    /// Stopped early by Ctrl-C (goose catches SIGINT itself once it runs).
    pub interrupted: bool,
}

/// Goose's test plan for this worker: the first stage holds its users from the start, each later
/// stage ramps linearly to its users (as the open model's stages ramp the rate).
pub fn test_plan(stages: &[Stage], worker_index: usize, worker_count: usize) -> String {
    let share =
        |users: usize| users / worker_count + usize::from(worker_index < users % worker_count);
    let mut steps = Vec::new();
    for (i, st) in stages.iter().enumerate() {
        let users = share(st.users.unwrap_or(0));
        if i == 0 {
            steps.push(format!("{users},0s"));
        }
        steps.push(format!("{users},{}s", st.duration.as_secs()));
    }
    // Goose ends the run by ramping down; zero seconds makes that immediate.
    steps.push("0,0s".to_string());
    steps.join(";")
}

pub(crate) async fn run(
    driver: &Driver,
    start: Instant,
    tx: mpsc::UnboundedSender<Sample>,
) -> Result<ClosedOutcome, goose::GooseError> {
    let cap = driver.cap();
    let issued = Arc::new(AtomicU64::new(0));
    let cap_reached = Arc::new(AtomicBool::new(false));
    let think = driver.profile.think_time.unwrap_or_default();

    let mut config = GooseConfiguration::default();
    // Goose wants a host even though our executor sends the requests.
    config.host = driver.runner.base_url().to_string();
    config.no_telnet = true;
    config.no_websocket = true;
    config.no_metrics = true;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    config.quiet = 1;
    let plan = test_plan(
        &driver.profile.effective_stages(),
        driver.worker.index,
        driver.worker.count,
    );
    let mut attack = *GooseAttack::initialize_with_config(config)?
        .set_default(GooseDefault::TestPlan, plan.as_str())?;

    for (index, (scenario, weight)) in driver.scenarios.iter().enumerate() {
        if *weight == 0 {
            continue;
        }
        // Everything an iteration needs behind one pointer: one clone per iteration, not six.
        let ctx = Arc::new(IterationContext {
            scenario: scenario.clone(),
            runner: driver.runner.clone(),
            tx: tx.clone(),
            live: driver.live.clone(),
            issued: issued.clone(),
            cap_reached: cap_reached.clone(),
            cap,
            worker: driver.worker,
            start,
        });
        let iteration: TransactionFunction = Arc::new(move |_user| {
            let ctx = ctx.clone();
            Box::pin(async move {
                ctx.run().await;
                Ok(())
            })
        });
        let mut user = GooseScenario::new(&format!("{index}: {}", driver.scenarios[index].0.name))
            .set_weight(*weight as usize)?
            .register_transaction(Transaction::new(iteration).set_name("iteration"));
        if !think.is_zero() {
            user = user.set_wait_time(think, think)?;
        }
        attack = attack.register_scenario(user);
    }

    // A Ctrl-C that reached our handler before goose installed its own stops goose too.
    let mut interrupt = driver.interrupt.clone();
    let bridge = tokio::spawn(async move {
        if interrupt.wait_for(|s| *s).await.is_ok() {
            goose::trigger_killswitch("interrupted");
        }
    });
    let result = attack.execute().await;
    bridge.abort();
    result?;
    let interrupted = (goose::is_killswitch_triggered() && !cap_reached.load(Ordering::Relaxed))
        || *driver.interrupt.borrow();
    Ok(ClosedOutcome { interrupted })
}

struct IterationContext {
    scenario: Arc<emr_core::scenario::Scenario>,
    runner: Arc<crate::run::Runner>,
    tx: mpsc::UnboundedSender<Sample>,
    live: Arc<super::driver::Live>,
    issued: Arc<AtomicU64>,
    cap_reached: Arc<AtomicBool>,
    cap: u64,
    worker: super::driver::Worker,
    start: Instant,
}

impl IterationContext {
    /// One goose transaction: one scenario iteration, or a stop once the cap is reached.
    async fn run(&self) {
        let k = self.issued.fetch_add(1, Ordering::Relaxed);
        if k >= self.cap {
            self.cap_reached.store(true, Ordering::Relaxed);
            goose::trigger_killswitch("max_iterations reached");
            // Goose's users loop without yielding when a transaction does not wait: pause so
            // its controller gets a thread to stop them.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return;
        }
        let global = k * self.worker.count as u64 + self.worker.index as u64;
        let at = self.start.elapsed();
        self.live.in_flight.fetch_add(1, Ordering::Relaxed);
        let result = self.runner.run_iteration(&self.scenario, global).await;
        self.live.in_flight.fetch_sub(1, Ordering::Relaxed);
        let _ = self.tx.send(Sample {
            steps: result.steps,
            lag: Duration::ZERO,
            at,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: u64, users: usize) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            rate: None,
            users: Some(users),
        }
    }

    #[test]
    fn plan_holds_then_ramps_and_splits_users_across_workers() {
        let st = vec![stage(10, 5), stage(20, 11)];
        assert_eq!(test_plan(&st, 0, 1), "5,0s;5,10s;11,20s;0,0s");
        // 5 users over 2 workers: 3 + 2; 11: 6 + 5.
        assert_eq!(test_plan(&st, 0, 2), "3,0s;3,10s;6,20s;0,0s");
        assert_eq!(test_plan(&st, 1, 2), "2,0s;2,10s;5,20s;0,0s");
    }
}
