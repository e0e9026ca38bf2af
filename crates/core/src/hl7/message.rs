//! HL7 v2 ER7 messages: parse, render, read and write values by field path.
//!
//! Fields are kept as their raw (escaped) text, so parse → render gives back the input byte for
//! byte; repetitions, components and subcomponents are split on access with the delimiters the
//! message declares in MSH-1/MSH-2 (never a hard-coded `|^~\&`). Escape sequences are decoded
//! only when a value is read.

use std::fmt;

use super::path::FieldPath;

/// The delimiters a message declares in MSH-1 and MSH-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: char,
    pub subcomponent: char,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
        }
    }
}

impl Delimiters {
    pub fn encoding_characters(&self) -> String {
        [
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
        ]
        .iter()
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HL7 {at}: {message}")]
pub struct ParseError {
    /// `segment 3 (PID)` or `byte 0`.
    pub at: String,
    pub message: String,
    /// The message broke a limit (`--max-segments`) rather than the ER7 syntax.
    pub limit: bool,
}

fn perr(at: impl Into<String>, message: impl Into<String>) -> ParseError {
    ParseError {
        at: at.into(),
        message: message.into(),
        limit: false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    /// Raw field texts. For MSH, `fields[0]` is MSH-1 (the field separator) and `fields[1]`
    /// MSH-2 (the encoding characters), so `SEG-n` is always `fields[n - 1]`.
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub delimiters: Delimiters,
    pub segments: Vec<Segment>,
}

impl Message {
    /// Parses one ER7 message of at most `crate::limits::DEFAULT_MAX_SEGMENTS` segments. Segment
    /// ends may be `\r`, `\n` or `\r\n`.
    pub fn parse(text: &str) -> Result<Message, ParseError> {
        Message::parse_limited(text, crate::limits::DEFAULT_MAX_SEGMENTS)
    }

    /// Parses one ER7 message, refusing one of more than `max_segments` segments: every check
    /// walks the segments, so a hostile 100k-segment ACK is stopped here, before any of them.
    pub fn parse_limited(text: &str, max_segments: usize) -> Result<Message, ParseError> {
        let text = text.trim_start_matches(['\r', '\n', ' ', '\t', '\u{feff}']);
        if !text.starts_with("MSH") {
            let head: String = text.chars().take(12).collect();
            return Err(perr(
                "byte 0",
                format!("a message starts with an MSH segment, not {head:?}"),
            ));
        }
        let chars: Vec<char> = text.chars().take(8).collect();
        if chars.len() < 8 {
            return Err(perr(
                "segment 1 (MSH)",
                "MSH is too short to declare its delimiters",
            ));
        }
        let delimiters = Delimiters {
            field: chars[3],
            component: chars[4],
            repetition: chars[5],
            escape: chars[6],
            subcomponent: chars[7],
        };
        let declared = [
            delimiters.field,
            delimiters.component,
            delimiters.repetition,
            delimiters.escape,
            delimiters.subcomponent,
        ];
        // The standard asks only for distinct displayable characters (chapter 2, MSH-2); a letter
        // is a poor choice but a legal one.
        for (i, c) in declared.iter().enumerate() {
            if c.is_control() || c.is_whitespace() || declared[..i].contains(c) {
                return Err(perr(
                    "segment 1 (MSH)",
                    format!("MSH-1/MSH-2 declare an unusable delimiter {c:?}"),
                ));
            }
        }
        let mut segments = Vec::new();
        for (i, line) in text.split(['\r', '\n']).enumerate() {
            if line.is_empty() {
                continue;
            }
            let at = || {
                format!(
                    "segment {} ({})",
                    i + 1,
                    line.chars().take(3).collect::<String>()
                )
            };
            if segments.len() >= max_segments {
                return Err(ParseError {
                    limit: true,
                    ..perr(
                        at(),
                        format!(
                            "the message has more than {max_segments} segments (--max-segments)"
                        ),
                    )
                });
            }
            let name: String = line.chars().take(3).collect();
            if name.len() != 3
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                return Err(perr(
                    at(),
                    format!("{name:?} is not a segment name (three letters or digits)"),
                ));
            }
            let rest = &line[name.len()..];
            if !rest.is_empty() && !rest.starts_with(delimiters.field) {
                return Err(perr(
                    at(),
                    format!("segment name {name:?} is not followed by the field separator"),
                ));
            }
            let fields = if name == "MSH" {
                // MSH-1 is the separator itself and MSH-2 the encoding characters.
                // `get`: a later line that is just `MSH` has no body (found by cargo-fuzz).
                let body = rest.get(delimiters.field.len_utf8()..).unwrap_or("");
                let mut parts = body.split(delimiters.field);
                let enc = parts.next().unwrap_or_default().to_string();
                let mut f = vec![delimiters.field.to_string(), enc];
                f.extend(parts.map(str::to_string));
                f
            } else if rest.is_empty() {
                Vec::new()
            } else {
                rest[delimiters.field.len_utf8()..]
                    .split(delimiters.field)
                    .map(str::to_string)
                    .collect()
            };
            segments.push(Segment { name, fields });
        }
        Ok(Message {
            delimiters,
            segments,
        })
    }

    /// ER7 text with `\r` after every segment.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let f = self.delimiters.field;
        for seg in &self.segments {
            out.push_str(&seg.name);
            if seg.name == "MSH" {
                out.push_str(seg.fields.first().map(String::as_str).unwrap_or("|"));
                let rest: Vec<&str> = seg.fields.iter().skip(1).map(String::as_str).collect();
                out.push_str(&rest.join(&f.to_string()));
            } else if !seg.fields.is_empty() {
                out.push(f);
                out.push_str(&seg.fields.join(&f.to_string()));
            }
            out.push('\r');
        }
        out
    }

    pub fn segment(&self, name: &str, occurrence: usize) -> Option<&Segment> {
        self.segments
            .iter()
            .filter(|s| s.name == name)
            .nth(occurrence.saturating_sub(1))
    }

    /// The raw text of a field (`SEG-n`), if present.
    pub fn raw_field(&self, name: &str, occurrence: usize, field: usize) -> Option<&str> {
        self.segment(name, occurrence)?
            .fields
            .get(field.checked_sub(1)?)
            .map(String::as_str)
    }

    /// The value at `path`, escape sequences decoded. A path that stops at a field or repetition
    /// gives that element's text with its inner delimiters, as an interface engine shows it.
    pub fn get(&self, path: &FieldPath) -> Option<String> {
        let raw = self.raw_field(&path.segment, path.occurrence, path.field)?;
        if path.segment == "MSH" && path.field <= 2 {
            return Some(raw.to_string());
        }
        let d = &self.delimiters;
        let rep = match path.repetition {
            Some(r) => raw.split(d.repetition).nth(r.checked_sub(1)?)?,
            None if path.component.is_some() => raw.split(d.repetition).next()?,
            None => return Some(decode(raw, d)),
        };
        let Some(c) = path.component else {
            return Some(decode(rep, d));
        };
        let comp = rep.split(d.component).nth(c.checked_sub(1)?)?;
        let Some(s) = path.subcomponent else {
            return Some(decode(comp, d));
        };
        comp.split(d.subcomponent)
            .nth(s.checked_sub(1)?)
            .map(|v| decode(v, d))
    }

    /// Component `component` of the first repetition of field `field` of `seg` (a segment of
    /// this message), decoded; empty when absent. The path-free form of `get`, for code that
    /// walks every segment (structure checks) and should not format and parse a path per field.
    pub fn component_of(&self, seg: &Segment, field: usize, component: usize) -> String {
        let Some(raw) = field.checked_sub(1).and_then(|i| seg.fields.get(i)) else {
            return String::new();
        };
        if seg.name == "MSH" && field <= 2 {
            return raw.clone();
        }
        let d = &self.delimiters;
        let rep = raw.split(d.repetition).next().unwrap_or_default();
        component
            .checked_sub(1)
            .and_then(|c| rep.split(d.component).nth(c))
            .map(|c| decode(c, d))
            .unwrap_or_default()
    }

    /// Field `field` of `seg` (a segment of this message), all repetitions, decoded; empty when
    /// absent. The path-free form of `get` for a whole field.
    pub fn field_of(&self, seg: &Segment, field: usize) -> String {
        match field.checked_sub(1).and_then(|i| seg.fields.get(i)) {
            None => String::new(),
            Some(raw) if seg.name == "MSH" && field <= 2 => raw.clone(),
            Some(raw) => decode(raw, &self.delimiters),
        }
    }

    /// Shorthand for `get` with a path string; `None` for a bad path or a missing value.
    pub fn value(&self, path: &str) -> Option<String> {
        self.get(&FieldPath::parse(path).ok()?)
    }

    /// Sets the raw (already escaped) text at `path`, adding empty fields and components as
    /// needed. Returns false when the segment does not exist.
    pub fn set_raw(&mut self, path: &FieldPath, raw: &str) -> bool {
        let d = self.delimiters;
        let Some(seg) = self
            .segments
            .iter_mut()
            .filter(|s| s.name == path.segment)
            .nth(path.occurrence.saturating_sub(1))
        else {
            return false;
        };
        let Some(idx) = path.field.checked_sub(1) else {
            return false;
        };
        if seg.fields.len() <= idx {
            seg.fields.resize(idx + 1, String::new());
        }
        let field = &mut seg.fields[idx];
        if path.repetition.is_none() && path.component.is_none() {
            *field = raw.to_string();
            return true;
        }
        let mut reps: Vec<String> = field.split(d.repetition).map(str::to_string).collect();
        let r = path.repetition.unwrap_or(1).max(1) - 1;
        if reps.len() <= r {
            reps.resize(r + 1, String::new());
        }
        match path.component {
            None => reps[r] = raw.to_string(),
            Some(c) => {
                let mut comps: Vec<String> =
                    reps[r].split(d.component).map(str::to_string).collect();
                let c = c.max(1) - 1;
                if comps.len() <= c {
                    comps.resize(c + 1, String::new());
                }
                match path.subcomponent {
                    None => comps[c] = raw.to_string(),
                    Some(s) => {
                        let mut subs: Vec<String> =
                            comps[c].split(d.subcomponent).map(str::to_string).collect();
                        let s = s.max(1) - 1;
                        if subs.len() <= s {
                            subs.resize(s + 1, String::new());
                        }
                        subs[s] = raw.to_string();
                        comps[c] = subs.join(&d.subcomponent.to_string());
                    }
                }
                reps[r] = comps.join(&d.component.to_string());
            }
        }
        *field = reps.join(&d.repetition.to_string());
        true
    }

    /// `MSH-9.1^MSH-9.2`, e.g. `ADT^A01`, for messages and errors.
    pub fn message_type(&self) -> String {
        let Some(msh) = self.segment("MSH", 1) else {
            return String::new();
        };
        let code = self.component_of(msh, 9, 1);
        let trigger = self.component_of(msh, 9, 2);
        if trigger.is_empty() {
            code
        } else {
            format!("{code}^{trigger}")
        }
    }

    pub fn control_id(&self) -> String {
        self.segment("MSH", 1)
            .map(|msh| self.field_of(msh, 10))
            .unwrap_or_default()
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Decodes HL7 escape sequences (\F\ \S\ \T\ \R\ \E\, \Xhh..\, \.br\); unknown ones stay as written.
pub fn decode(raw: &str, d: &Delimiters) -> String {
    let e = d.escape;
    if !raw.contains(e) {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(e) {
        out.push_str(&rest[..start]);
        let after = &rest[start + e.len_utf8()..];
        let Some(end) = after.find(e) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let seq = &after[..end];
        match seq {
            "F" => out.push(d.field),
            "S" => out.push(d.component),
            "T" => out.push(d.subcomponent),
            "R" => out.push(d.repetition),
            "E" => out.push(d.escape),
            ".br" => out.push('\n'),
            s if s.starts_with('X')
                && s.len() > 1
                && s.len() % 2 == 1
                && s[1..].chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                let bytes: Vec<u8> = (1..s.len())
                    .step_by(2)
                    .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
                    .collect();
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
            other => {
                out.push(e);
                out.push_str(other);
                out.push(e);
            }
        }
        rest = &after[end + e.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// Escapes text for a field value: delimiters and the escape character itself, and line breaks.
pub fn encode(text: &str, d: &Delimiters) -> String {
    let mut out = String::with_capacity(text.len());
    let e = d.escape;
    for c in text.chars() {
        let seq = if c == e {
            Some("E")
        } else if c == d.field {
            Some("F")
        } else if c == d.component {
            Some("S")
        } else if c == d.subcomponent {
            Some("T")
        } else if c == d.repetition {
            Some("R")
        } else if c == '\n' {
            Some(".br")
        } else if c == '\r' {
            Some("X0D")
        } else {
            None
        };
        match seq {
            Some(s) => {
                out.push(e);
                out.push_str(s);
                out.push(e);
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &str = "MSH|^~\\&|ADT1|GOOD HEALTH|EMR|HOSP|202611250930||ADT^A01^ADT_A01|MSG00001|P|2.5.1\rEVN|A01|202611250930\rPID|1||PATID1234^^^HOSP^MR~123-45-6789^^^USSSA^SS||EVERYMAN^ADAM^A^III||19610615|M|||1200 N ELM STREET^^GREENSBORO^NC^27401-1020\rPV1|1|I|2000^2012^01\r";

    #[test]
    fn parse_render_round_trip() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.segments.len(), 4);
        assert_eq!(m.render(), ADT);
    }

    #[test]
    fn paths_read_fields_repetitions_components() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.value("MSH-1").as_deref(), Some("|"));
        assert_eq!(m.value("MSH-2").as_deref(), Some("^~\\&"));
        assert_eq!(m.value("MSH-9.2").as_deref(), Some("A01"));
        assert_eq!(m.value("MSH-10").as_deref(), Some("MSG00001"));
        assert_eq!(m.value("PID-3.1").as_deref(), Some("PATID1234"));
        assert_eq!(m.value("PID-3[2].1").as_deref(), Some("123-45-6789"));
        assert_eq!(m.value("PID-3[2].5").as_deref(), Some("SS"));
        assert_eq!(m.value("PID-5.2").as_deref(), Some("ADAM"));
        assert_eq!(m.value("PID-11.3").as_deref(), Some("GREENSBORO"));
        assert_eq!(m.value("PID-99"), None);
        assert_eq!(m.message_type(), "ADT^A01");
        // The path-free accessor agrees with the path form.
        let pid = m.segment("PID", 1).unwrap();
        for (field, comp, path) in [(3, 1, "PID-3.1"), (5, 2, "PID-5.2"), (11, 3, "PID-11.3")] {
            assert_eq!(Some(m.component_of(pid, field, comp)), m.value(path));
        }
        assert_eq!(m.component_of(pid, 99, 1), "");
        let msh = m.segment("MSH", 1).unwrap();
        assert_eq!(m.component_of(msh, 2, 1), "^~\\&");
        assert_eq!(Some(m.component_of(msh, 9, 2)), m.value("MSH-9.2"));
    }

    #[test]
    fn custom_delimiters_are_honoured() {
        let text = "MSH#*!@%#A#B#C#D#20260101##ADT*A08#X1#P#2.3\rPID#1##ID1*5!ID2*6##Doe*Jane\r";
        let m = Message::parse(text).unwrap();
        assert_eq!(m.value("MSH-9.2").as_deref(), Some("A08"));
        assert_eq!(m.value("PID-3[2].1").as_deref(), Some("ID2"));
        assert_eq!(m.value("PID-5.2").as_deref(), Some("Jane"));
        assert_eq!(m.render(), text);
    }

    #[test]
    fn escapes_decode_and_encode() {
        let d = Delimiters::default();
        assert_eq!(
            decode(
                "A\\T\\B \\F\\ \\S\\ \\R\\ \\E\\ \\X41\\ x\\.br\\y \\H\\",
                &d
            ),
            "A&B | ^ ~ \\ A x\ny \\H\\"
        );
        let text = "R&D | a^b ~ c\\d\nline";
        assert_eq!(decode(&encode(text, &d), &d), text);
        assert_eq!(decode("\\X48C3A9\\", &d), "Hé");
    }

    #[test]
    fn line_endings_and_errors() {
        let m = Message::parse(&ADT.replace('\r', "\r\n")).unwrap();
        assert_eq!(m.render(), ADT);
        let m = Message::parse(&ADT.replace('\r', "\n")).unwrap();
        assert_eq!(m.render(), ADT);
        assert!(Message::parse("PID|1")
            .unwrap_err()
            .message
            .contains("starts with an MSH"));
        assert!(Message::parse("MSH|^~").is_err());
        assert!(Message::parse("MSH|^~\\&|a\rpid|x\r")
            .unwrap_err()
            .at
            .contains("segment 2"));
        // cargo-fuzz found this one: a later segment that is exactly `MSH` panicked.
        let m = Message::parse("MSH|^~\\&\rMSH").unwrap();
        assert_eq!(Message::parse(&m.render()).unwrap().render(), m.render());
    }

    #[test]
    fn set_raw_extends_as_needed() {
        let mut m = Message::parse(ADT).unwrap();
        assert!(m.set_raw(&FieldPath::parse("PID-3[2].4.2").unwrap(), "X"));
        assert_eq!(m.value("PID-3[2].4").as_deref(), Some("USSSA&X"));
        assert!(m.set_raw(&FieldPath::parse("PV1-44").unwrap(), "202601"));
        assert_eq!(m.value("PV1-44").as_deref(), Some("202601"));
        assert!(m.set_raw(&FieldPath::parse("MSH-10").unwrap(), "NEW"));
        assert_eq!(m.control_id(), "NEW");
        assert!(!m.set_raw(&FieldPath::parse("ZZZ-1").unwrap(), "x"));
    }
}
