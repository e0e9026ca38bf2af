//! Field-level checks of one segment against its definition: required fields, repetitions, data
//! type formats (DT, DTM/TS with precision and offset, TM, NM, SI), coded values against their
//! tables (HL7-defined tables are errors, site-defined ones warnings), and the components of
//! composite types (CE, CWE, CX, XPN, HD, ...). Values are read from the raw text without
//! copies; escape sequences are decoded only for a value that has one.

use std::sync::OnceLock;

use regex::Regex;

use super::defs::{Definitions, Item, TableKind};
use super::{Finding, Severity};
use emr_core::hl7::message::decode;
use emr_core::hl7::{Delimiters, Segment};

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

/// Two ASCII digits at `b[i..i + 2]` as a number within `lo..=hi`.
fn two(b: &[u8], i: usize, lo: u8, hi: u8) -> bool {
    match (b.get(i), b.get(i + 1)) {
        (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => {
            ((x - b'0') * 10 + (y - b'0')).clamp(lo, hi) == (x - b'0') * 10 + (y - b'0')
        }
        _ => false,
    }
}

/// `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`, the DTM (and TS) form, with each part and
/// the offset's hours and minutes in range. Written out (not a regex with captures): it runs on
/// every timestamp of every message, and this is 10x faster.
fn dtm_ok(v: &str) -> bool {
    let b = v.as_bytes();
    let (body, zone) = match b.iter().position(|c| *c == b'+' || *c == b'-') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    if let Some(z) = zone {
        if z.len() != 4 || !two(z, 0, 0, 14) || !two(z, 2, 0, 59) {
            return false;
        }
    }
    let (clock, frac) = match body.iter().position(|c| *c == b'.') {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(f) = frac {
        if clock.len() != 14 || f.is_empty() || f.len() > 4 || !f.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    if !matches!(clock.len(), 4 | 6 | 8 | 10 | 12 | 14) || !clock.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let limits = [(1, 12), (1, 31), (0, 23), (0, 59), (0, 60)];
    (4..clock.len())
        .step_by(2)
        .zip(limits)
        .all(|(i, (lo, hi))| two(clock, i, lo, hi))
}

fn dt_ok(v: &str) -> bool {
    let b = v.as_bytes();
    matches!(b.len(), 4 | 6 | 8)
        && b.iter().all(u8::is_ascii_digit)
        && (b.len() < 6 || two(b, 4, 1, 12))
        && (b.len() < 8 || two(b, 6, 1, 31))
}

fn tm_ok(v: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(
        &RE,
        r"^([01]\d|2[0-3])(?:[0-5]\d(?:[0-5]\d(?:\.\d{1,4})?)?)?(?:[+-]\d{4})?$",
    )
    .is_match(v)
}

fn nm_ok(v: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(&RE, r"^[+-]?(\d+(\.\d*)?|\.\d+)$").is_match(v)
}

fn si_ok(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// Where a value sits, for findings: `PID-3[2].4.1`. Kept as numbers and written out only
/// when there is a finding: most values have none.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub seg: &'a str,
    pub occurrence: usize,
    pub field: usize,
    pub repetition: usize,
    /// Component and subcomponent (1-based; 0 = not that deep).
    pub component: usize,
    pub subcomponent: usize,
}

impl At<'_> {
    fn field(&self) -> String {
        let mut out = String::with_capacity(16);
        out.push_str(self.seg);
        if self.occurrence > 1 {
            out.push_str(&format!("[{}]", self.occurrence));
        }
        out.push_str(&format!("-{}", self.field));
        if self.repetition > 1 {
            out.push_str(&format!("[{}]", self.repetition));
        }
        if self.component > 0 {
            out.push_str(&format!(".{}", self.component));
        }
        if self.subcomponent > 0 {
            out.push_str(&format!(".{}", self.subcomponent));
        }
        out
    }

    /// Part `k` (0-based) one level down from `level`.
    fn part(self, level: u8, k: usize) -> Self {
        if level == 0 {
            At {
                component: k + 1,
                ..self
            }
        } else {
            At {
                subcomponent: k + 1,
                ..self
            }
        }
    }
}

pub(super) struct FieldChecker<'a> {
    pub(super) defs: &'a Definitions,
    pub(super) d: Delimiters,
    pub(super) out: &'a mut Vec<Finding>,
    pub(super) group: Option<&'a str>,
}

impl FieldChecker<'_> {
    fn push(&mut self, severity: Severity, location: String, rule: &str, message: String) {
        self.out.push(Finding {
            severity,
            location,
            group: self.group.map(str::to_string),
            rule: rule.to_string(),
            message,
        });
    }

    /// Every field of `seg` (occurrence `occurrence` of its name) against `fields`.
    pub(super) fn segment(&mut self, seg: &Segment, occurrence: usize, fields: &[Item]) {
        let is_msh = seg.name == "MSH";
        for (i, def) in fields.iter().enumerate() {
            let n = i + 1;
            let raw = seg.fields.get(i).map(String::as_str).unwrap_or("");
            let at = At {
                seg: &seg.name,
                occurrence,
                field: n,
                repetition: 1,
                component: 0,
                subcomponent: 0,
            };
            if def.usage == "W" {
                continue;
            }
            // OBX-2 is conditional: the type of OBX-5, required when OBX-5 has a value.
            if raw.is_empty()
                && is_obx2(&seg.name, n)
                && seg.fields.get(4).is_some_and(|v| !v.is_empty())
            {
                self.push(
                    Severity::Error,
                    at.field(),
                    "required-field",
                    format!("{} is required when OBX-5 has a value", def.name),
                );
                continue;
            }
            if raw.is_empty() {
                if def.usage == "R" || def.min >= 1 {
                    self.push(
                        Severity::Error,
                        at.field(),
                        "required-field",
                        format!("{} is required and empty", def.name),
                    );
                }
                continue;
            }
            if is_msh && n <= 2 {
                continue; // the delimiters themselves
            }
            let varies = def
                .datatype
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case("varies"));
            // QPD-3 onwards (and other `varies` fields but OBX-5) are laid out by the query's own
            // definition, repetition and length included (chapter 5).
            if varies && !(seg.name == "OBX" && n == 5) {
                continue;
            }
            let reps = raw.split(self.d.repetition).count();
            if def.max == Some(0) {
                // Withdrawn in this version (kept for backward compatibility, not to be sent).
                self.push(
                    Severity::Warning,
                    at.field(),
                    "withdrawn-field",
                    format!(
                        "{} is withdrawn in v{} but has a value",
                        def.name, self.defs.version
                    ),
                );
                continue;
            }
            if let Some(max) = def.max.filter(|m| (*m as usize) < reps) {
                self.push(
                    Severity::Error,
                    at.field(),
                    "repetition",
                    format!(
                        "{} repeats {reps} times; the definition allows {max}",
                        def.name
                    ),
                );
            }
            if let Some(len) = def.length {
                if raw.len() > len as usize {
                    self.push(
                        Severity::Warning,
                        at.field(),
                        "length",
                        format!(
                            "{} is {} characters long; the definition says {len}",
                            def.name,
                            raw.len()
                        ),
                    );
                }
            }
            let mut dt = def.datatype.as_deref().unwrap_or("ST");
            // OBX-5's type is the one OBX-2 names.
            let obx2;
            if varies {
                obx2 = seg
                    .fields
                    .get(1)
                    .map(|v| v.split(self.d.component).next().unwrap_or(""))
                    .unwrap_or("")
                    .to_string();
                dt = &obx2;
                if dt.is_empty() {
                    continue;
                }
            }
            for (r, rep) in raw.split(self.d.repetition).enumerate() {
                if rep.is_empty() || rep == "\"\"" {
                    continue;
                }
                let at = At {
                    repetition: r + 1,
                    ..at
                };
                self.value(dt, def.table.as_deref(), rep, at, 0);
            }
        }
        if fields.len() < seg.fields.len() {
            let extra = seg.fields[fields.len()..]
                .iter()
                .position(|f| !f.is_empty());
            if let Some(k) = extra {
                let n = fields.len() + k + 1;
                self.push(
                    Severity::Warning,
                    format!("{}-{n}", seg.name),
                    "extra-field",
                    format!(
                        "{} defines {} fields in v{}; field {n} has a value",
                        seg.name,
                        fields.len(),
                        self.defs.version
                    ),
                );
            }
        }
    }

    /// One value of type `dt` at `location`: a field repetition (`level` 0), a component (1) or
    /// a subcomponent (2).
    fn value(&mut self, dt: &str, table: Option<&str>, text: &str, at: At<'_>, level: u8) {
        if text.is_empty() || text == "\"\"" {
            return;
        }
        let defs = self.defs;
        // TS carries a DTM in its first component in every version (a plain string in 2.3's
        // definitions, which would check nothing).
        if dt == "TS" || dt == "DTM" {
            let first = self.part(text, level).next().unwrap_or("");
            if !first.is_empty() && !dtm_ok(first) {
                self.push(
                    Severity::Error,
                    at.field(),
                    &format!("datatype-{dt}"),
                    format!("{first:?} is not a timestamp YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]"),
                );
            }
            return;
        }
        if defs.primitives.contains(dt) || !defs.datatypes.contains_key(dt) {
            // Parts a primitive does not have (later versions' extensions) are ignored by a
            // receiver (chapter 2): the value is the first part; the rest only warrants a note.
            let mut first = self.part(text, level).next().unwrap_or(text);
            if level == 0 {
                first = first.split(self.d.subcomponent).next().unwrap_or(first);
            }
            if first.len() < text.len() && level < 2 {
                self.push(
                    Severity::Warning,
                    at.field(),
                    "extra-component",
                    format!("{dt} has no components; {text:?} is read as {first:?}"),
                );
            }
            let text = first;
            let v = self.decoded(text);
            let ok = match dt {
                "DT" => dt_ok(&v),
                "TM" => tm_ok(&v),
                "NM" => nm_ok(&v),
                "SI" => si_ok(&v),
                _ => true,
            };
            if !ok {
                let what = match dt {
                    "DT" => "a date YYYY[MM[DD]]",
                    "TM" => "a time HH[MM[SS[.S]]][+/-ZZZZ]",
                    "NM" => "a number",
                    _ => "a non-negative integer",
                };
                self.push(
                    Severity::Error,
                    at.field(),
                    &format!("datatype-{dt}"),
                    format!("{v:?} is not {what}"),
                );
            }
            if matches!(dt, "ID" | "IS" | "CNE" | "CWE" | "CE") || table.is_some() {
                self.table(table, &v, at, dt);
            }
            return;
        }
        let Some(components) = defs.datatypes.get(dt) else {
            return;
        };
        if level >= 2 {
            return;
        }
        // Coded types: the code (component 1) against the table of the field.
        if matches!(dt, "CE" | "CWE" | "CNE") {
            if let Some(code) = self.part(text, level).next() {
                let code = self.decoded(code);
                if !code.is_empty() && table.is_some() {
                    self.table(table, &code, at, dt);
                }
            }
        }
        for (k, part) in self.part(text, level).enumerate() {
            if part.is_empty() {
                continue;
            }
            let Some(c) = components.get(k) else {
                continue;
            };
            let cdt = c.datatype.as_deref().unwrap_or("ST");
            self.value(cdt, c.table.as_deref(), part, at.part(level, k), level + 1);
        }
    }

    /// The parts of `text` one level down: components of a field, subcomponents of a component.
    fn part<'t>(&self, text: &'t str, level: u8) -> std::str::Split<'t, char> {
        text.split(if level == 0 {
            self.d.component
        } else {
            self.d.subcomponent
        })
    }

    fn decoded<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if text.contains(self.d.escape) {
            std::borrow::Cow::Owned(decode(text, &self.d))
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    }

    fn table(&mut self, table: Option<&str>, code: &str, at: At<'_>, dt: &str) {
        let Some(t) = table.and_then(|t| self.defs.tables.get(t)) else {
            return;
        };
        if t.codes.is_empty() || t.codes.contains(code) {
            return;
        }
        let id = table.unwrap_or_default();
        // Codes the standard leaves open: message types, trigger events and structures starting
        // with Z are reserved for local messages (chapter 2); table 0396 names coding systems by
        // pattern (`HL7nnnn` for HL7 table nnnn, `99zzz` local, ...).
        if matches!(id, "0076" | "0003" | "0354") && code.starts_with('Z') {
            return;
        }
        if id == "0396" && coding_system_pattern(code) {
            return;
        }
        // A site may extend a user-defined table, and IS values are user-defined by type: only
        // an HL7 table read by an ID value is a rule the standard states. Whether a table is
        // HL7's is read from v2.5.1 when it has the table: the generated 2.3 definitions type
        // many user-defined fields (PV1-4, PV1-13) as ID.
        let hl7_table =
            |defs: &Definitions| defs.tables.get(table.unwrap_or_default()).map(|t| t.kind);
        let reference = super::defs::for_version("2.5.1").and_then(hl7_table);
        let kind = reference.unwrap_or(t.kind);
        // 0396 is the one HL7 table kept outside the published versions and extended between
        // them: a name it lacks may be a later or a local one.
        let severity =
            if kind == TableKind::Hl7 && t.kind == TableKind::Hl7 && dt == "ID" && id != "0396" {
                Severity::Error
            } else {
                Severity::Warning
            };
        let list = t.listing();
        self.push(
            severity,
            at.field(),
            &format!("table-{id}"),
            format!("{code:?} is not in table {id} {} ({list})", t.name),
        );
    }
}

