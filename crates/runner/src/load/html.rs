//! The self-contained HTML load report: tables and inline SVG plots (latency percentile
//! distribution per step, latency and throughput over time, errors over time). No scripts and
//! no external resources, so it opens offline and can be attached to a CI job as it is.

use minijinja::{context, Environment};

use super::report::LoadReport;

const TEMPLATE: &str = include_str!("templates/report.html.j2");
const W: f64 = 760.0;
const H: f64 = 260.0;
const PAD: f64 = 48.0;
const COLORS: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

#[derive(serde::Serialize)]
struct Chart {
    id: String,
    title: String,
    width: f64,
    height: f64,
    body: String,
}

struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A line chart with axes, 4 gridlines, x tick labels and a legend.
fn line_chart(
    id: &str,
    title: &str,
    series: &[Series],
    x_ticks: &[(f64, String)],
    y_unit: &str,
) -> Chart {
    let xmax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1e-9_f64, f64::max);
    let xmin = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(f64::INFINITY, f64::min)
        .min(xmax);
    let ymax = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1e-9_f64, f64::max)
        * 1.1;
    let sx = |x: f64| PAD + (x - xmin) / (xmax - xmin).max(1e-9) * (W - 2.0 * PAD);
    let sy = |y: f64| H - PAD + 10.0 - y / ymax * (H - 2.0 * PAD);
    let mut b = String::new();
    for i in 0..=4 {
        let y = ymax * f64::from(i) / 4.0;
        b.push_str(&format!(
            "<line class=\"grid\" x1=\"{PAD}\" x2=\"{}\" y1=\"{y1:.1}\" y2=\"{y1:.1}\"/><text class=\"label\" x=\"4\" y=\"{:.1}\">{y:.1}{}</text>\n",
            W - PAD,
            sy(y) + 4.0,
            y_unit,
            y1 = sy(y)
        ));
    }
    b.push_str(&format!(
        "<line class=\"axis\" x1=\"{PAD}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\n",
        W - PAD,
        y = sy(0.0)
    ));
    for (x, label) in x_ticks {
        b.push_str(&format!(
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            sx(*x),
            H - 12.0,
            esc(label)
        ));
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        b.push_str(&format!("<polyline class=\"series\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n", pts.join(" ")));
        for (x, y) in &s.points {
            b.push_str(&format!("<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"><title>{}: {y:.2}{y_unit}</title></circle>\n", sx(*x), sy(*y), esc(&s.name)));
        }
        b.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text class=\"label\" x=\"{:.1}\" y=\"{}\">{}</text>\n",
            W - PAD - 180.0,
            8 + 14 * i,
            W - PAD - 165.0,
            17 + 14 * i,
            esc(&s.name)
        ));
    }
    Chart {
        id: id.into(),
        title: title.into(),
        width: W,
        height: H,
        body: b,
    }
}

pub fn render(r: &LoadReport) -> Result<String, String> {
    // Percentile distribution: x is log10(1 / (1 - q)), the usual HdrHistogram plot.
    let quantiles = [
        (0.5, "p50"),
        (0.9, "p90"),
        (0.95, "p95"),
        (0.99, "p99"),
        (0.999, "p99.9"),
    ];
    let xq = |q: f64| (1.0 / (1.0 - q)).log10();
    let mut dist: Vec<Series> = r
        .steps
        .iter()
        .take(COLORS.len() - 1)
        .map(|s| Series {
            name: s.step.clone(),
            points: quantiles
                .iter()
                .zip([
                    s.latency.p50_ms,
                    s.latency.p90_ms,
                    s.latency.p95_ms,
                    s.latency.p99_ms,
                    s.latency.p999_ms,
                ])
                .map(|((q, _), v)| (xq(*q), v))
                .collect(),
        })
        .collect();
    dist.push(Series {
        name: "all steps".into(),
        points: quantiles
            .iter()
            .zip([
                r.overall.p50_ms,
                r.overall.p90_ms,
                r.overall.p95_ms,
                r.overall.p99_ms,
                r.overall.p999_ms,
            ])
            .map(|((q, _), v)| (xq(*q), v))
            .collect(),
    });
    let q_ticks: Vec<(f64, String)> = quantiles
        .iter()
        .map(|(q, l)| (xq(*q), (*l).to_string()))
        .collect();
    let secs: Vec<f64> = r.series.iter().map(|s| s.second as f64).collect();
    let step = (secs.len() / 10).max(1);
    let t_ticks: Vec<(f64, String)> = secs
        .iter()
        .step_by(step)
        .map(|s| (*s, format!("{s:.0}s")))
        .collect();
    let over_time = |name: &str, f: &dyn Fn(&super::report::SecondPoint) -> f64| Series {
        name: name.into(),
        points: r.series.iter().map(|p| (p.second as f64, f(p))).collect(),
    };
    let charts = vec![
        line_chart(
            "latency-distribution",
            "Latency percentile distribution (ms)",
            &dist,
            &q_ticks,
            "ms",
        ),
        line_chart(
            "latency-over-time",
            "Latency over time (ms)",
            &[
                over_time("p50", &|p| p.p50_ms),
                over_time("p99", &|p| p.p99_ms),
            ],
            &t_ticks,
            "ms",
        ),
        line_chart(
            "throughput-over-time",
            "Throughput over time (requests/s)",
            &[over_time("requests/s", &|p| p.requests as f64)],
            &t_ticks,
            "",
        ),
        line_chart(
            "errors-over-time",
            "Errors over time (per second)",
            &[over_time("errors/s", &|p| p.errors as f64)],
            &t_ticks,
            "",
        ),
    ];
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| e.to_string())?;
    let tmpl = env.get_template("report.html").map_err(|e| e.to_string())?;
    tmpl.render(context! { r => r, charts => charts, version => env!("CARGO_PKG_VERSION") })
        .map_err(|e| e.to_string())
}
