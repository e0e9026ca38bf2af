//! The definitions a validation runs against: FHIR R4 4.0.1's own StructureDefinitions, ValueSets
//! and CodeSystems (`data/fhir/r4-core.json.gz`, compiled into the binary), plus whatever IG
//! packages and profiles the user adds.
//!
//! Why carried this way: the trimmed R4 definitions are 664 KB gzipped (10 MB of JSON), small
//! enough to embed, so the tool works offline on a fresh machine with no download step and no
//! build script; they are read once per process on first use (about 60 ms in a release build)
//! rather than turned into Rust source, which would put 10 MB of generated code through rustc on
//! every clean build, the cost issue 13 is about.

// FxHash: the walk looks types up by name for every element of every resource; the keys are
// the definitions' own, so SipHash's resistance to chosen keys buys nothing here.
type HashMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;
use std::io::Read as _;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use super::structure::{compile, ConstraintPool, Kind, Structure};
use super::terminology::Expansion;

static R4_CORE: &[u8] = include_bytes!("../../data/fhir/r4-core.json.gz");

#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    #[error("reading definitions: {0}")]
    Io(String),
    #[error("{0}: not FHIR JSON: {1}")]
    Json(String, String),
    #[error("{0}")]
    Package(String),
}

/// Everything a validator looks up, indexed.
pub struct Definitions {
    structures: Vec<Structure>,
    by_url: HashMap<String, usize>,
    /// The base (non-profile) definition of each type: `Patient`, `HumanName`, `string`.
    by_type: HashMap<String, usize>,
    pub(crate) value_sets: HashMap<String, Value>,
    pub(crate) code_systems: HashMap<String, Value>,
    pub(crate) questionnaires: HashMap<String, Value>,
    pub(crate) expansions: Mutex<HashMap<String, Arc<Expansion>>>,
    pub(crate) pool: ConstraintPool,
    /// Resources whose snapshot had to be generated, and what could not be.
    pub(crate) notes: Vec<String>,
    /// The JSON of StructureDefinitions added beyond the core (few), for snapshot generation.
    raw_added: HashMap<String, Value>,
}

impl std::fmt::Debug for Definitions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Definitions")
            .field("structures", &self.structures.len())
            .field("value_sets", &self.value_sets.len())
            .field("code_systems", &self.code_systems.len())
            .finish()
    }
}

impl Definitions {
    /// The FHIR R4 core definitions, read once per process.
    pub fn r4() -> Arc<Definitions> {
        static CORE: OnceLock<Arc<Definitions>> = OnceLock::new();
        CORE.get_or_init(|| Arc::new(Definitions::load_core()))
            .clone()
    }

    fn load_core() -> Definitions {
        let mut defs = Definitions::empty();
        // The embedded file is ours and tested; a failure here is a build defect, reported as
        // an empty definition set that fails every resource with "unknown type", not a panic.
        if let Ok(bundle) = gunzip_json(R4_CORE, "r4-core.json.gz") {
            defs.add_bundle(&bundle);
        }
        defs.finish();
        defs
    }

    pub(crate) fn empty() -> Definitions {
        Definitions {
            structures: Vec::new(),
            by_url: HashMap::default(),
            by_type: HashMap::default(),
            value_sets: HashMap::default(),
            code_systems: HashMap::default(),
            questionnaires: HashMap::default(),
            expansions: Mutex::new(HashMap::default()),
            pool: ConstraintPool::default(),
            notes: Vec::new(),
            raw_added: HashMap::default(),
        }
    }

    /// The core definitions plus `resources` (StructureDefinitions, ValueSets, CodeSystems,
    /// Questionnaires from IG packages, profile files, supporting files).
    pub fn r4_with(resources: &[Value]) -> Definitions {
        let mut defs = Definitions::empty();
        if let Ok(bundle) = gunzip_json(R4_CORE, "r4-core.json.gz") {
            defs.add_bundle(&bundle);
        }
        let mut pending = Vec::new();
        for r in resources {
            defs.add_resource(r, &mut pending);
        }
        defs.resolve_differentials(pending);
        defs.finish();
        defs
    }