fn is_obx2(seg: &str, n: usize) -> bool {
    seg == "OBX" && n == 2
}

/// The pattern entries of table 0396 (coding systems).
fn coding_system_pattern(code: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    code == "L"
        || (code.starts_with("99") && code.len() > 2)
        || code
            .strip_prefix("HL7")
            .is_some_and(|r| r.len() == 4 && digits(r))
        || code.strip_prefix("ISO").is_some_and(digits)
        || code
            .strip_prefix("IBT")
            .is_some_and(|r| r.len() == 4 && digits(r))
        || code
            .strip_prefix("NCPDP")
            .is_some_and(|r| r.len() == 7 && digits(r))
        || code.strip_prefix("X12DE").is_some_and(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        for ok in [
            "2026",
            "202601",
            "20260131",
            "2026013123",
            "202601312359",
            "20260131235959.1234",
            "20260131235959-0500",
            "20260131+0130",
        ] {
            assert!(dtm_ok(ok), "{ok}");
        }
        for bad in [
            "2026-01-31",
            "20261301",
            "20260132",
            "202601312460",
            "2026013112000",
            "20260131+05",
            "202601311200+2500",
        ] {
            assert!(!dtm_ok(bad), "{bad}");
        }
        assert!(dt_ok("19800101") && dt_ok("1980") && !dt_ok("01/01/1980") && !dt_ok("19801301"));
        assert!(tm_ok("1230") && tm_ok("235959.5") && !tm_ok("2460"));
        assert!(nm_ok("-1.5") && nm_ok(".5") && nm_ok("7") && !nm_ok("high") && !nm_ok("1,5"));
        assert!(si_ok("3") && !si_ok("-1") && !si_ok("1.0"));
    }
}
