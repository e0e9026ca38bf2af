//! The certification report in every format: a terminal table (score per area, then every check),
//! JSON (the `CertReport` tree itself), JUnit (a suite per area, a case per check) and a
//! self-contained HTML page with the evidence of each check.

use std::fmt::Write as _;
use std::time::Duration;

use minijinja::{context, Environment};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use tabled::settings::{object::Columns, Modify, Style, Width};
use tabled::{Table, Tabled};

use super::{CertReport, Verdict};

const TEMPLATE: &str = include_str!("templates/certify.html.j2");

#[derive(Tabled)]
struct AreaRow {
    area: String,
    pass: usize,
    fail: usize,
    error: usize,
    skip: usize,
    score: String,
}

#[derive(Tabled)]
struct CheckRow {
    check: String,
    result: String,
    reason: String,
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::Error => "ERROR",
        Verdict::Skip => "skip",
    }
}

pub fn table(r: &CertReport) -> String {
    let areas = r.areas.iter().map(|a| AreaRow {
        area: a.area.clone(),
        pass: a.passed,
        fail: a.failed,
        error: a.errored,
        skip: a.skipped,
        score: format!("{:.1}%", a.score),
    });
    let checks = r.checks.iter().map(|c| CheckRow {
        check: c.id.clone(),
        result: mark(c.verdict).into(),
        reason: c.reason.clone(),
    });
    let mut out = String::new();
    let _ = writeln!(
        out,
        "certify {} · {} · {} checks in {:.0} ms",
        r.suite,
        r.target,
        r.checks.len(),
        r.duration_ms
    );
    if r.tls_insecure {
        let _ = writeln!(
            out,
            "warning: --insecure: the server's TLS certificate was not verified"
        );
    }
    let mut t = Table::new(checks);
    t.with(Style::sharp())
        .with(Modify::new(Columns::last()).with(Width::wrap(80).keep_words(true)));
    let _ = writeln!(out, "{t}");
    let _ = writeln!(out, "{}", Table::new(areas).with(Style::sharp()));
    out
}

pub fn json(r: &CertReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(r)
}

pub fn junit(r: &CertReport) -> std::io::Result<String> {
    let mut junit = Report::new(format!("emr-harness certify {}", r.suite));
    junit.set_time(Duration::from_secs_f64(r.duration_ms / 1e3));
    let areas = r.areas.iter().filter(|a| a.area != "overall");
    for area in areas {
        let mut suite = TestSuite::new(area.area.clone());
        for c in r.checks.iter().filter(|c| c.area == area.area) {
            let status = match c.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Skip => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(c.reason.clone());
                    s
                }
                Verdict::Fail | Verdict::Error => {
                    let kind = if c.verdict == Verdict::Fail {
                        NonSuccessKind::Failure
                    } else {
                        NonSuccessKind::Error
                    };
                    let mut s = TestCaseStatus::non_success(kind);
                    s.set_message(c.reason.clone());
                    s.set_type(c.verdict.as_str());
                    let evidence: Vec<String> = c
                        .evidence
                        .iter()
                        .map(|e| {
                            format!(
                                "sent:\n{}\nreceived:\n{}",
                                e.sent.replace('\r', "\n"),
                                e.received
                                    .as_deref()
                                    .unwrap_or("(nothing)")
                                    .replace('\r', "\n")
                            )
                        })
                        .collect();
                    s.set_description(format!("{}\n{}", c.spec, evidence.join("\n")));
                    s
                }
            };
            let mut case = TestCase::new(c.id.clone(), status);
            case.set_classname(format!("certify.{}", r.suite));
            case.set_time(Duration::from_secs_f64(c.duration_ms / 1e3));
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().map_err(std::io::Error::other)
}

pub fn html(r: &CertReport) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("certify.html", TEMPLATE)
        .map_err(|e| e.to_string())?;
    let tmpl = env
        .get_template("certify.html")
        .map_err(|e| e.to_string())?;
    tmpl.render(context! { r => r }).map_err(|e| e.to_string())
}

impl crate::report::ReportFiles for CertReport {
    fn file(&self, format: crate::report::Format) -> Result<Option<(String, String)>, String> {
        use crate::report::Format;
        let suite = &self.suite;
        Ok(match format {
            Format::Table => None,
            Format::Json => Some((
                format!("certify-{suite}.json"),
                json(self).map_err(|e| e.to_string())?,
            )),
            Format::Junit => Some((
                format!("certify-{suite}-junit.xml"),
                junit(self).map_err(|e| e.to_string())?,
            )),
            Format::Html => Some((format!("certify-{suite}.html"), html(self)?)),
        })
    }
}
