//! JUnit XML via quick-junit (the writer cargo-nextest uses). A failed check is a `<failure>`, a
//! broken exchange an `<error>`, as GitLab, Jenkins and GitHub test reporters expect.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use emr_core::report::{RunReport, Status, StepResult};

pub fn to_string(report: &RunReport) -> std::io::Result<String> {
    let mut junit = Report::new("emr-harness");
    junit.set_time(secs(report.duration_ms));
    for sc in &report.scenarios {
        let mut suite = TestSuite::new(sc.name.clone());
        suite.set_time(secs(sc.duration_ms));
        if let Some(e) = &sc.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(e.message.clone());
            status.set_type(format!("{:?}", e.kind).to_lowercase());
            let mut case = TestCase::new("(scenario setup)", status);
            case.set_classname(sc.file.clone());
            suite.add_test_case(case);
        }
        for st in &sc.steps {
            suite.add_test_case(case(&sc.file, st));
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().map_err(std::io::Error::other)
}

fn case(file: &str, st: &StepResult) -> TestCase {
    let status = match st.status {
        Status::Passed => TestCaseStatus::success(),
        Status::Skipped => {
            let mut s = TestCaseStatus::skipped();
            if let Some(e) = &st.error {
                s.set_message(e.message.clone());
            }
            s
        }
        Status::Failed => {
            let failed: Vec<_> = st.checks.iter().filter(|c| !c.passed).collect();
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let first = failed
                .first()
                .map(|c| format!("{}: expected {}, got {}", c.field, c.expected, c.actual));
            s.set_message(first.unwrap_or_else(|| "check failed".into()));
            s.set_type("check");
            let detail: Vec<String> = failed
                .iter()
                .map(|c| {
                    let mut t = format!(
                        "{} ({}): expected {}, got {}",
                        c.field, c.kind, c.expected, c.actual
                    );
                    if let Some(m) = &c.message {
                        t.push_str(&format!("\n  {m}"));
                    }
                    if let Some(d) = &c.diff {
                        t.push_str(&format!("\n{d}"));
                    }
                    t
                })
                .collect();
            s.set_description(detail.join("\n"));
            s
        }
        Status::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            if let Some(e) = &st.error {
                s.set_message(e.message.clone());
                s.set_type(format!("{:?}", e.kind).to_lowercase());
            }
            s
        }
    };
    let mut case = TestCase::new(st.name.clone(), status);
    case.set_classname(format!("{file}:{}", st.line));
    case.set_time(secs(st.duration_ms));
    case.set_assertions(st.checks.len());
    case
}

fn secs(ms: f64) -> Duration {
    Duration::from_secs_f64((ms / 1000.0).max(0.0))
}
