//! Checks for HL7 v2 steps: the sent message's structure, and the ACK: code (AA/AE/AR, CA/CE/CR),
//! MSA-2 = the MSH-10 that was sent, `ACK^<trigger>`, the ACK's own structure, field values.

use super::redact::Redactor;
use super::{result, value_check, with_message, Cx, Issue, MessageValidator};
use crate::hl7::{FieldPath, Message, ParseError};
use crate::report::CheckResult;
use crate::scenario::model::Expect;
use crate::scenario::StructureRules;

/// The ACK codes a step accepts when it names none: a positive acknowledgement.
const POSITIVE: &[&str] = &["AA", "CA"];

/// The structure check's result from the validator's issues: errors fail it, warnings only
/// under `strict`; either way every issue is listed.
fn structure_result(field: &str, expected: String, issues: &[Issue], strict: bool) -> CheckResult {
    let failing = issues.iter().filter(|i| i.error || strict).count();
    let r = result(
        "structure",
        field.to_string(),
        failing == 0,
        expected,
        if issues.is_empty() {
            "no problem".into()
        } else {
            format!("{failing} problem(s), {} finding(s)", issues.len())
        },
    );
    if issues.is_empty() {
        r
    } else {
        let text: Vec<&str> = issues.iter().map(|i| i.text.as_str()).collect();
        with_message(r, text.join("; "))
    }
}

/// Structure check of the message about to be sent (before it goes out).
pub fn sent_structure(
    sent: &Result<Message, ParseError>,
    rules: &StructureRules,
    validator: &dyn MessageValidator,
) -> CheckResult {
    let field = "hl7.message".to_string();
    match sent {
        Err(e) => with_message(
            result(
                "structure",
                field,
                false,
                "a well-formed HL7 v2 message".into(),
                "does not parse".into(),
            ),
            format!("{e} (set `check_structure: false` to send it anyway on purpose)"),
        ),
        Ok(m) => {
            let issues = validator.check(m, rules);
            structure_result(
                &field,
                format!("a valid {}", m.message_type()),
                &issues,
                rules.strict,
            )
        }
    }
}

/// Checks on the ACK. Returns the parsed ACK too (for captures and snapshots) when it parses.
pub fn evaluate(
    expect: &Expect,
    sent: &Result<Message, ParseError>,
    ack_text: &str,
    max_segments: usize,
    cx: &Cx,
) -> (Vec<CheckResult>, Result<Message, ParseError>) {
    let mut out = Vec::new();
    let ack = match Message::parse_limited(ack_text, max_segments) {
        Ok(a) => a,
        Err(e) => {
            let preview: String = ack_text.chars().take(80).collect();
            out.push(with_message(
                result(
                    "ack",
                    "expect.ack".into(),
                    false,
                    "an HL7 ACK".into(),
                    format!("{preview:?}"),
                ),
                e.to_string(),
            ));
            return (out, Err(e));
        }
    };
    let code = ack.value("MSA-1").unwrap_or_default();
    let wanted: Vec<String> = match &expect.ack {
        Some(list) => list.as_slice().to_vec(),
        None => POSITIVE.iter().map(|s| s.to_string()).collect(),
    };
    let mut ack_check = result(
        "ack",
        "expect.ack".into(),
        wanted.contains(&code),
        wanted.join(" or "),
        if code.is_empty() {
            "(no MSA-1)".into()
        } else {
            code.clone()
        },
    );
    if !ack_check.passed {
        let why = [ack.value("MSA-3"), ack.value("ERR-3.2"), ack.value("ERR-8")]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty());
        if let Some(why) = why {
            ack_check = with_message(ack_check, format!("the ACK says: {why}"));
        }
    }
    out.push(ack_check);

    if expect.control_id.unwrap_or(true) {
        let got = ack.value("MSA-2").unwrap_or_default();
        match sent {
            Ok(m) => {
                let want = m.control_id();
                out.push(result("control_id", "expect.control_id".into(), got == want, format!("MSA-2 = {want:?} (the MSH-10 sent)"), format!("{got:?}")));
            }
            Err(_) => out.push(with_message(
                result("control_id", "expect.control_id".into(), false, "MSA-2 = the MSH-10 sent".into(), format!("{got:?}")),
                "the sent message did not parse, so its MSH-10 is unknown (set `control_id: false`)",
            )),
        }
    }

    if expect.ack_type.unwrap_or(true) {
        let (code9, trigger) = (
            ack.value("MSH-9.1").unwrap_or_default(),
            ack.value("MSH-9.2").unwrap_or_default(),
        );
        let want_trigger = sent
            .as_ref()
            .ok()
            .and_then(|m| m.value("MSH-9.2"))
            .unwrap_or_default();
        let passed = code9 == "ACK" && (want_trigger.is_empty() || trigger == want_trigger);
        let expected = if want_trigger.is_empty() {
            "ACK".to_string()
        } else {
            format!("ACK^{want_trigger}")
        };
        out.push(result(
            "ack_type",
            "expect.ack_type".into(),
            passed,
            format!("MSH-9 = {expected}"),
            ack.message_type(),
        ));
    }

    if expect.structure.unwrap_or(true) {
        let issues = cx.messages.check(&ack, &StructureRules::default());
        out.push(structure_result(
            "expect.structure",
            "a valid ACK".into(),
            &issues,
            false,
        ));
    }

    for (path, rule) in &expect.fields {
        let value = cx
            .compiled
            .field(path)
            .ok()
            .and_then(|p| ack.get(&p))
            .filter(|v| !v.is_empty());
        out.push(value_check(
            "field",
            format!("expect.fields.{path}"),
            rule,
            value.as_deref(),
            cx,
        ));
    }
    (out, Ok(ack))
}

