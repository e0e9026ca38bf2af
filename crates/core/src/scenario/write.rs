//! Writing scenario files (imports and recordings): a tree in the scenario format as YAML, with
//! keys in the order a person writes them.

use serde_json::Value;

/// Keys in the order a person writes a scenario (serde_json's maps are sorted alphabetically).
const KEY_ORDER: &[&str] = &[
    "resourceType",
    "name",
    "description",
    "tags",
    "vars",
    "steps",
    "fhir",
    "method",
    "path",
    "status",
    "resource",
    "headers",
    "body",
    "expect",
    "fhirpath",
    "capture",
];

fn ordered(v: &Value) -> serde_norway::Value {
    use serde_norway::Value as Y;
    match v {
        Value::Null => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Number(n) => serde_norway::to_value(n).unwrap_or(Y::Null),
        Value::String(s) => Y::String(s.clone()),
        Value::Array(a) => Y::Sequence(a.iter().map(ordered).collect()),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            let rank = |k: &str| {
                KEY_ORDER
                    .iter()
                    .position(|x| *x == k)
                    .unwrap_or(KEY_ORDER.len())
            };
            keys.sort_by_key(|k| rank(k));
            let mut m = serde_norway::Mapping::new();
            for k in keys {
                m.insert(Y::String(k.clone()), ordered(&o[k.as_str()]));
            }
            Y::Mapping(m)
        }
    }
}

/// `scenario` (a tree in the scenario format) as YAML text.
pub fn to_yaml(scenario: &Value) -> Result<String, String> {
    serde_norway::to_string(&ordered(scenario)).map_err(|e| e.to_string())
}
