//! What a server's CapabilityStatement declares: the interactions and search parameters per
//! resource type, and the system-wide interactions the plan needs.

use std::collections::BTreeMap;

use serde_json::Value;

/// What the CapabilityStatement declares for one resource type.
#[derive(Debug, Default, Clone)]
pub(super) struct TypeCap {
    pub(super) interactions: Vec<String>,
    pub(super) search_params: Vec<String>,
    pub(super) conditional_create: bool,
    pub(super) versioning: String,
    pub(super) search_include: Vec<String>,
    pub(super) search_rev_include: Vec<String>,
}

impl TypeCap {
    pub(super) fn has(&self, interaction: &str) -> bool {
        self.interactions.iter().any(|i| i == interaction)
    }
}

#[derive(Debug, Default)]
pub(super) struct Capability {
    pub(super) types: BTreeMap<String, TypeCap>,
    pub(super) system: Vec<String>,
}

pub(super) fn parse_capability(cs: &Value) -> Capability {
    let mut cap = Capability::default();
    let strings = |v: Option<&Value>, key: &str| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.get(key).and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let plain = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let rests = cs
        .get("rest")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for rest in rests.filter(|r| r.get("mode").and_then(Value::as_str) == Some("server")) {
        cap.system.extend(strings(rest.get("interaction"), "code"));
        for r in rest
            .get("resource")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(t) = r.get("type").and_then(Value::as_str) else {
                continue;
            };
            cap.types.insert(
                t.to_string(),
                TypeCap {
                    interactions: strings(r.get("interaction"), "code"),
                    search_params: strings(r.get("searchParam"), "name"),
                    conditional_create: r.get("conditionalCreate").and_then(Value::as_bool)
                        == Some(true),
                    versioning: r
                        .get("versioning")
                        .and_then(Value::as_str)
                        .unwrap_or("no-version")
                        .to_string(),
                    search_include: plain(r.get("searchInclude")),
                    search_rev_include: plain(r.get("searchRevInclude")),
                },
            );
        }
    }
    cap
}
