//! Message-structure checks for the common events: required segments and their order, required
//! fields, and data type formats (TS/DTM, NM, ID against small HL7 tables). These are the checks
//! that catch a broken interface mapping before a receiving system does.

use regex::Regex;

use super::message::Message;

/// One rule broken, named by where and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// `PID-8`, `segment OBX`, ...
    pub location: String,
    /// `required segment`, `segment order`, `required field`, `TS format`, `table 0001`, ...
    pub rule: String,
    pub message: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.location, self.rule, self.message)
    }
}

#[derive(Clone, Copy)]
struct Seg {
    name: &'static str,
    required: bool,
    repeats: bool,
    /// Starts a repeating group (e.g. OBR in ORU^R01): its order position may go back.
    group: bool,
}

const fn r(name: &'static str) -> Seg {
    Seg {
        name,
        required: true,
        repeats: false,
        group: false,
    }
}
const fn o(name: &'static str) -> Seg {
    Seg {
        name,
        required: false,
        repeats: false,
        group: false,
    }
}
const fn rr(name: &'static str) -> Seg {
    Seg {
        name,
        required: true,
        repeats: true,
        group: false,
    }
}
const fn or(name: &'static str) -> Seg {
    Seg {
        name,
        required: false,
        repeats: true,
        group: false,
    }
}
/// An optional repeating group start (OBX with its NTEs).
const fn og(name: &'static str) -> Seg {
    Seg {
        name,
        required: false,
        repeats: true,
        group: true,
    }
}
const fn g(name: &'static str) -> Seg {
    Seg {
        name,
        required: true,
        repeats: true,
        group: true,
    }
}

const ADT: &[Seg] = &[
    r("MSH"),
    or("SFT"),
    r("EVN"),
    r("PID"),
    o("PD1"),
    or("ROL"),
    or("NK1"),
    r("PV1"),
    o("PV2"),
    or("DB1"),
    or("OBX"),
    or("AL1"),
    or("DG1"),
    o("DRG"),
    or("PR1"),
    or("GT1"),
    or("IN1"),
    or("IN2"),
    or("IN3"),
    o("ACC"),
    o("UB1"),
    o("UB2"),
];
const ADT_A03: &[Seg] = ADT;
const ORM_O01: &[Seg] = &[
    r("MSH"),
    or("NTE"),
    o("PID"),
    o("PD1"),
    or("NTE"),
    o("PV1"),
    o("PV2"),
    or("IN1"),
    o("GT1"),
    or("AL1"),
    g("ORC"),
    o("OBR"),
    or("NTE"),
    or("DG1"),
    og("OBX"),
    or("NTE"),
    or("CTI"),
    o("BLG"),
];
const ORU_R01: &[Seg] = &[
    r("MSH"),
    or("SFT"),
    o("PID"),
    o("PD1"),
    or("NK1"),
    or("NTE"),
    o("PV1"),
    o("PV2"),
    o("ORC"),
    g("OBR"),
    or("NTE"),
    or("TQ1"),
    og("OBX"),
    or("NTE"),
    or("SPM"),
    or("CTI"),
    o("DSC"),
];
const SIU_S12: &[Seg] = &[
    r("MSH"),
    r("SCH"),
    or("TQ1"),
    or("NTE"),
    o("PID"),
    o("PD1"),
    o("PV1"),
    o("PV2"),
    or("OBX"),
    or("DG1"),
    g("RGS"),
    or("AIS"),
    or("AIG"),
    or("AIL"),
    or("AIP"),
    or("NTE"),
];
const MDM_T02: &[Seg] = &[
    r("MSH"),
    r("EVN"),
    r("PID"),
    r("PV1"),
    r("TXA"),
    or("CON"),
    rr("OBX"),
    or("NTE"),
];
const ACK: &[Seg] = &[r("MSH"), or("SFT"), r("MSA"), or("ERR")];

/// The segment grammar for a message type (`ADT^A01`), when we have one.
fn grammar(message_type: &str) -> Option<&'static [Seg]> {
    Some(match message_type {
        "ADT^A01" | "ADT^A04" | "ADT^A08" | "ADT^A05" | "ADT^A13" => ADT,
        "ADT^A03" => ADT_A03,
        "ORM^O01" => ORM_O01,
        "ORU^R01" => ORU_R01,
        "SIU^S12" | "SIU^S13" | "SIU^S14" | "SIU^S15" => SIU_S12,
        "MDM^T02" => MDM_T02,
        t if t.starts_with("ACK") => ACK,
        _ => return None,
    })
}

/// The message types `check` knows.
pub fn is_known(message_type: &str) -> bool {
    grammar(message_type).is_some()
}

