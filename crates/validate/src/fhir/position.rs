//! Line and column of an element in the source JSON. serde_json's `Value` keeps no positions, and
//! a position-keeping parse costs on every resource; most resources have no findings. So the
//! text is scanned again only when there is something to locate, with a small scanner that
//! follows the same paths the walk used (keys and array indexes).

use std::collections::{HashMap, HashSet};

/// The joined form of a path, used as a map key.
pub(crate) fn key(path: &[String]) -> String {
    path.join("\u{1}")
}

struct Scanner<'t> {
    b: &'t [u8],
    i: usize,
    line: u32,
    col: u32,
}

impl Scanner<'_> {
    fn bump(&mut self) {
        if let Some(&c) = self.b.get(self.i) {
            if c == b'\n' {
                self.line += 1;
                self.col = 1;
            } else if c & 0xC0 != 0x80 {
                // Columns count characters, not the continuation bytes of UTF-8.
                self.col += 1;
            }
            self.i += 1;
        }
    }

    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.bump();
        }
    }

    fn string(&mut self) -> Option<String> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i;
        self.bump();
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                b'"' => {
                    self.bump();
                    let raw = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                    return serde_json::from_str(raw).ok();
                }
                _ => self.bump(),
            }
        }
        None
    }

    /// Scans one value at `path`, recording positions of wanted paths. A value no wanted path
    /// goes through is skipped without building its keys: most findings sit near the root.
    fn value(
        &mut self,
        path: &mut Vec<String>,
        wanted: &HashSet<String>,
        prefixes: &HashSet<String>,
        out: &mut HashMap<String, (u32, u32)>,
        depth: usize,
    ) -> Option<()> {
        if depth > 256 {
            return None;
        }
        self.ws();
        if !prefixes.contains(&key(path)) {
            return self.skip();
        }
        match self.b.get(self.i)? {
            b'{' => {
                self.bump();
                loop {
                    self.ws();
                    if self.b.get(self.i) == Some(&b'}') {
                        self.bump();
                        return Some(());
                    }
                    let at = (self.line, self.col);
                    let k = self.string()?;
                    path.push(k);
                    let joined = key(path);
                    if wanted.contains(&joined) {
                        out.insert(joined, at);
                    }
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return None;
                    }
                    self.bump();
                    self.value(path, wanted, prefixes, out, depth + 1)?;
                    path.pop();
                    self.ws();
                    match self.b.get(self.i)? {
                        b',' => self.bump(),
                        b'}' => {
                            self.bump();
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.bump();
                let mut n = 0usize;
                loop {
                    self.ws();
                    if self.b.get(self.i) == Some(&b']') {
                        self.bump();
                        return Some(());
                    }
                    path.push(n.to_string());
                    let joined = key(path);
                    if wanted.contains(&joined) {
                        out.insert(joined, (self.line, self.col));
                    }
                    self.value(path, wanted, prefixes, out, depth + 1)?;
                    path.pop();
                    n += 1;
                    self.ws();
                    match self.b.get(self.i)? {
                        b',' => self.bump(),
                        b']' => {
                            self.bump();
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(|_| ()),
            _ => {
                while let Some(&c) = self.b.get(self.i) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.bump();
                }
                Some(())
            }
        }
    }
}

impl Scanner<'_> {
    /// Passes over one value, counting lines and columns only.
    fn skip(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            self.ws();
            match *self.b.get(self.i)? {
                b'{' | b'[' => {
                    depth += 1;
                    self.bump();
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.bump();
                    if depth == 0 {
                        return Some(());
                    }
                }
                b'"' => {
                    self.bump();
                    while let Some(&c) = self.b.get(self.i) {
                        self.bump();
                        match c {
                            b'\\' => self.bump(),
                            b'"' => break,
                            _ => {}
                        }
                    }
                    if depth == 0 {
                        return Some(());
                    }
                }
                b',' | b':' => self.bump(),
                _ => {
                    while let Some(&c) = self.b.get(self.i) {
                        if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                            break;
                        }
                        self.bump();
                    }
                    if depth == 0 {
                        return Some(());
                    }
                }
            }
        }
    }
}

/// Positions (line, column; 1-based) of the wanted paths in `text`.
pub(crate) fn locate(text: &str, wanted: &HashSet<String>) -> HashMap<String, (u32, u32)> {
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
        line: 1,
        col: 1,
    };
    let mut out = HashMap::new();
    s.ws();
    // A byte-order mark is not JSON but is common in files saved on Windows.
    if text.starts_with('\u{feff}') {
        s.i = 3;
    }
    s.ws();
    let root = (s.line, s.col);
    if wanted.contains("") {
        out.insert(String::new(), root);
    }
    // Every path a wanted one passes through, the root included.
    let mut prefixes = HashSet::new();
    for w in wanted {
        let parts: Vec<&str> = if w.is_empty() {
            Vec::new()
        } else {
            w.split('\u{1}').collect()
        };
        for n in 0..=parts.len() {
            prefixes.insert(parts[..n].join("\u{1}"));
        }
    }
    let _ = s.value(&mut Vec::new(), wanted, &prefixes, &mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_items() {
        let text = "{\n  \"resourceType\": \"Patient\",\n  \"name\": [\n    {\"given\": [\"A\", \"Bé\"]},\n    {\"family\": \"x\"}\n  ]\n}";
        let wanted: HashSet<String> = [
            key(&["name".into()]),
            key(&["name".into(), "1".into()]),
            key(&["name".into(), "0".into(), "given".into(), "1".into()]),
            String::new(),
        ]
        .into_iter()
        .collect();
        let at = locate(text, &wanted);
        assert_eq!(at[&key(&["name".into()])], (3, 3));
        assert_eq!(at[&key(&["name".into(), "1".into()])], (5, 5));
        assert_eq!(
            at[&key(&["name".into(), "0".into(), "given".into(), "1".into()])],
            (4, 21)
        );
        assert_eq!(at[""], (1, 1));
    }
}
