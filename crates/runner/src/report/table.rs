//! The terminal report: a table of every step, then the details of each failure (expected,
//! actual, where), with snapshot diffs in colour when the terminal takes colour.

use std::fmt::Write as _;

use tabled::settings::{object::Columns, Modify, Style, Width};
use tabled::{Table, Tabled};

use emr_core::report::{RunReport, Status};

#[derive(Tabled)]
struct Row {
    #[tabled(rename = "scenario")]
    scenario: String,
    #[tabled(rename = "step")]
    step: String,
    #[tabled(rename = "result")]
    result: String,
    #[tabled(rename = "reply")]
    http: String,
    #[tabled(rename = "ms")]
    ms: String,
    #[tabled(rename = "detail")]
    detail: String,
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Passed => "ok",
        Status::Failed => "FAIL",
        Status::Error => "ERROR",
        Status::Skipped => "skip",
    }
}

pub fn render(report: &RunReport, color: bool) -> String {
    let mut rows = Vec::new();
    for sc in &report.scenarios {
        if let Some(e) = &sc.error {
            rows.push(Row {
                scenario: sc.name.clone(),
                step: "(setup)".into(),
                result: mark(Status::Error).into(),
                http: String::new(),
                ms: String::new(),
                detail: e.message.clone(),
            });
        }
        for (i, st) in sc.steps.iter().enumerate() {
            let detail = if let Some(e) = &st.error {
                e.message.clone()
            } else {
                let failed: Vec<_> = st.checks.iter().filter(|c| !c.passed).collect();
                match failed.as_slice() {
                    [] => format!("{} check(s)", st.checks.len()),
                    [c, rest @ ..] => {
                        let more = if rest.is_empty() {
                            String::new()
                        } else {
                            format!(" (+{} more)", rest.len())
                        };
                        format!(
                            "{}: expected {}, got {}{more}",
                            c.field, c.expected, c.actual
                        )
                    }
                }
            };
            rows.push(Row {
                scenario: if i == 0 {
                    sc.name.clone()
                } else {
                    String::new()
                },
                step: st.name.clone(),
                result: mark(st.status).into(),
                http: st
                    .response
                    .as_ref()
                    .map(|r| {
                        r.status
                            .map(|s| s.to_string())
                            .or_else(|| r.ack.clone())
                            .unwrap_or_default()
                    })
                    .unwrap_or_default(),
                ms: format!("{:.1}", st.duration_ms),
                detail,
            });
        }
    }
    let mut table = Table::new(rows);
    table
        .with(Style::rounded())
        .with(Modify::new(Columns::new(5..)).with(Width::wrap(60)));
    let mut out = String::new();
    if report.tls_insecure {
        out.push_str("warning: --insecure: the server's TLS certificate was not verified\n");
    }
    out.push_str(&table.to_string());
    out.push('\n');
    out.push_str(&failures(report, color));
    let s = &report.summary;
    let _ =
        writeln!(
        out,
        "\n{} scenario(s), {} step(s): {} passed, {} failed, {} error(s), {} skipped in {:.0} ms{}",
        s.scenarios,
        s.steps,
        s.passed,
        s.failed,
        s.errored,
        s.skipped,
        report.duration_ms,
        if report.partial { " (PARTIAL: interrupted)" } else { "" }
    );
    if let Some(m) = report.mllp.filter(|m| m.messages > 0) {
        let _ = writeln!(
            out,
            "MLLP: {} message(s) on {} connection(s), {} reconnect(s) after the peer closed one",
            m.messages, m.connections, m.reconnects
        );
    }
    out
}

/// Only what went wrong, and the one-line summary: what `--quiet` prints (to stderr), so a quiet
/// run that fails still says why.
pub fn render_failures(report: &RunReport) -> String {
    let mut out = failures(report, false);
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{} failed, {} error(s) of {} step(s){}",
        s.failed,
        s.errored,
        s.steps,
        if report.partial {
            " (PARTIAL: interrupted)"
        } else {
            ""
        }
    );
    out
}

fn failures(report: &RunReport, color: bool) -> String {
    let mut out = String::new();
    for sc in &report.scenarios {
        for st in &sc.steps {
            if matches!(st.status, Status::Passed | Status::Skipped) {
                continue;
            }
            let _ = writeln!(
                out,
                "\n{} {}:{} step `{}`",
                mark(st.status),
                sc.file,
                st.line,
                st.name
            );
            if let Some(r) = &st.request {
                let _ = writeln!(out, "  {} {}", r.method, r.url);
            }
            if let Some(e) = &st.error {
                let field = e
                    .field
                    .as_deref()
                    .map(|f| format!(" (field `{f}`)"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  {:?}{field}: {}", e.kind, e.message);
            }
            for c in st.checks.iter().filter(|c| !c.passed) {
                let _ = writeln!(
                    out,
                    "  {}: expected {}, got {}",
                    c.field, c.expected, c.actual
                );
                if let Some(m) = &c.message {
                    let _ = writeln!(out, "    {m}");
                }
                if let Some(d) = &c.diff {
                    for line in crate::golden::review::colorize_diff(d, color).lines() {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
        }
    }
    out
}
