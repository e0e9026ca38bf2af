//! HL7 v2 messages judged against the standard's own definitions (every message structure of
//! v2.3 to v2.8.2, generated from hl7apy; see `defs`), and optionally against a conformance
//! profile (`profile`). Findings name the segment, group, field and component, the rule and a
//! severity; site-defined (Z) segments are allowed anywhere. The work is linear in the message's
//! size: one pass matches the segments against the structure's automaton, one checks fields.

pub mod defs;
mod fields;
pub mod grammar;
pub mod profile;

use std::collections::HashMap;

use emr_core::hl7::Message;

pub use profile::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One rule broken, named by where and which rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// `PID-3[2].4`, `OBX[3]-5`, `segment 7 (NTE)`, `message`.
    pub location: String,
    /// The group the segment belongs to, e.g. `PATIENT_RESULT.ORDER_OBSERVATION`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `structure`, `required-field`, `datatype-DTM`, `table-0001`, `profile-usage`, ...
    pub rule: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        write!(
            f,
            "{sev} {} ({}): {}",
            self.location, self.rule, self.message
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// A conformance profile to check against besides the standard.
    pub profile: Option<&'a Profile>,
}

/// What was checked: the version and structure used, and the findings.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub version: String,
    pub structure: Option<String>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// True when nothing is wrong: no error, and with `strict` no warning either.
    pub fn passes(&self, strict: bool) -> bool {
        self.findings.iter().all(|f| match f.severity {
            Severity::Error => false,
            Severity::Warning => !strict,
            Severity::Info => true,
        })
    }
}

fn finding(severity: Severity, location: String, rule: &str, message: String) -> Finding {
    Finding {
        severity,
        location,
        group: None,
        rule: rule.into(),
        message,
    }
}

/// `SEG` or `SEG[n]` for the n-th occurrence.
fn seg_at(name: &str, occurrence: usize) -> String {
    if occurrence > 1 {
        format!("{name}[{occurrence}]")
    } else {
        name.to_string()
    }
}