/// The ACK as snapshot text: one segment per line, control ids and timestamps redacted in place.
pub fn render_ack(ack: &Message, extra_fields: &[(String, String)], redactor: &Redactor) -> String {
    let mut m = ack.clone();
    let defaults = [
        ("MSH-7", "[timestamp]"),
        ("MSH-10", "[control-id]"),
        ("MSA-2", "[control-id]"),
    ];
    for (path, with) in defaults
        .iter()
        .map(|(p, w)| (p.to_string(), w.to_string()))
        .chain(extra_fields.iter().cloned())
    {
        if let Ok(p) = FieldPath::parse(&path) {
            if m.get(&p).is_some_and(|v| !v.is_empty()) {
                m.set_raw(&p, &with);
            }
        }
    }
    let text = m.render().replace('\r', "\n");
    redactor.redact_text(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: &str = "MSH|^~\\&|A|B|C|D|20260101||ADT^A01^ADT_A01|CTRL1|P|2.5.1\rEVN|A01|20260101\rPID|1||M1||Doe\rPV1|1|I\r";

    fn no_render(s: &str) -> Result<String, String> {
        Ok(s.to_string())
    }

    fn run(expect_yaml: &str, ack: &str) -> Vec<(String, bool)> {
        let expect: Expect = serde_norway::from_str(expect_yaml).unwrap();
        let sent = Message::parse(SENT);
        struct NoValidator;
        impl crate::check::ResourceValidator for NoValidator {
            fn validate(&self, _: &serde_json::Value, _: Option<&str>) -> Result<(), Vec<String>> {
                Ok(())
            }
        }
        struct NoMessages;
        impl MessageValidator for NoMessages {
            fn check(&self, _: &Message, _: &StructureRules) -> Vec<Issue> {
                Vec::new()
            }
        }
        let cx = Cx {
            render: &no_render,
            validator: &NoValidator,
            messages: &NoMessages,
            compiled: crate::check::compiled::Compiled::none(),
        };
        evaluate(
            &expect,
            &sent,
            ack,
            crate::limits::DEFAULT_MAX_SEGMENTS,
            &cx,
        )
        .0
        .into_iter()
        .map(|c| (c.kind, c.passed))
        .collect()
    }

    #[test]
    fn a_good_ack_passes_every_default_check() {
        let ack = "MSH|^~\\&|C|D|A|B|20260101||ACK^A01^ACK|X9|P|2.5.1\rMSA|AA|CTRL1\r";
        let got = run("{}", ack);
        assert!(got.iter().all(|(_, p)| *p), "{got:?}");
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn wrong_control_id_trigger_and_code_fail() {
        let ack = "MSH|^~\\&|C|D|A|B|20260101||ACK^A08|X9|P|2.5.1\rMSA|AE|OTHER|bad PID\rERR|||101^missing^HL70357|E\r";
        let got = run("fields: {ERR-3.1: '101'}", ack);
        assert_eq!(
            got,
            vec![
                ("ack".into(), false),
                ("control_id".into(), false),
                ("ack_type".into(), false),
                ("structure".into(), true),
                ("field".into(), true)
            ]
        );
        let got = run("ack: AE\ncontrol_id: false\nack_type: false", ack);
        assert!(got.iter().all(|(_, p)| *p), "{got:?}");
    }

    #[test]
    fn garbage_is_not_an_ack() {
        assert_eq!(run("{}", "HTTP/1.1 400"), vec![("ack".into(), false)]);
    }

    #[test]
    fn ack_snapshot_redacts_volatile_fields() {
        let ack = Message::parse(
            "MSH|^~\\&|C|D|A|B|20260101120000||ACK^A01^ACK|X9|P|2.5.1\rMSA|AA|CTRL1\r",
        )
        .unwrap();
        let text = render_ack(
            &ack,
            &[("MSH-3".into(), "[app]".into())],
            &Redactor::default(),
        );
        assert_eq!(text, "MSH|^~\\&|[app]|D|A|B|[timestamp]||ACK^A01^ACK|[control-id]|P|2.5.1\nMSA|AA|[control-id]\n");
    }
}
