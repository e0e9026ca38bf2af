//! The HL7 v2 definitions of each version, as generated from hl7apy (see `data/hl7v2/PROVENANCE.md`):
//! message structures with their groups, segments' fields, composite data types' components,
//! tables, and the trigger event → structure mapping. Every version's file is compiled into the
//! binary (3.5 MB of JSON in all) and parsed the first time a message of that version is checked.

// FxHash: every field of every message looks up its segment, type and table by name; SipHash's
// DoS resistance buys nothing for keys that come from our own definitions.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;
pub(crate) type HashSet<K> = std::collections::HashSet<K, rustc_hash::FxBuildHasher>;
use std::sync::OnceLock;

use serde::Deserialize;

/// The versions with definitions, and their data files.
const FILES: &[(&str, &str)] = &[
    ("2.3", include_str!("../../data/hl7v2/v2.3.json")),
    ("2.3.1", include_str!("../../data/hl7v2/v2.3.1.json")),
    ("2.4", include_str!("../../data/hl7v2/v2.4.json")),
    ("2.5", include_str!("../../data/hl7v2/v2.5.json")),
    ("2.5.1", include_str!("../../data/hl7v2/v2.5.1.json")),
    ("2.6", include_str!("../../data/hl7v2/v2.6.json")),
    ("2.7", include_str!("../../data/hl7v2/v2.7.json")),
    ("2.8", include_str!("../../data/hl7v2/v2.8.json")),
    ("2.8.1", include_str!("../../data/hl7v2/v2.8.1.json")),
    ("2.8.2", include_str!("../../data/hl7v2/v2.8.2.json")),
];

/// Documented corrections to the generated data (`data/hl7v2/corrections.json`).
const CORRECTIONS: &str = include_str!("../../data/hl7v2/corrections.json");

/// Versions hl7apy has no package for, checked with the nearest earlier definitions.
const NEAREST: &[(&str, &str)] = &[("2.7.1", "2.7")];

pub fn versions() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(v, _)| *v)
}

/// The definitions used for `version` (`2.7.1` uses 2.7's), parsed once.
pub fn for_version(version: &str) -> Option<&'static Definitions> {
    static PARSED: [OnceLock<Option<Definitions>>; 10] = [const { OnceLock::new() }; 10];
    let version = NEAREST
        .iter()
        .find(|(v, _)| *v == version)
        .map_or(version, |(_, n)| *n);
    let i = FILES.iter().position(|(v, _)| *v == version)?;
    PARSED[i]
        .get_or_init(|| {
            let mut defs = serde_json::from_str::<Raw>(FILES[i].1)
                .ok()
                .map(Definitions::from)?;
            if let Ok(c) = serde_json::from_str::<Corrections>(CORRECTIONS) {
                c.apply(&mut defs);
            }
            Some(defs)
        })
        .as_ref()
}

#[derive(Deserialize)]
struct Corrections {
    fields: Vec<FieldFix>,
    tables: Vec<TableFix>,
    inherit: Vec<Inherit>,
}

#[derive(Deserialize)]
struct FieldFix {
    versions: Vec<String>,
    segment: String,
    field: usize,
    usage: Option<String>,
    min: Option<u32>,
}

#[derive(Deserialize)]
struct TableFix {
    versions: Vec<String>,
    table: String,
    add: Vec<String>,
}

#[derive(Deserialize)]
struct Inherit {
    version: String,
    from: String,
    what: String,
}