/// Every finding of `msg`.
pub fn validate(msg: &Message, opts: &Options) -> Report {
    let mut report = Report::default();
    let Some(msh) = msg.segment("MSH", 1) else {
        report.findings.push(finding(
            Severity::Error,
            "message".into(),
            "structure",
            "the message has no MSH segment".into(),
        ));
        return report;
    };
    let version = msg.component_of(msh, 12, 1);
    report.version = version.clone();
    let code = msg.component_of(msh, 9, 1);
    let trigger = msg.component_of(msh, 9, 2);
    let declared = msg.component_of(msh, 9, 3);
    let Some(defs) = defs::for_version(&version) else {
        let known: Vec<&str> = defs::versions().collect();
        report.findings.push(finding(
            Severity::Warning,
            "MSH-12".into(),
            "version",
            if version.is_empty() {
                "MSH-12 (version) is empty: no definitions to check the message against".into()
            } else {
                format!(
                    "no definitions for version {version:?} (this tool has {}): structure and fields not checked",
                    known.join(", ")
                )
            },
        ));
        if let Some(p) = opts.profile {
            p.check(msg, &mut report.findings);
        }
        return report;
    };
    let structure = defs.structure_id(&code, &trigger, &declared);
    report.structure = structure.map(str::to_string);
    // MSH-9.3 must be the structure table 0354 gives the event (checked where both are known
    // and actually differ).
    if let (Some(s), Some(mapped)) = (structure, defs.events.get(&format!("{code}^{trigger}"))) {
        if !declared.is_empty()
            && s == declared
            && mapped != s
            && defs.structures.get(mapped).map(|m| format!("{m:?}"))
                != defs.structures.get(s).map(|m| format!("{m:?}"))
        {
            // A warning: the event → structure map comes from the v2.9 edition of table 0354
            // (older editions assigned some events elsewhere: RSP^K22 used RSP_K21 up to v2.7).
            report.findings.push(finding(
                Severity::Warning,
                "MSH-9.3".into(),
                "structure",
                format!(
                    "{code}^{trigger} has the structure {mapped} in v{}, not {declared}",
                    defs.version
                ),
            ));
        }
    }
    // A Z message type or event is a locally defined message (chapter 2): the site may add to the
    // structure it starts from, so structure problems are notes, not errors.
    let local = code.starts_with('Z') || trigger.starts_with('Z');
    let structure_severity = if local {
        Severity::Warning
    } else {
        Severity::Error
    };
    // Occurrence of each segment, counted as we go (linear, whatever the segment count).
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let occurrences: Vec<usize> = msg
        .segments
        .iter()
        .map(|s| {
            let n = counts.entry(s.name.as_str()).or_insert(0);
            *n += 1;
            *n
        })
        .collect();
    // Z-segments are the site's own and may stand anywhere.
    let standard: Vec<usize> = (0..msg.segments.len())
        .filter(|&i| !msg.segments[i].name.starts_with('Z'))
        .collect();
    let mut groups: Vec<Option<std::sync::Arc<str>>> = vec![None; msg.segments.len()];
    match structure.and_then(|s| grammar::grammar(defs, s)) {
        None => report.findings.push(finding(
            Severity::Warning,
            "MSH-9".into(),
            "structure",
            format!(
                "no message structure for {code}^{trigger}{} in v{}: segment order not checked",
                if declared.is_empty() {
                    String::new()
                } else {
                    format!("^{declared}")
                },
                defs.version
            ),
        )),
        Some(g) => {
            let sid = structure.unwrap_or_default();
            let matched = g.run(standard.iter().map(|&i| msg.segments[i].name.as_str()));
            for (k, grp) in matched.groups.into_iter().enumerate() {
                groups[standard[k]] = grp;
            }
            for p in matched.problems {
                match p {
                    grammar::Problem::NotHere {
                        index,
                        expected,
                        known,
                    } => {
                        let i = standard[index];
                        let name = &msg.segments[i].name;
                        let at = format!("{} (segment {})", seg_at(name, occurrences[i]), i + 1);
                        let message = if known {
                            format!(
                                "{name} cannot stand here in {sid}; expected {}",
                                if expected.is_empty() {
                                    "the end of the message".to_string()
                                } else {
                                    format!("one of {}", expected.join(", "))
                                }
                            )
                        } else if defs.segments.contains_key(name.as_str()) {
                            format!("{name} is not part of {sid} (v{})", defs.version)
                        } else {
                            format!("{name} is not a segment of v{}", defs.version)
                        };
                        report.findings.push(finding(
                            structure_severity,
                            at,
                            if known {
                                "segment-order"
                            } else {
                                "unexpected-segment"
                            },
                            message,
                        ));
                    }
                    grammar::Problem::Ends { owed } => {
                        for (name, group) in owed {
                            let mut f = finding(
                                structure_severity,
                                format!("segment {name}"),
                                "required-segment",
                                format!(
                                    "{sid} needs a {name} segment{}",
                                    if group.is_empty() {
                                        String::new()
                                    } else {
                                        format!(" (in group {group})")
                                    }
                                ),
                            );
                            f.group = (!group.is_empty()).then(|| group.to_string());
                            report.findings.push(f);
                        }
                    }
                }
            }
        }
    }
    for (i, seg) in msg.segments.iter().enumerate() {
        let Some(fields) = defs.segments.get(seg.name.as_str()) else {
            continue;
        };
        let mut checker = fields::FieldChecker {
            defs,
            d: msg.delimiters,
            out: &mut report.findings,
            group: groups[i].as_deref().filter(|g| !g.is_empty()),
        };
        checker.segment(seg, occurrences[i], fields);
    }
    if let Some(p) = opts.profile {
        p.check(msg, &mut report.findings);
    }
    report
}

/// The message validator the runner hands to the checks: the standard's definitions, plus a
/// scenario's conformance profile (parsed once per distinct profile text).
#[derive(Debug, Default)]
pub struct V2Validator {
    profiles: std::sync::Mutex<HashMap<usize, Result<std::sync::Arc<Profile>, String>>>,
}

impl V2Validator {
    fn profile(&self, xml: &std::sync::Arc<str>) -> Result<std::sync::Arc<Profile>, String> {
        // Keyed by the text's address: a scenario's profile is one shared allocation, loaded once.
        let key = xml.as_ptr() as usize;
        let mut cache = self.profiles.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| Profile::parse(xml).map(std::sync::Arc::new))
            .clone()
    }
}

impl emr_core::check::MessageValidator for V2Validator {
    fn check(
        &self,
        msg: &Message,
        rules: &emr_core::scenario::StructureRules,
    ) -> Vec<emr_core::check::Issue> {
        let profile = match rules.profile.as_ref().map(|p| self.profile(p)) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                return vec![emr_core::check::Issue {
                    error: true,
                    text: format!("the conformance profile does not load: {e}"),
                }]
            }
        };
        let report = validate(
            msg,
            &Options {
                profile: profile.as_deref(),
            },
        );
        report
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .map(|f| emr_core::check::Issue {
                error: f.severity == Severity::Error,
                text: f.to_string(),
            })
            .collect()
    }
}