enum Kind {
    Ts,
    Nm,
    Table(&'static str, &'static [&'static str]),
    Version,
}

/// Required fields (segment, field) of every message they appear in.
const REQUIRED: &[(&str, usize)] = &[
    ("MSH", 7),
    ("MSH", 9),
    ("MSH", 10),
    ("MSH", 11),
    ("MSH", 12),
    ("PID", 3),
    ("PID", 5),
    ("PV1", 2),
    ("ORC", 1),
    ("OBR", 4),
    ("OBX", 2),
    ("OBX", 3),
    ("OBX", 11),
    ("MSA", 1),
    ("MSA", 2),
    ("TXA", 2),
    ("SCH", 6),
];

/// Data types checked where a value is present (component 1 for composite types).
const TYPED: &[(&str, usize, Kind)] = &[
    ("MSH", 7, Kind::Ts),
    (
        "MSH",
        11,
        Kind::Table("0103 processing ID", &["D", "P", "T"]),
    ),
    ("MSH", 12, Kind::Version),
    ("EVN", 2, Kind::Ts),
    ("PID", 7, Kind::Ts),
    (
        "PID",
        8,
        Kind::Table("0001 administrative sex", &["F", "M", "O", "U", "A", "N"]),
    ),
    (
        "PV1",
        2,
        Kind::Table(
            "0004 patient class",
            &["B", "C", "E", "I", "N", "O", "P", "R", "U"],
        ),
    ),
    ("PV1", 44, Kind::Ts),
    ("PV1", 45, Kind::Ts),
    ("OBR", 7, Kind::Ts),
    ("OBX", 1, Kind::Nm),
    (
        "OBX",
        11,
        Kind::Table(
            "0085 observation result status",
            &["C", "D", "F", "I", "N", "O", "P", "R", "S", "U", "W", "X"],
        ),
    ),
    ("OBX", 14, Kind::Ts),
    (
        "OBX",
        2,
        Kind::Table(
            "0125 value type",
            &[
                "AD", "CE", "CF", "CK", "CN", "CP", "CWE", "CX", "DR", "DT", "DTM", "ED", "FT",
                "ID", "IS", "MO", "NM", "PN", "RP", "SN", "ST", "TM", "TN", "TS", "TX", "XAD",
                "XCN", "XON", "XPN", "XTN", "NA", "CNE",
            ],
        ),
    ),
    (
        "MSA",
        1,
        Kind::Table(
            "0008 acknowledgment code",
            &["AA", "AE", "AR", "CA", "CE", "CR"],
        ),
    ),
];

const VERSIONS: &[&str] = &[
    "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2",
];

fn ts_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,4})?)?)?)?)?)?([+-]\d{4})?$")
            .expect("static regex")
    })
}

fn nm_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[+-]?(\d+(\.\d*)?|\.\d+)$").expect("static regex"))
}

/// Every structure problem of `msg`. Unknown message types get the field and data type checks only.
pub fn check(msg: &Message) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mtype = msg.message_type();
    if let Some(grammar) = grammar(&mtype) {
        check_segments(msg, &mtype, grammar, &mut issues);
    }
    // Occurrences counted as we go: counting the earlier segments for each one made this
    // quadratic, 48 s of CPU for a 60k-segment message.
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for seg in &msg.segments {
        let occurrence = {
            let n = seen.entry(seg.name.as_str()).or_insert(0);
            *n += 1;
            *n
        };
        let loc = |field: usize| {
            if occurrence == 1 {
                format!("{}-{field}", seg.name)
            } else {
                format!("{}[{occurrence}]-{field}", seg.name)
            }
        };
        let value = |field: usize| -> String { msg.component_of(seg, field, 1) };
        for (name, field) in REQUIRED {
            if *name == seg.name && value(*field).is_empty() {
                issues.push(Issue {
                    location: loc(*field),
                    rule: "required field".into(),
                    message: "is empty".into(),
                });
            }
        }
        for (name, field, kind) in TYPED {
            if *name != seg.name {
                continue;
            }
            let v = value(*field);
            if v.is_empty() || v == "\"\"" {
                continue;
            }
            let problem = match kind {
                Kind::Ts if !ts_re().is_match(&v) => Some((
                    "TS format".to_string(),
                    format!("{v:?} is not YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]"),
                )),
                Kind::Nm if !nm_re().is_match(&v) => {
                    Some(("NM format".to_string(), format!("{v:?} is not a number")))
                }
                Kind::Table(table, codes) if !codes.contains(&v.as_str()) => Some((
                    format!("table {table}"),
                    format!("{v:?} is not one of {}", codes.join(", ")),
                )),
                Kind::Version if !VERSIONS.contains(&v.as_str()) => Some((
                    "version".to_string(),
                    format!("{v:?} is not an HL7 v2 version from 2.3 to 2.8"),
                )),
                _ => None,
            };
            if let Some((rule, message)) = problem {
                issues.push(Issue {
                    location: loc(*field),
                    rule,
                    message,
                });
            }
        }
        // OBX-5's type is given by OBX-2.
        if seg.name == "OBX" {
            let v = value(5);
            let vt = value(2);
            if !v.is_empty() && vt == "NM" && !nm_re().is_match(&v) {
                issues.push(Issue {
                    location: loc(5),
                    rule: "NM format (OBX-2 = NM)".into(),
                    message: format!("{v:?} is not a number"),
                });
            }
            if !v.is_empty() && matches!(vt.as_str(), "TS" | "DTM" | "DT") && !ts_re().is_match(&v)
            {
                issues.push(Issue {
                    location: loc(5),
                    rule: format!("{vt} format (OBX-2 = {vt})"),
                    message: format!("{v:?} is not a timestamp"),
                });
            }
        }
    }
    issues
}

