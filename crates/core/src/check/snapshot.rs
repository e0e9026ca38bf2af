//! Snapshots as text: how a response is rendered for comparison (status line, chosen headers,
//! redacted pretty JSON), and how two renderings are compared and diffed. The golden store that
//! reads and writes `.snap` files lives with the runner; this part is pure.

use serde_json::Value;

use super::redact::Redactor;
use crate::exchange::HttpResponse;

/// The text a response is compared as: status line, chosen headers, redacted pretty JSON body.
pub fn render_response(resp: &HttpResponse, headers: &[String], redactor: &Redactor) -> String {
    let mut out = format!("HTTP {}\n", resp.status);
    for name in headers {
        let k = name.to_ascii_lowercase();
        for v in resp.headers_named(name) {
            out.push_str(&format!("{k}: {}\n", redactor.redact_header(&k, v)));
        }
    }
    if !resp.body.is_empty() {
        out.push('\n');
        match serde_json::from_slice::<Value>(&resp.body) {
            Ok(json) => {
                let red = redactor.redact_body(&json);
                out.push_str(&serde_json::to_string_pretty(&red).unwrap_or_default());
                out.push('\n');
            }
            Err(_) => {
                out.push_str(&redactor.redact_text(&String::from_utf8_lossy(&resp.body)));
                out.push('\n');
            }
        }
    }
    out
}

/// The content part of a `.snap` file (after the second `---` line).
pub fn parse_snap(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    if let Some(rest) = text.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---\n") {
            return rest[end + 5..].to_string();
        }
    }
    text
}

pub fn normalize(s: &str) -> &str {
    s.trim_end_matches(['\n', '\r'])
}

pub fn unified_diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(normalize(old), normalize(new))
        .unified_diff()
        .context_radius(3)
        .header("golden", "actual")
        .missing_newline_hint(false)
        .to_string()
}