    fn add_bundle(&mut self, bundle: &Value) {
        let mut pending = Vec::new();
        for e in bundle
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = e.get("resource") {
                self.add_resource(r, &mut pending);
            }
        }
        self.resolve_differentials(pending);
    }

    /// Adds one resource; a StructureDefinition without a snapshot waits in `pending` until
    /// its base is known.
    fn add_resource(&mut self, r: &Value, pending: &mut Vec<Value>) {
        let url = r
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match r.get("resourceType").and_then(Value::as_str) {
            Some("StructureDefinition") => {
                if r.get("snapshot").is_some() {
                    if !url.starts_with("http://hl7.org/fhir/StructureDefinition/") {
                        self.raw_added.insert(url, r.clone());
                    }
                    self.add_structure(r);
                } else if r.get("differential").is_some() {
                    pending.push(r.clone());
                }
            }
            Some("ValueSet") if !url.is_empty() => {
                self.value_sets.insert(url, r.clone());
            }
            Some("CodeSystem") if !url.is_empty() => {
                self.code_systems.insert(url, r.clone());
            }
            Some("Questionnaire") if !url.is_empty() => {
                self.questionnaires.insert(url, r.clone());
            }
            Some("Bundle") => self.add_bundle(r),
            _ => {}
        }
    }

    fn add_structure(&mut self, sd: &Value) {
        let Some(s) = compile(sd, &mut self.pool) else {
            return;
        };
        let at = match self.by_url.get(&s.url) {
            // A later definition of the same URL (a package's copy) replaces the earlier one.
            Some(&i) => {
                self.structures[i] = s;
                i
            }
            None => {
                self.structures.push(s);
                self.structures.len() - 1
            }
        };
        let s = &self.structures[at];
        self.by_url.insert(s.url.clone(), at);
        // Version-qualified references (`...|4.0.1`) find it too.
        if !s.is_profile && s.kind != Kind::Logical {
            self.by_type.insert(s.type_name.clone(), at);
        }
    }

    /// Generates snapshots for differential-only profiles whose base is known, base first.
    fn resolve_differentials(&mut self, mut pending: Vec<Value>) {
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for sd in pending {
                let base = sd
                    .get("baseDefinition")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let Some(base_sd) = self.raw_snapshot_of(base) else {
                    still.push(sd);
                    continue;
                };
                let unfold = |t: &str| {
                    self.raw_snapshot_of(&format!("http://hl7.org/fhir/StructureDefinition/{t}"))
                };
                match super::snapshot::generate(&base_sd, &sd, &unfold) {
                    Ok(full) => {
                        if let Some(url) = full.get("url").and_then(Value::as_str) {
                            self.raw_added.insert(url.to_string(), full.clone());
                        }
                        self.add_structure(&full)
                    }
                    Err(e) => self.notes.push(format!(
                        "{}: snapshot not generated: {e}",
                        sd.get("url").and_then(Value::as_str).unwrap_or("?")
                    )),
                }
            }
            if still.is_empty() || still.len() == before {
                for sd in still {
                    self.notes.push(format!(
                        "{}: its base {} is not loaded, so it has no snapshot",
                        sd.get("url").and_then(Value::as_str).unwrap_or("?"),
                        sd.get("baseDefinition")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                    ));
                }
                return;
            }
            pending = still;
        }
    }

    /// A snapshot's elements as JSON, for snapshot generation: an added definition's own, or
    /// the core's, read again from the embedded file (only profiles without a snapshot need it,
    /// so the core's JSON is not kept in memory otherwise).
    fn raw_snapshot_of(&self, url: &str) -> Option<Vec<Value>> {
        static CORE_RAW: OnceLock<HashMap<String, Value>> = OnceLock::new();
        let url = url.split('|').next().unwrap_or(url);
        let sd = match self.raw_added.get(url) {
            Some(sd) => sd,
            None => CORE_RAW
                .get_or_init(|| {
                    let bundle = gunzip_json(R4_CORE, "r4-core.json.gz").unwrap_or(Value::Null);
                    bundle
                        .get("entry")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|e| e.get("resource"))
                        .filter(|r| {
                            r.get("resourceType").and_then(Value::as_str)
                                == Some("StructureDefinition")
                        })
                        .filter_map(|r| Some((r.get("url")?.as_str()?.to_string(), r.clone())))
                        .collect()
                })
                .get(url)?,
        };
        sd.get("snapshot")?.get("element")?.as_array().cloned()
    }

    fn finish(&mut self) {
        self.structures.shrink_to_fit();
    }

    pub(crate) fn structure(&self, url: &str) -> Option<&Structure> {
        let url = url.split('|').next().unwrap_or(url);
        self.by_url.get(url).map(|&i| &self.structures[i])
    }

    /// The base definition of a type name (`Patient`, `Quantity`, `code`).
    pub(crate) fn type_def(&self, name: &str) -> Option<&Structure> {
        self.by_type.get(name).map(|&i| &self.structures[i])
    }

    pub(crate) fn is_resource_type(&self, name: &str) -> bool {
        self.type_def(name)
            .is_some_and(|s| s.kind == Kind::Resource && !s.is_abstract)
    }

    pub(crate) fn is_primitive(&self, name: &str) -> bool {
        self.type_def(name)
            .is_some_and(|s| s.kind == Kind::PrimitiveType)
    }

    /// Whether type `ty` is `of` or derives from it (`Age` is a `Quantity`, `Patient` a
    /// `DomainResource`).
    pub(crate) fn is_subtype(&self, ty: &str, of: &str) -> bool {
        let mut cur = self.type_def(ty);
        let mut guard = 0;
        while let Some(s) = cur {
            if s.type_name == of {
                return true;
            }
            guard += 1;
            if guard > 16 {
                return false;
            }
            cur = s
                .base
                .as_deref()
                .and_then(|b| self.structure(b))
                .filter(|b| !b.is_profile);
        }
        false
    }

    /// Every concrete resource type name, sorted: what a CapabilityStatement may list.
    pub fn resource_types(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_type
            .iter()
            .filter(|(_, &i)| {
                let s = &self.structures[i];
                s.kind == Kind::Resource && !s.is_abstract
            })
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    }

    /// Notes about definitions that could not be used fully (missing bases, snapshot gaps).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Every distinct invariant of the loaded definitions, and whether our FHIRPath engine
    /// parses it or the walk checks it natively: the invariant coverage figure.
    pub fn invariants(&self) -> Vec<super::structure::InvariantStatus> {
        let mut out: Vec<_> = self
            .pool
            .all()
            .map(|c| super::structure::InvariantStatus {
                key: c.key.clone(),
                expression: c.expression.clone(),
                native: super::invariant::is_native(&c.key),
                parse_error: c.compiled().as_ref().err().cloned(),
            })
            .collect();
        out.sort_by(|a, b| (&a.key, &a.expression).cmp(&(&b.key, &b.expression)));
        out
    }
}

pub(crate) fn gunzip_json(bytes: &[u8], name: &str) -> Result<Value, DefinitionsError> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| DefinitionsError::Io(format!("{name}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| DefinitionsError::Json(name.into(), e.to_string()))
}