fn check_segments(msg: &Message, mtype: &str, grammar: &[Seg], issues: &mut Vec<Issue>) {
    let position = |name: &str| grammar.iter().position(|s| s.name == name);
    let mut last: Option<usize> = None;
    for seg in &msg.segments {
        if seg.name.starts_with('Z') {
            continue; // site-defined segments may go anywhere
        }
        // A name can appear twice in a grammar (NTE after MSH and after OBR): prefer the next place.
        let forward = last.and_then(|l| (l..grammar.len()).find(|&i| grammar[i].name == seg.name));
        let Some(pos) = forward.or_else(|| position(&seg.name)) else {
            continue;
        };
        let rule = grammar[pos];
        if let Some(l) = last {
            if pos < l && !rule.group && !(pos == l && rule.repeats) {
                let after = grammar[l].name;
                issues.push(Issue {
                    location: format!("segment {}", seg.name),
                    rule: "segment order".into(),
                    message: format!("{} must come before {after} in {mtype}", seg.name),
                });
            }
            if pos == l && !rule.repeats && !rule.group {
                issues.push(Issue {
                    location: format!("segment {}", seg.name),
                    rule: "segment repetition".into(),
                    message: format!("{} may appear only once here in {mtype}", seg.name),
                });
            }
        }
        last = Some(pos);
    }
    let present: std::collections::HashSet<&str> =
        msg.segments.iter().map(|s| s.name.as_str()).collect();
    for rule in grammar.iter().filter(|r| r.required) {
        if !present.contains(rule.name) {
            issues.push(Issue {
                location: format!("segment {}", rule.name),
                rule: "required segment".into(),
                message: format!("{mtype} needs a {} segment", rule.name),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(text: &str) -> Vec<String> {
        check(&Message::parse(text).unwrap())
            .iter()
            .map(|i| i.to_string())
            .collect()
    }

    #[test]
    fn a_good_adt_and_oru_pass() {
        assert_eq!(issues("MSH|^~\\&|A|B|C|D|20260101120000||ADT^A01^ADT_A01|1|P|2.5.1\rEVN|A01|20260101\rPID|1||M1^^^H^MR||Doe^Jane||19800101|F\rPV1|1|I\rZPI|custom\r"), Vec::<String>::new());
        assert_eq!(issues("MSH|^~\\&|A|B|C|D|20260101||ORU^R01|2|P|2.5\rPID|1||M1||Doe\rOBR|1||F1|2345-7^Glucose^LN\rOBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F\rOBR|2||F2|718-7^Hgb^LN\rOBX|1|NM|718-7||13.5||||||F\r"), Vec::<String>::new());
    }

    #[test]
    fn broken_mappings_are_named() {
        let found = issues(
            "MSH|^~\\&|A|B|C|D|2026-01-01||ADT^A01|1|Q|2.9\rPID|1||||Doe||01/01/1980|X\rEVN|A01\r",
        );
        let expected = [
            "segment EVN (segment order): EVN must come before PID in ADT^A01",
            "segment PV1 (required segment): ADT^A01 needs a PV1 segment",
            "MSH-7 (TS format): \"2026-01-01\" is not YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]",
            "MSH-11 (table 0103 processing ID): \"Q\" is not one of D, P, T",
            "MSH-12 (version): \"2.9\" is not an HL7 v2 version from 2.3 to 2.8",
            "PID-3 (required field): is empty",
            "PID-7 (TS format): \"01/01/1980\" is not YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]",
            "PID-8 (table 0001 administrative sex): \"X\" is not one of F, M, O, U, A, N",
        ];
        assert_eq!(found, expected);
        let obx = issues(
            "MSH|^~\\&|A|B|C|D|20260101||ORU^R01|2|P|2.5\rOBR|1||F1|X\rOBX|1|NM|X||high||||||Z\r",
        );
        assert!(
            obx.contains(&"OBX-5 (NM format (OBX-2 = NM)): \"high\" is not a number".to_string()),
            "{obx:?}"
        );
        assert!(
            obx.iter().any(|i| i.starts_with("OBX-11 (table 0085")),
            "{obx:?}"
        );
    }
}
