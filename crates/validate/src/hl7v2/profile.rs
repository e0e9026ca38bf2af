//! HL7 v2 conformance profiles: the XML message-profile format of the Messaging Workbench, IGAMT
//! and NIST's validation tools (`HL7v2xConformanceProfile` → `HL7v2xStaticDef` → `Segment`,
//! `SegGroup`, `Field`, `Component`, `SubComponent`). An interface's own rules on top of the
//! standard: usage (R, RE, O, X, C, B), cardinality (`Min`/`Max`), length, fixed values
//! (`ConstantValue`) and value sets (`Table`, from the profile's own table library or the
//! standard's tables).

use std::collections::HashMap;

use super::defs::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::defs::{self, Element};
use super::grammar::{Grammar, Problem};
use super::{Finding, Severity};
use emr_core::hl7::message::decode;
use emr_core::hl7::Message;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ProfileError {
    pub path: String,
    pub message: String,
}

/// A field, component or subcomponent as the profile constrains it.
#[derive(Debug, Clone)]
struct Item {
    name: String,
    usage: String,
    min: u32,
    max: Option<u32>,
    length: Option<usize>,
    table: Option<String>,
    constant: Option<String>,
    children: Vec<Item>,
}

#[derive(Debug, Clone)]
enum Node {
    Segment {
        name: String,
        usage: String,
        min: u32,
        max: Option<u32>,
        fields: Vec<Item>,
    },
    Group {
        name: String,
        usage: String,
        min: u32,
        max: Option<u32>,
        children: Vec<Node>,
    },
}

#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub version: String,
    pub message_type: String,
    pub event: String,
    pub structure: String,
    nodes: Vec<Node>,
    tables: HashMap<String, HashSet<String>>,
    grammar: Arc<Grammar>,
    /// (group path, segment name) → the segment's fields.
    fields: HashMap<(String, String), Vec<Item>>,
}

fn attr<'a>(n: roxmltree::Node<'a, 'a>, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|a| n.attribute(*a))
}

fn max_of(s: Option<&str>) -> Option<u32> {
    match s {
        None => Some(1),
        Some("*") | Some("-1") => None,
        Some(v) => v.trim().parse().ok(),
    }
}

fn item(n: roxmltree::Node) -> Item {
    let child_tag = match n.tag_name().name() {
        "Field" => "Component",
        _ => "SubComponent",
    };
    Item {
        name: attr(n, &["Name"]).unwrap_or_default().to_string(),
        usage: attr(n, &["Usage"]).unwrap_or("O").to_ascii_uppercase(),
        min: attr(n, &["Min"]).and_then(|v| v.parse().ok()).unwrap_or(0),
        max: max_of(attr(n, &["Max"])),
        length: attr(n, &["Length", "MaxLength"]).and_then(|v| v.parse().ok()),
        table: attr(n, &["Table", "Binding"]).map(str::to_string),
        constant: attr(n, &["ConstantValue"]).map(str::to_string),
        children: n
            .children()
            .filter(|c| c.tag_name().name() == child_tag)
            .map(item)
            .collect(),
    }
}

