//! Errors in scenario files. Each names the file, the line, and where it can, the step and field,
//! and prints the offending source line with a caret, as hurl and rustc do.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Box<Located>),
}

/// A problem at a known place in a scenario file.
#[derive(Debug)]
pub struct Located {
    pub path: PathBuf,
    /// 1-based; 0 when unknown.
    pub line: usize,
    pub column: usize,
    pub step: Option<String>,
    pub field: Option<String>,
    pub message: String,
    /// The source line, for the caret display.
    pub source_line: Option<String>,
}

impl Located {
    pub fn new(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Located {
            path: path.into(),
            line: 0,
            column: 0,
            step: None,
            field: None,
            message: message.into(),
            source_line: None,
        }
    }

    pub fn at(mut self, source: &str, line: usize, column: usize) -> Self {
        self.line = line;
        self.column = column;
        self.source_line = source
            .lines()
            .nth(line.saturating_sub(1))
            .map(str::to_string);
        self
    }

    pub fn step(mut self, step: impl Into<String>) -> Self {
        self.step = Some(step.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn into_error(self) -> ScenarioError {
        ScenarioError::Invalid(Box::new(self))
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        f.write_str(": ")?;
        if let Some(step) = &self.step {
            write!(f, "step `{step}`: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(src) = &self.source_line {
            let gutter = self.line.to_string();
            write!(f, "\n {} |\n {gutter} | {src}", " ".repeat(gutter.len()))?;
            if self.column > 0 {
                write!(
                    f,
                    "\n {} | {}^",
                    " ".repeat(gutter.len()),
                    " ".repeat(self.column - 1)
                )?;
            }
        }
        Ok(())
    }
}

/// Finds the line of `field` (a dotted key path such as `fhir.path`) inside step `index` of a
/// scenario's source, or of a top-level key when `index` is `None`. serde keeps no positions for
/// values that parsed fine but are wrong, so this reads the text; a miss falls back to the step
/// line, then to 0 (unknown), never to a wrong guess further down the file.
pub fn locate(source: &str, index: Option<usize>, field: &str) -> (usize, usize) {
    let lines: Vec<&str> = source.lines().collect();
    let (mut from, to) = match index {
        Some(i) => match step_range(&lines, i) {
            Some(range) => range,
            None => return (0, 0),
        },
        None => (0, lines.len()),
    };
    let step_line = from;
    let mut found = index.map(|_| (step_line + 1, 0));
    for key in field.split('.').filter(|k| !k.is_empty()) {
        let key = key.split('[').next().unwrap_or(key);
        // Block style (`key:` starting a line) or flow style (`{a: 1, key: 2}`), quoted or not.
        let Ok(re) = regex::Regex::new(&format!(
            r#"(^|[\s{{,])["']?{}["']?\s*:"#,
            regex::escape(key)
        )) else {
            break;
        };
        let hit = (from..to).find_map(|n| {
            let line = lines[n].trim_start().trim_start_matches("- ");
            re.find(line).map(|m| (n, m))
        });
        match hit {
            Some((n, _)) => {
                let col = re
                    .find(lines[n])
                    .map(|m| m.start() + lines[n][m.start()..].find(key).unwrap_or(0) + 1)
                    .unwrap_or(0);
                found = Some((n + 1, col));
                from = n;
            }
            None => break,
        }
    }
    found.unwrap_or((0, 0))
}

/// The 0-based first line of every step under the top-level `steps:` key, computed in one pass
/// (per-step lookups would make loading a 1000-step file quadratic).
pub fn step_starts(source: &str) -> Vec<usize> {
    let lines: Vec<&str> = source.lines().collect();
    let Some(steps_at) = lines.iter().position(|l| l.starts_with("steps:")) else {
        return Vec::new();
    };
    let mut starts = Vec::new();
    let mut item_indent = None;
    for (n, line) in lines.iter().enumerate().skip(steps_at + 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent == 0 && !trimmed.starts_with("- ") {
            break;
        }
        if trimmed.starts_with("- ") && item_indent.is_none_or(|i| i == indent) {
            item_indent = Some(indent);
            starts.push(n);
        }
    }
    starts
}

/// The [start, end) line range of step `index` under the top-level `steps:` key.
fn step_range(lines: &[&str], index: usize) -> Option<(usize, usize)> {
    let starts = step_starts(&lines.join("\n"));
    let start = *starts.get(index)?;
    // The step ends where the next one starts, or at the next top-level key.
    let end = starts.get(index + 1).copied().unwrap_or_else(|| {
        (start + 1..lines.len())
            .find(|&n| !lines[n].is_empty() && !lines[n].starts_with([' ', '-', '#']))
            .unwrap_or(lines.len())
    });
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "name: x\nvars:\n  a: 1\nsteps:\n  - name: one\n    fhir:\n      path: /a\n  - name: two\n    fhir:\n      method: GET\n      path: /b\n    expect:\n      status: 200\n";

    #[test]
    fn locates_fields_inside_the_right_step() {
        assert_eq!(locate(SRC, Some(0), "fhir.path").0, 7);
        assert_eq!(locate(SRC, Some(1), "fhir.path").0, 11);
        assert_eq!(locate(SRC, Some(1), "expect.status").0, 13);
        assert_eq!(locate(SRC, None, "vars.a").0, 3);
    }

    #[test]
    fn locates_flow_style_keys() {
        let src = "name: x\nsteps:\n  - name: a\n    fhir: {method: FETCH, path: /x}\n";
        assert_eq!(locate(src, Some(0), "fhir.method"), (4, 12));
        assert_eq!(locate(src, Some(0), "fhir.path"), (4, 27));
    }

    #[test]
    fn missing_field_falls_back_to_step_line() {
        assert_eq!(locate(SRC, Some(1), "capture.x").0, 8);
        assert_eq!(locate(SRC, Some(5), "fhir").0, 0);
    }

    #[test]
    fn display_has_caret() {
        let e = Located::new("s.yaml", "bad")
            .at(SRC, 7, 7)
            .step("one")
            .field("fhir.path");
        let text = e.to_string();
        assert!(text.starts_with("s.yaml:7:7: step `one`: field `fhir.path`: bad"));
        assert!(text.contains("7 |       path: /a"));
        assert!(text.ends_with("|       ^"));
    }
}