impl Corrections {
    fn apply(&self, defs: &mut Definitions) {
        let applies = |vs: &[String]| vs.iter().any(|v| v == "*" || *v == defs.version);
        for f in &self.fields {
            if !applies(&f.versions) {
                continue;
            }
            if let Some(item) = defs
                .segments
                .get_mut(&f.segment)
                .and_then(|s| s.get_mut(f.field.wrapping_sub(1)))
            {
                if let Some(u) = &f.usage {
                    item.usage = u.clone();
                }
                if let Some(m) = f.min {
                    item.min = m;
                }
            }
        }
        for t in &self.tables {
            if applies(&t.versions) {
                if let Some(table) = defs.tables.get_mut(&t.table) {
                    table.codes.extend(t.add.iter().cloned());
                }
            }
        }
        for inh in self.inherit.iter().filter(|i| i.version == defs.version) {
            // The source version is parsed on its own, without corrections (no recursion).
            let Some(Ok(src)) = FILES
                .iter()
                .find(|(v, _)| *v == inh.from)
                .map(|(_, text)| serde_json::from_str::<Raw>(text).map(Definitions::from))
            else {
                continue;
            };
            match inh.what.as_str() {
                "repetition" => {
                    for (name, fields) in defs.segments.iter_mut() {
                        let Some(theirs) = src.segments.get(name) else {
                            continue;
                        };
                        for (mine, other) in fields.iter_mut().zip(theirs) {
                            if mine.max == Some(1) && other.max.is_none() {
                                mine.max = None;
                            }
                        }
                    }
                }
                "component-tables" => {
                    for (name, comps) in defs.datatypes.iter_mut() {
                        let Some(theirs) = src.datatypes.get(name) else {
                            continue;
                        };
                        for (mine, other) in comps.iter_mut().zip(theirs) {
                            if mine.table.is_none() && other.table.is_some() {
                                mine.table = other.table.clone();
                            }
                        }
                    }
                    for (id, table) in src.tables {
                        defs.tables.entry(id).or_insert(table);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A field of a segment or a component of a data type.
#[derive(Debug, Clone)]
pub struct Item {
    pub name: String,
    pub datatype: Option<String>,
    /// R (required), O, C, B, X, W (withdrawn), as the source gives it.
    pub usage: String,
    pub min: u32,
    /// `None`: unbounded.
    pub max: Option<u32>,
    pub length: Option<u32>,
    pub table: Option<String>,
}

/// An element of a message structure: a segment or a group.
#[derive(Debug, Clone)]
pub enum Element {
    Segment {
        name: String,
        min: u32,
        max: Option<u32>,
    },
    Group {
        name: String,
        min: u32,
        max: Option<u32>,
        /// One of the children, not all in order.
        choice: bool,
        children: Vec<Element>,
    },
}

/// A code table: whether HL7 defines it (a code outside it is an error) or each site does.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub kind: TableKind,
    pub codes: HashSet<String>,
    /// The codes as a finding lists them (sorted, the first 12), made once per table.
    listing: std::sync::OnceLock<String>,
}

impl Table {
    pub fn new(name: String, kind: TableKind, codes: HashSet<String>) -> Self {
        Table {
            name,
            kind,
            codes,
            listing: std::sync::OnceLock::new(),
        }
    }

    /// `A, B, C, ... (40 codes)`: what a finding about a code outside the table shows.
    pub fn listing(&self) -> &str {
        self.listing.get_or_init(|| {
            let mut known: Vec<&str> = self.codes.iter().map(String::as_str).collect();
            known.sort_unstable();
            if known.len() <= 12 {
                known.join(", ")
            } else {
                format!("{}, ... ({} codes)", known[..12].join(", "), known.len())
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Hl7,
    User,
    /// The source does not say.
    Unknown,
}

#[derive(Debug)]
pub struct Definitions {
    pub version: String,
    pub events: HashMap<String, String>,
    pub structures: HashMap<String, Vec<Element>>,
    pub segments: HashMap<String, Vec<Item>>,
    pub datatypes: HashMap<String, Vec<Item>>,
    pub primitives: HashSet<String>,
    pub tables: HashMap<String, Table>,
}

impl Definitions {
    /// The structure of `type^trigger` (MSH-9.3 wins when it names a known structure).
    pub fn structure_id(&self, code: &str, trigger: &str, declared: &str) -> Option<&str> {
        if !declared.is_empty() {
            if let Some((k, _)) = self.structures.get_key_value(declared) {
                return Some(k);
            }
        }
        let key = format!("{code}^{trigger}");
        if let Some(s) = self.events.get(&key) {
            return Some(s);
        }
        if code == "ACK" {
            return self
                .structures
                .get_key_value("ACK")
                .map(|(k, _)| k.as_str());
        }
        // A structure named like the event (ORU_R01, SIU_S12) when the mapping lacks it.
        let same = format!("{code}_{trigger}");
        self.structures
            .get_key_value(&same)
            .map(|(k, _)| k.as_str())
    }

    /// How many structures, segments, data types, tables and events (for the notes).
    pub fn counts(&self) -> [usize; 5] {
        [
            self.structures.len(),
            self.segments.len(),
            self.datatypes.len() + self.primitives.len(),
            self.tables.len(),
            self.events.len(),
        ]
    }
}

#[derive(Deserialize)]
struct Raw {
    version: String,
    events: HashMap<String, String>,
    structures: HashMap<String, Vec<serde_json::Value>>,
    segments: HashMap<String, Vec<RawItem>>,
    datatypes: HashMap<String, Vec<RawItem>>,
    primitives: Vec<String>,
    tables: HashMap<String, RawTable>,
}

/// `[name, datatype, usage, min, max, length, table]`.
#[derive(Deserialize)]
struct RawItem(
    String,
    Option<String>,
    String,
    u32,
    i64,
    Option<u32>,
    Option<String>,
);

#[derive(Deserialize)]
struct RawTable {
    #[serde(default)]
    n: String,
    #[serde(default)]
    t: String,
    #[serde(default)]
    v: HashMap<String, String>,
}

fn max_of(m: i64) -> Option<u32> {
    (m >= 0).then_some(m as u32)
}

fn element(v: &serde_json::Value) -> Option<Element> {
    let a = v.as_array()?;
    let name = a.first()?.as_str()?.to_string();
    let min = a.get(1)?.as_u64()? as u32;
    let max = max_of(a.get(2)?.as_i64()?);
    match a.get(3) {
        None => Some(Element::Segment { name, min, max }),
        Some(children) => {
            let children = children.as_array()?.iter().filter_map(element).collect();
            let (choice, name) = match name.strip_prefix("choice:") {
                Some(n) => (true, n.to_string()),
                None => (false, name),
            };
            Some(Element::Group {
                name,
                min,
                max,
                choice,
                children,
            })
        }
    }
}

fn items(raw: Vec<RawItem>) -> Vec<Item> {
    raw.into_iter()
        .map(
            |RawItem(name, datatype, usage, min, max, length, table)| Item {
                name,
                datatype,
                usage,
                min,
                max: max_of(max),
                length,
                table,
            },
        )
        .collect()
}

impl From<Raw> for Definitions {
    fn from(r: Raw) -> Self {
        Definitions {
            version: r.version,
            events: r.events,
            structures: r
                .structures
                .into_iter()
                .map(|(k, v)| (k, v.iter().filter_map(element).collect()))
                .collect(),
            segments: r.segments.into_iter().map(|(k, v)| (k, items(v))).collect(),
            datatypes: r
                .datatypes
                .into_iter()
                .map(|(k, v)| (k, items(v)))
                .collect(),
            primitives: r.primitives.into_iter().collect(),
            tables: r
                .tables
                .into_iter()
                .map(|(k, t)| {
                    let kind = match t.t.as_str() {
                        "HL7" => TableKind::Hl7,
                        "User" => TableKind::User,
                        _ => TableKind::Unknown,
                    };
                    (k, Table::new(t.n, kind, t.v.into_keys().collect()))
                })
                .collect(),
        }
    }
}