fn nodes(parent: roxmltree::Node) -> Vec<Node> {
    parent
        .children()
        .filter_map(|c| {
            let usage = attr(c, &["Usage"]).unwrap_or("O").to_ascii_uppercase();
            let min = attr(c, &["Min"]).and_then(|v| v.parse().ok()).unwrap_or(0);
            let max = max_of(attr(c, &["Max"]));
            let name = attr(c, &["Name"]).unwrap_or_default().to_string();
            match c.tag_name().name() {
                "Segment" => Some(Node::Segment {
                    name,
                    usage,
                    min,
                    max,
                    fields: c
                        .children()
                        .filter(|f| f.tag_name().name() == "Field")
                        .map(item)
                        .collect(),
                }),
                "SegGroup" => Some(Node::Group {
                    name,
                    usage,
                    min,
                    max,
                    children: nodes(c),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The profile as a structure the grammar reads: X elements left out (a present one is then
/// "not part of" the message), R at least once.
fn elements(nodes: &[Node]) -> Vec<Element> {
    nodes
        .iter()
        .filter_map(|n| {
            let (usage, min, max) = match n {
                Node::Segment {
                    usage, min, max, ..
                }
                | Node::Group {
                    usage, min, max, ..
                } => (usage, *min, *max),
            };
            if usage == "X" {
                return None;
            }
            let min = if usage == "R" { min.max(1) } else { 0 };
            Some(match n {
                Node::Segment { name, .. } => Element::Segment {
                    name: name.clone(),
                    min,
                    max,
                },
                Node::Group { name, children, .. } => Element::Group {
                    name: name.clone(),
                    min,
                    max,
                    choice: false,
                    children: elements(children),
                },
            })
        })
        .collect()
}

fn index_fields(nodes: &[Node], group: &str, out: &mut HashMap<(String, String), Vec<Item>>) {
    for n in nodes {
        match n {
            Node::Segment { name, fields, .. } => {
                out.entry((group.to_string(), name.clone()))
                    .or_insert_with(|| fields.clone());
            }
            Node::Group { name, children, .. } => {
                let inner = if group.is_empty() {
                    name.clone()
                } else {
                    format!("{group}.{name}")
                };
                index_fields(children, &inner, out);
            }
        }
    }
}

fn x_names(nodes: &[Node], out: &mut HashSet<String>) {
    for n in nodes {
        match n {
            Node::Segment { name, usage, .. } if usage == "X" => {
                out.insert(name.clone());
            }
            Node::Group { children, .. } => x_names(children, out),
            _ => {}
        }
    }
}

impl Profile {
    pub fn from_file(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Profile::parse(&text).map_err(|message| ProfileError {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(xml: &str) -> Result<Profile, String> {
        let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
        let root = doc.root_element();
        if root.tag_name().name() != "HL7v2xConformanceProfile" {
            return Err(format!(
                "the root element is <{}>, not <HL7v2xConformanceProfile>",
                root.tag_name().name()
            ));
        }
        let def = root
            .descendants()
            .find(|n| n.tag_name().name() == "HL7v2xStaticDef")
            .ok_or("no <HL7v2xStaticDef> (the message definition)")?;
        let name = root
            .descendants()
            .find(|n| n.tag_name().name() == "MetaData")
            .and_then(|m| m.attribute("Name"))
            .unwrap_or("profile")
            .to_string();
        let nodes = nodes(def);
        if nodes.is_empty() {
            return Err("the message definition has no segments".into());
        }
        // Value sets the profile carries itself: NIST's TableLibrary or the Workbench's hl7tables.
        let mut tables: HashMap<String, HashSet<String>> = HashMap::new();
        for t in root.descendants().filter(|n| {
            matches!(
                n.tag_name().name(),
                "TableDefinition" | "hl7table" | "Table"
            )
        }) {
            let Some(id) = attr(t, &["Id", "id", "Name"]) else {
                continue;
            };
            let codes: HashSet<String> = t
                .children()
                .filter_map(|e| attr(e, &["Code", "code"]).map(str::to_string))
                .collect();
            if !codes.is_empty() {
                tables.insert(id.to_string(), codes);
            }
        }
        let mut fields = HashMap::new();
        index_fields(&nodes, "", &mut fields);
        let grammar = Arc::new(Grammar::compile(&elements(&nodes)));
        Ok(Profile {
            name,
            version: attr(root, &["HL7Version"]).unwrap_or_default().to_string(),
            message_type: attr(def, &["MsgType"]).unwrap_or_default().to_string(),
            event: attr(def, &["EventType"]).unwrap_or_default().to_string(),
            structure: attr(def, &["MsgStructID"]).unwrap_or_default().to_string(),
            nodes,
            tables,
            grammar,
            fields,
        })
    }

    fn codes(&self, table: &str) -> Option<&HashSet<String>> {
        if let Some(t) = self.tables.get(table) {
            return Some(t);
        }
        let defs = defs::for_version(&self.version)?;
        let t = defs.tables.get(table)?;
        (!t.codes.is_empty()).then_some(&t.codes)
    }

    /// Adds the profile's findings on `msg` to `out`.
    pub fn check(&self, msg: &Message, out: &mut Vec<Finding>) {
        let push = |out: &mut Vec<Finding>, location: String, rule: &str, message: String| {
            out.push(Finding {
                severity: Severity::Error,
                location,
                group: None,
                rule: rule.to_string(),
                message,
            })
        };
        let mtype = msg.message_type();
        let want = format!("{}^{}", self.message_type, self.event);
        if !self.message_type.is_empty() && mtype != want && !mtype.starts_with("ACK") {
            push(
                out,
                "MSH-9".into(),
                "profile-message-type",
                format!(
                    "profile {} is for {want}; the message is {mtype}",
                    self.name
                ),
            );
        }
        let mut xs = HashSet::default();
        x_names(&self.nodes, &mut xs);
        let idx: Vec<usize> = (0..msg.segments.len())
            .filter(|&i| {
                let n = &msg.segments[i].name;
                !n.starts_with('Z') || self.grammar.knows(n) || xs.contains(n)
            })
            .collect();
        let matched = self
            .grammar
            .run(idx.iter().map(|&i| msg.segments[i].name.as_str()));
        for p in matched.problems {
            match p {
                Problem::NotHere {
                    index, expected, ..
                } => {
                    let i = idx[index];
                    let name = &msg.segments[i].name;
                    let (rule, why) = if xs.contains(name) {
                        ("profile-usage", "is not supported (usage X) in".to_string())
                    } else {
                        (
                            "profile-structure",
                            format!(
                                "cannot stand here (expected {}) in",
                                if expected.is_empty() {
                                    "the end".to_string()
                                } else {
                                    expected.join(", ")
                                }
                            ),
                        )
                    };
                    push(
                        out,
                        format!("segment {} ({name})", i + 1),
                        rule,
                        format!("{name} {why} profile {}", self.name),
                    );
                }
                Problem::Ends { owed } => {
                    for (name, _) in owed {
                        push(
                            out,
                            format!("segment {name}"),
                            "profile-usage",
                            format!("{name} is required (usage R) by profile {}", self.name),
                        );
                    }
                }
            }
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (k, &i) in idx.iter().enumerate() {
            let seg = &msg.segments[i];
            let n = counts.entry(seg.name.as_str()).or_insert(0);
            *n += 1;
            let group = matched.groups.get(k).cloned().flatten();
            let key = (group.as_deref().unwrap_or("").to_string(), seg.name.clone());
            let Some(fields) = self.fields.get(&key) else {
                continue;
            };
            let at = if *n > 1 {
                format!("{}[{n}]", seg.name)
            } else {
                seg.name.clone()
            };
            for (f, def) in fields.iter().enumerate() {
                let raw = seg.fields.get(f).map(String::as_str).unwrap_or("");
                let loc = format!("{at}-{}", f + 1);
                if seg.name == "MSH" && f < 2 {
                    continue;
                }
                let reps: Vec<&str> = if raw.is_empty() {
                    Vec::new()
                } else {
                    raw.split(msg.delimiters.repetition).collect()
                };
                self.item_rules(msg, def, &loc, &reps, 0, out);
            }
        }
    }

    /// Usage, cardinality, length, fixed value and value set of one field (level 0), component
    /// (1) or subcomponent (2), given its repetitions (one for a component).
    fn item_rules(
        &self,
        msg: &Message,
        def: &Item,
        loc: &str,
        values: &[&str],
        level: u8,
        out: &mut Vec<Finding>,
    ) {
        let d = &msg.delimiters;
        let push = |out: &mut Vec<Finding>, rule: &str, message: String| {
            out.push(Finding {
                severity: Severity::Error,
                location: loc.to_string(),
                group: None,
                rule: rule.to_string(),
                message,
            })
        };
        let present: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty()).collect();
        match def.usage.as_str() {
            "R" if present.is_empty() => {
                push(
                    out,
                    "profile-usage",
                    format!("{} is required (usage R) and empty", def.name),
                );
                return;
            }
            "X" if !present.is_empty() => {
                push(
                    out,
                    "profile-usage",
                    format!("{} is not supported (usage X) but has a value", def.name),
                );
                return;
            }
            _ => {}
        }
        if level == 0 {
            if present.len() < def.min as usize && !present.is_empty() {
                push(
                    out,
                    "profile-cardinality",
                    format!(
                        "{} repeats {} times; the profile asks for at least {}",
                        def.name,
                        present.len(),
                        def.min
                    ),
                );
            }
            if let Some(max) = def.max.filter(|m| present.len() > *m as usize) {
                push(
                    out,
                    "profile-cardinality",
                    format!(
                        "{} repeats {} times; the profile allows {max}",
                        def.name,
                        present.len()
                    ),
                );
            }
        }
        for v in &present {
            let sep = if level == 0 {
                d.component
            } else {
                d.subcomponent
            };
            if def.children.is_empty() || level >= 2 {
                let text = decode(v, d);
                if let Some(len) = def.length.filter(|l| text.chars().count() > *l) {
                    push(
                        out,
                        "profile-length",
                        format!(
                            "{} is {} characters; the profile allows {len}",
                            def.name,
                            text.chars().count()
                        ),
                    );
                }
                if let Some(c) = def.constant.as_deref().filter(|c| *c != text) {
                    push(
                        out,
                        "profile-fixed",
                        format!("{} is {text:?}; the profile fixes it to {c:?}", def.name),
                    );
                }
                if let Some(codes) = def.table.as_deref().and_then(|t| self.codes(t)) {
                    if !codes.contains(&text) {
                        let t = def.table.as_deref().unwrap_or_default();
                        push(
                            out,
                            "profile-value-set",
                            format!("{text:?} is not in value set {t} of {}", def.name),
                        );
                    }
                }
                continue;
            }
            if let Some(codes) = def.table.as_deref().and_then(|t| self.codes(t)) {
                let code = decode(v.split(sep).next().unwrap_or(""), d);
                if !code.is_empty() && !codes.contains(&code) {
                    let t = def.table.as_deref().unwrap_or_default();
                    push(
                        out,
                        "profile-value-set",
                        format!("{code:?} is not in value set {t} of {}", def.name),
                    );
                }
            }
            let parts: Vec<&str> = v.split(sep).collect();
            for (k, c) in def.children.iter().enumerate() {
                let part = parts.get(k).copied().unwrap_or("");
                let cloc = format!("{loc}.{}", k + 1);
                self.item_rules(msg, c, &cloc, &[part], level + 1, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"<?xml version="1.0"?>
<HL7v2xConformanceProfile HL7Version="2.5.1" ProfileType="Implementation">
  <MetaData Name="test-adt"/>
  <HL7v2xStaticDef MsgType="ADT" EventType="A01" MsgStructID="ADT_A01">
    <Segment Name="MSH" Usage="R" Min="1" Max="1">
      <Field Name="Field Separator" Usage="R" Min="1" Max="1"/>
      <Field Name="Encoding Characters" Usage="R" Min="1" Max="1"/>
      <Field Name="Sending Application" Usage="R" Min="1" Max="1">
        <Component Name="Namespace ID" Usage="R" ConstantValue="REGADT"/>
      </Field>
    </Segment>
    <Segment Name="EVN" Usage="R" Min="1" Max="1"/>
    <Segment Name="PID" Usage="R" Min="1" Max="1">
      <Field Name="Set ID" Usage="O" Min="0" Max="1"/>
      <Field Name="Patient ID" Usage="X" Min="0" Max="0"/>
      <Field Name="Identifier List" Usage="R" Min="1" Max="2"/>
      <Field Name="Alternate ID" Usage="O" Min="0" Max="1"/>
      <Field Name="Name" Usage="R" Min="1" Max="1" Length="20"/>
      <Field Name="Mother Maiden" Usage="O" Min="0" Max="1"/>
      <Field Name="Birth" Usage="O" Min="0" Max="1"/>
      <Field Name="Sex" Usage="R" Min="1" Max="1" Table="SEX"/>
    </Segment>
    <Segment Name="NK1" Usage="X" Min="0" Max="0"/>
    <Segment Name="PV1" Usage="R" Min="1" Max="1"/>
  </HL7v2xStaticDef>
  <TableLibrary><TableDefinition Id="SEX"><TableElement Code="F"/><TableElement Code="M"/></TableDefinition></TableLibrary>
</HL7v2xConformanceProfile>"#;

    fn findings(msg: &str) -> Vec<String> {
        let p = Profile::parse(PROFILE).unwrap();
        let m = Message::parse(msg).unwrap();
        let mut out = Vec::new();
        p.check(&m, &mut out);
        out.iter()
            .map(|f| format!("{} {}", f.location, f.rule))
            .collect()
    }

    #[test]
    fn a_conformant_message_passes() {
        let ok = "MSH|^~\\&|REGADT|H|EMR|H|20260101||ADT^A01^ADT_A01|1|P|2.5.1\rEVN|A01\rPID|1||M1^^^H^MR||Doe^Jane||19800101|F\rPV1|1|I\r";
        assert_eq!(findings(ok), Vec::<String>::new());
    }

    #[test]
    fn each_kind_of_profile_rule_is_caught_where_it_is_broken() {
        let bad = "MSH|^~\\&|OTHER|H|EMR|H|20260101||ADT^A01^ADT_A01|1|P|2.5.1\rEVN|A01\rPID|1|X9|M1~M2~M3||Doe^Jane-Alexandra-Maria-Smith||19800101|Q\rNK1|1|Doe^John\r";
        let got = findings(bad);
        for want in [
            "MSH-3.1 profile-fixed",
            "PID-2 profile-usage",
            "PID-3 profile-cardinality",
            "PID-5 profile-length",
            "PID-8 profile-value-set",
            "segment 4 (NK1) profile-usage",
            "segment PV1 profile-usage",
        ] {
            assert!(got.iter().any(|g| g == want), "{want} not in {got:?}");
        }
    }
}
