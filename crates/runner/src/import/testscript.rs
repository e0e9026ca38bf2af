//! FHIR R4 TestScript → scenario file.
//!
//! What maps: fixtures (contained resources and relative JSON files; autocreate/autodelete become
//! first and last steps), variables (`defaultValue` → `vars`; `headerField` or `expression`/`path`
//! on a response → a capture on the step that produced it; on a static fixture → evaluated now),
//! setup, test and teardown actions in order, `operation` (type or method, `resource` + `params`,
//! `url`, `targetId`, `sourceId`, `requestHeader`, `accept`, `contentType`), and `assert` on the
//! last operation's response: `response`, `responseCode`, `resource`, `contentType`, `headerField`,
//! `expression` (FHIRPath) and simple `path`s, with `value` and the operators that have a FHIRPath
//! equivalent. Everything else is listed as not mapped, with where it is, never dropped silently.

use std::path::Path;

use serde_json::{json, Map, Value};

use emr_core::fhirpath;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: not JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: resourceType is {found:?}, not TestScript")]
    NotATestScript { path: String, found: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The converted scenario as a YAML document (a tree of the scenario format), and what did not map.
#[derive(Debug)]
pub struct Imported {
    pub name: String,
    pub scenario: Value,
    pub unmapped: Vec<String>,
}

impl Imported {
    /// The scenario file text, with the unmapped items as a comment on top.
    pub fn to_yaml(&self) -> Result<String, ImportError> {
        let body = emr_core::scenario::write::to_yaml(&self.scenario).map_err(|e| {
            ImportError::Invalid {
                path: self.name.clone(),
                message: format!("cannot write YAML: {e}"),
            }
        })?;
        let mut out = format!(
            "# Imported from the FHIR TestScript {:?} by emr-harness.\n",
            self.name
        );
        if !self.unmapped.is_empty() {
            out.push_str("# Not mapped (check these by hand):\n");
            for u in &self.unmapped {
                out.push_str(&format!("#   - {u}\n"));
            }
        }
        out.push_str(&body);
        Ok(out)
    }
}

struct Fixture {
    body: Option<Value>,
    rtype: Option<String>,
    autocreate: bool,
    autodelete: bool,
}

/// A pending capture from the response of the operation with `responseId` = `source`.
struct VarCapture {
    name: String,
    source: String,
    rule: Value,
}

struct Converter<'a> {
    dir: &'a Path,
    fixtures: Vec<(String, Fixture)>,
    vars: Map<String, Value>,
    captures: Vec<VarCapture>,
    steps: Vec<Value>,
    unmapped: Vec<String>,
    /// Index in `steps` of the last operation, which asserts attach to.
    last_op: Option<usize>,
}

/// Converts a TestScript. `dir` anchors fixture files named by relative references.
pub fn import(text: &str, path: &str, dir: &Path) -> Result<Imported, ImportError> {
    let ts: Value = serde_json::from_str(text).map_err(|source| ImportError::Json {
        path: path.to_string(),
        source,
    })?;
    let found = ts.get("resourceType").and_then(Value::as_str).unwrap_or("");
    if found != "TestScript" {
        return Err(ImportError::NotATestScript {
            path: path.to_string(),
            found: found.to_string(),
        });
    }
    let name = ts
        .get("name")
        .or_else(|| ts.get("title"))
        .and_then(Value::as_str)
        .unwrap_or("testscript")
        .to_string();
    let mut c = Converter {
        dir,
        fixtures: Vec::new(),
        vars: Map::new(),
        captures: Vec::new(),
        steps: Vec::new(),
        unmapped: Vec::new(),
        last_op: None,
    };
    c.fixtures(&ts);
    c.variables(&ts);
    for (i, (id, f)) in c.fixtures.iter().enumerate() {
        if f.autocreate {
            let step = create_step(&format!("setup: autocreate {id}"), id, f, i);
            c.steps.push(step);
        }
    }
    let ops = |v: &Value, key: &str| -> Vec<Value> {
        v.get(key)
            .and_then(|s| s.get("action"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for (i, a) in ops(&ts, "setup").iter().enumerate() {
        c.action(a, &format!("setup.action[{i}]"), "setup");
    }
    for (t, test) in ts
        .get("test")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let tname = test
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("test {}", t + 1));
        let actions = test
            .get("action")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, a) in actions.iter().enumerate() {
            c.action(a, &format!("test[{t}].action[{i}]"), &tname);
        }
    }
    for (i, a) in ops(&ts, "teardown").iter().enumerate() {
        c.action(a, &format!("teardown.action[{i}]"), "teardown");
    }
    let autodelete: Vec<String> = c
        .fixtures
        .iter()
        .filter(|(_, f)| f.autodelete && f.rtype.is_some())
        .map(|(id, f)| format!("{}|{id}", f.rtype.clone().unwrap_or_default()))
        .collect();
    for entry in autodelete {
        let (rtype, id) = entry.split_once('|').unwrap_or_default();
        c.steps.push(json!({
            "name": format!("teardown: autodelete {id}"),
            "fhir": {"method": "DELETE", "path": format!("/{rtype}/{{{{ {} }}}}", id_var(id))},
            "expect": {"status": [200, 202, 204]}
        }));
    }
    for cap in &c.captures {
        c.unmapped.push(format!(
            "variable {:?}: sourceId {:?} names no operation response or fixture",
            cap.name, cap.source
        ));
    }
    let mut scenario = Map::new();
    scenario.insert("name".into(), json!(name));
    if let Some(d) = ts.get("description").and_then(Value::as_str) {
        scenario.insert("description".into(), json!(d));
    }
    scenario.insert("tags".into(), json!(["testscript"]));
    if !c.vars.is_empty() {
        scenario.insert("vars".into(), Value::Object(c.vars));
    }
    scenario.insert("steps".into(), Value::Array(c.steps));
    Ok(Imported {
        name,
        scenario: Value::Object(scenario),
        unmapped: c.unmapped,
    })
}

/// The scenario variable holding the server id of what fixture or response `id` created.
fn id_var(id: &str) -> String {
    format!("id_{}", ident(id))
}

fn ident(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `${name}` (TestScript) → `{{ name }}` (our templates).
fn templated(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find('}') {
            Some(end) => {
                let name = &rest[start + 2..start + 2 + end];
                out.push_str(&format!("{{{{ {} }}}}", ident(name)));
                rest = &rest[start + 3 + end..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn create_step(name: &str, id: &str, f: &Fixture, _index: usize) -> Value {
    let rtype = f.rtype.clone().unwrap_or_default();
    json!({
        "name": name,
        "fhir": {"method": "POST", "path": format!("/{rtype}"), "body": f.body.clone().unwrap_or(Value::Null)},
        "expect": {"status": [200, 201]},
        "capture": {id_var(id): {"header": "Location", "regex": format!("{rtype}/([^/]+)")}}
    })
}

fn status_for(response: &str) -> Option<u16> {
    Some(match response {
        "okay" => 200,
        "created" => 201,
        "noContent" => 204,
        "notModified" => 304,
        "bad" => 400,
        "forbidden" => 403,
        "notFound" => 404,
        "methodNotAllowed" => 405,
        "conflict" => 409,
        "gone" => 410,
        "preconditionFailed" => 412,
        "unprocessable" => 422,
        _ => return None,
    })
}

/// A TestScript `path` in its XPath-like form (`fhir:Patient/fhir:name/fhir:family/@value`) as
/// FHIRPath, when it is that simple.
fn path_as_fhirpath(path: &str) -> Option<String> {
    let parts: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|p| *p != "@value")
        .collect();
    let names: Option<Vec<&str>> = parts.iter().map(|p| p.strip_prefix("fhir:")).collect();
    let names = names?;
    if names.is_empty()
        || names
            .iter()
            .any(|n| !n.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return None;
    }
    Some(names.join("."))
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Converter<'_> {
    fn fixtures(&mut self, ts: &Value) {
        let contained: Vec<&Value> = ts
            .get("contained")
            .and_then(Value::as_array)
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        for (i, f) in ts
            .get("fixture")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let id = f
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("fixture{i}"));
            let reference = f
                .pointer("/resource/reference")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let body = if let Some(local) = reference.strip_prefix('#') {
                contained
                    .iter()
                    .find(|r| r.get("id").and_then(Value::as_str) == Some(local))
                    .map(|r| {
                        let mut r = (*r).clone();
                        // A contained id is local to the TestScript, not the server's.
                        if let Some(o) = r.as_object_mut() {
                            o.remove("id");
                        }
                        r
                    })
            } else {
                std::fs::read_to_string(self.dir.join(reference))
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            };
            if body.is_none() {
                self.unmapped.push(format!(
                    "fixture[{i}] {id:?}: reference {reference:?} is neither a contained resource nor a JSON file next to the TestScript"
                ));
            }
            let rtype = body
                .as_ref()
                .and_then(|b| b.get("resourceType"))
                .and_then(Value::as_str)
                .map(str::to_string);
            self.fixtures.push((
                id,
                Fixture {
                    body,
                    rtype,
                    autocreate: f.get("autocreate").and_then(Value::as_bool) == Some(true),
                    autodelete: f.get("autodelete").and_then(Value::as_bool) == Some(true),
                },
            ));
        }
    }

    fn fixture(&self, id: &str) -> Option<&Fixture> {
        self.fixtures.iter().find(|(f, _)| f == id).map(|(_, f)| f)
    }

    fn variables(&mut self, ts: &Value) {
        for (i, v) in ts
            .get("variable")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("variable[{i}]");
            let Some(name) = v.get("name").and_then(Value::as_str) else {
                self.unmapped.push(format!("{at}: no name"));
                continue;
            };
            let var = ident(name);
            let source = v.get("sourceId").and_then(Value::as_str);
            let header = v.get("headerField").and_then(Value::as_str);
            let expr = v
                .get("expression")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| {
                    v.get("path")
                        .and_then(Value::as_str)
                        .and_then(path_as_fhirpath)
                });
            if let Some(d) = v.get("defaultValue").and_then(Value::as_str) {
                self.vars.insert(var.clone(), json!(d));
            }
            let Some(source) = source else {
                if header.is_some() || expr.is_some() {
                    self.unmapped
                        .push(format!("{at} {name:?}: an expression without a sourceId"));
                }
                continue;
            };
            // On a static fixture: evaluate now.
            if let Some(body) = self.fixture(source).and_then(|f| f.body.clone()) {
                let evaluated = expr
                    .as_deref()
                    .map(|e| fhirpath::FhirPath::parse(e).and_then(|p| p.evaluate(&body)));
                match evaluated {
                    Some(Ok(vals)) if !vals.is_empty() => {
                        let text = match &vals[0] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        self.vars.insert(var, json!(text));
                    }
                    _ => self.unmapped.push(format!(
                        "{at} {name:?}: cannot evaluate it on fixture {source:?}"
                    )),
                }
                continue;
            }
            let rule = match (header, &expr) {
                (Some(h), _) => json!({"header": h}),
                (None, Some(e)) => json!({"fhirpath": e}),
                (None, None) => {
                    if !self.vars.contains_key(&var) {
                        self.unmapped.push(format!(
                            "{at} {name:?}: no defaultValue, headerField, expression or path"
                        ));
                    }
                    continue;
                }
            };
            self.captures.push(VarCapture {
                name: var,
                source: source.to_string(),
                rule,
            });
        }
    }

    fn action(&mut self, action: &Value, at: &str, group: &str) {
        if let Some(op) = action.get("operation") {
            self.operation(op, &format!("{at}.operation"), group);
        } else if let Some(a) = action.get("assert") {
            self.assert(a, &format!("{at}.assert"));
        } else {
            self.unmapped
                .push(format!("{at}: neither operation nor assert"));
        }
    }

    fn operation(&mut self, op: &Value, at: &str, group: &str) {
        let s = |k: &str| op.get(k).and_then(Value::as_str).map(str::to_string);
        let code = op
            .pointer("/type/code")
            .and_then(Value::as_str)
            .unwrap_or("");
        let source = s("sourceId");
        let target = s("targetId");
        let resource = s("resource")
            .or_else(|| {
                target
                    .as_deref()
                    .and_then(|t| self.fixture(t))
                    .and_then(|f| f.rtype.clone())
            })
            .or_else(|| {
                source
                    .as_deref()
                    .and_then(|t| self.fixture(t))
                    .and_then(|f| f.rtype.clone())
            });
        let method = match (s("method").as_deref(), code) {
            (Some(m), _) => m.to_ascii_uppercase(),
            (None, "create" | "transaction" | "batch" | "search-system" | "process-message") => {
                "POST".into()
            }
            (None, "update" | "updateCreate") => "PUT".into(),
            (None, "delete" | "deleteCondMultiple" | "deleteCondSingle") => "DELETE".into(),
            (None, "patch") => "PATCH".into(),
            (None, "read" | "vread" | "search" | "history" | "capabilities" | "") => "GET".into(),
            (None, other) => {
                self.unmapped
                    .push(format!("{at}: operation type {other:?} (sent as GET)"));
                "GET".into()
            }
        };
        let path = if let Some(url) = s("url") {
            templated(&url)
        } else if code == "capabilities" {
            "/metadata".into()
        } else if matches!(code, "transaction" | "batch") {
            "/".into()
        } else {
            let rtype = resource.clone().unwrap_or_default();
            if rtype.is_empty() {
                self.unmapped.push(format!(
                    "{at}: no resource type (resource, targetId or sourceId)"
                ));
            }
            let mut p = format!("/{rtype}");
            if let Some(t) = &target {
                p.push_str(&format!("/{{{{ {} }}}}", id_var(t)));
            }
            if let Some(params) = s("params") {
                p.push_str(&templated(&params));
            }
            p
        };
        let mut fhir = Map::new();
        fhir.insert("method".into(), json!(method));
        fhir.insert("path".into(), json!(path));
        let mut headers = Map::new();
        match s("accept").as_deref() {
            Some("json") | Some("application/fhir+json") => {
                headers.insert("Accept".into(), json!("application/fhir+json"));
            }
            Some("xml") | Some("application/fhir+xml") => {
                headers.insert("Accept".into(), json!("application/fhir+xml"));
            }
            Some(other) => {
                headers.insert("Accept".into(), json!(other));
            }
            None => {}
        }
        for h in op
            .get("requestHeader")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(f), Some(v)) = (
                h.get("field").and_then(Value::as_str),
                h.get("value").and_then(Value::as_str),
            ) {
                headers.insert(f.into(), json!(templated(v)));
            }
        }
        if !headers.is_empty() {
            fhir.insert("headers".into(), Value::Object(headers));
        }
        if let Some(src) = &source {
            match self.fixture(src).and_then(|f| f.body.clone()) {
                Some(mut body) => {
                    if let (Some(t), "PUT") = (&target, method.as_str()) {
                        if let Some(o) = body.as_object_mut() {
                            o.insert("id".into(), json!(format!("{{{{ {} }}}}", id_var(t))));
                        }
                    }
                    fhir.insert("body".into(), body);
                }
                None => self
                    .unmapped
                    .push(format!("{at}: sourceId {src:?} has no usable fixture body")),
            }
        }
        for k in ["destination", "origin", "contentType", "encodeRequestUrl"] {
            if op.get(k).is_some() && k != "contentType" && k != "encodeRequestUrl" {
                self.unmapped.push(format!("{at}: {k} (one server only)"));
            }
        }
        let label = s("label").or_else(|| s("description")).unwrap_or_else(|| {
            let what = if code.is_empty() {
                method.as_str()
            } else {
                code
            };
            format!("{what} {}", resource.as_deref().unwrap_or(path.as_str()))
        });
        let mut step = Map::new();
        step.insert("name".into(), json!(format!("{group}: {label}")));
        step.insert("fhir".into(), Value::Object(fhir));
        let mut capture = Map::new();
        if method == "POST" && !matches!(code, "transaction" | "batch" | "search-system") {
            if let Some(rtype) = &resource {
                let rule = json!({"header": "Location", "regex": format!("{rtype}/([^/]+)")});
                for id in [&source, &s("responseId")].into_iter().flatten() {
                    capture.insert(id_var(id), rule.clone());
                }
            }
        }
        if let Some(resp) = s("responseId") {
            let (mine, rest): (Vec<VarCapture>, Vec<VarCapture>) =
                std::mem::take(&mut self.captures)
                    .into_iter()
                    .partition(|c| c.source == resp);
            self.captures = rest;
            for c in mine {
                capture.insert(c.name, c.rule);
            }
        }
        if !capture.is_empty() {
            step.insert("capture".into(), Value::Object(capture));
        }
        self.steps.push(Value::Object(step));
        self.last_op = Some(self.steps.len() - 1);
    }

    fn assert(&mut self, a: &Value, at: &str) {
        let s = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_string);
        let Some(i) = self.last_op else {
            self.unmapped
                .push(format!("{at}: an assert before any operation"));
            return;
        };
        if s("direction").as_deref() == Some("request") {
            self.unmapped.push(format!(
                "{at}: direction request (only responses are checked)"
            ));
            return;
        }
        if s("sourceId").is_some() {
            self.unmapped.push(format!(
                "{at}: sourceId (asserts apply to the last response here)"
            ));
            return;
        }
        for k in [
            "compareToSourceId",
            "compareToSourceExpression",
            "compareToSourcePath",
            "minimumId",
            "navigationLinks",
            "validateProfileId",
            "requestMethod",
            "requestURL",
        ] {
            if a.get(k).is_some() {
                self.unmapped.push(format!("{at}: {k}"));
            }
        }
        if a.get("warningOnly").and_then(Value::as_bool) == Some(true) {
            self.unmapped
                .push(format!("{at}: warningOnly (judged as a failure here)"));
        }
        let value = s("value").map(|v| templated(&v));
        let operator = s("operator").unwrap_or_else(|| "equals".into());
        let step = &mut self.steps[i];
        let expect = step
            .as_object_mut()
            .map(|o| o.entry("expect").or_insert_with(|| json!({})));
        let Some(Value::Object(expect)) = expect else {
            return;
        };
        if let Some(r) = s("response") {
            match status_for(&r) {
                Some(code) => {
                    expect.insert("status".into(), json!(code));
                }
                None => self.unmapped.push(format!("{at}: response {r:?}")),
            }
        }
        if let Some(codes) = s("responseCode") {
            let list: Vec<u16> = codes
                .split(',')
                .filter_map(|c| c.trim().parse().ok())
                .collect();
            let status = match (operator.as_str(), list.len()) {
                ("equals" | "in", 1) => json!(list[0]),
                ("equals" | "in", n) if n > 1 => json!(list),
                _ => {
                    self.unmapped
                        .push(format!("{at}: responseCode with operator {operator:?}"));
                    Value::Null
                }
            };
            if !status.is_null() {
                expect.insert("status".into(), status);
            }
        }
        if let Some(r) = s("resource") {
            expect.insert("resource".into(), json!(r));
        }
        let headers = expect.entry("headers").or_insert_with(|| json!({}));
        if let Some(ct) = s("contentType") {
            let want = if ct.contains("xml") { "xml" } else { "json" };
            if let Some(h) = headers.as_object_mut() {
                h.insert("Content-Type".into(), json!({"contains": want}));
            }
        }
        if let Some(h) = s("headerField") {
            let rule = match (operator.as_str(), &value) {
                ("equals", Some(v)) => Some(json!({"equals": v})),
                ("contains", Some(v)) => Some(json!({"contains": v})),
                ("notEmpty", _) => Some(json!({"present": true})),
                ("empty", _) => Some(json!({"present": false})),
                _ => None,
            };
            match rule {
                Some(r) => {
                    if let Some(hs) = headers.as_object_mut() {
                        hs.insert(h, r);
                    }
                }
                None => self
                    .unmapped
                    .push(format!("{at}: headerField with operator {operator:?}")),
            }
        }
        if headers.as_object().is_some_and(Map::is_empty) {
            expect.remove("headers");
        }
        let expr = s("expression").or_else(|| {
            let p = s("path")?;
            let f = path_as_fhirpath(&p);
            if f.is_none() {
                self.unmapped
                    .push(format!("{at}: path {p:?} (only simple element paths map)"));
            }
            f
        });
        if let Some(e) = expr {
            let check = match (operator.as_str(), &value) {
                // TestScript values are strings; toString() compares numbers and codes alike.
                ("equals", Some(v)) => Some(format!("({e}).toString() = {}", quote(v))),
                ("notEquals", Some(v)) => Some(format!("({e}).toString() != {}", quote(v))),
                ("contains", Some(v)) => Some(format!("({e}).contains({})", quote(v))),
                ("notContains", Some(v)) => Some(format!("({e}).contains({}).not()", quote(v))),
                ("in", Some(v)) => Some(
                    v.split(',')
                        .map(|x| format!("({e}).toString() = {}", quote(x.trim())))
                        .collect::<Vec<_>>()
                        .join(" or "),
                ),
                ("greaterThan", Some(v)) => Some(format!("({e}) > {v}")),
                ("lessThan", Some(v)) => Some(format!("({e}) < {v}")),
                ("empty", _) => Some(format!("({e}).empty()")),
                ("notEmpty", _) => Some(format!("({e}).exists()")),
                ("equals", None) | ("eval", _) => Some(e.clone()),
                _ => None,
            };
            match check {
                Some(c) => {
                    let list = expect.entry("fhirpath").or_insert_with(|| json!([]));
                    if let Some(l) = list.as_array_mut() {
                        l.push(json!(c));
                    }
                }
                None => self
                    .unmapped
                    .push(format!("{at}: operator {operator:?} on {e:?}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_paths() {
        assert_eq!(
            templated("?name=${family}&x=${a-b}"),
            "?name={{ family }}&x={{ a_b }}"
        );
        assert_eq!(
            path_as_fhirpath("fhir:Patient/fhir:name/fhir:family/@value").as_deref(),
            Some("Patient.name.family")
        );
        assert_eq!(path_as_fhirpath("fhir:Bundle/fhir:entry[1]"), None);
        assert_eq!(quote("O'Brien"), "'O\\'Brien'");
    }

    #[test]
    fn reports_what_does_not_map() {
        let ts = json!({"resourceType": "TestScript", "name": "t",
        "test": [{"action": [
            {"assert": {"response": "okay"}},
            {"operation": {"type": {"code": "read"}, "resource": "Patient", "params": "/1"}},
            {"assert": {"validateProfileId": "p", "response": "teapot"}}
        ]}]});
        let out = import(&ts.to_string(), "t.json", Path::new(".")).unwrap();
        let u = out.unmapped.join("\n");
        assert!(
            u.contains("test[0].action[0].assert: an assert before any operation"),
            "{u}"
        );
        assert!(u.contains("validateProfileId"), "{u}");
        assert!(u.contains("response \"teapot\""), "{u}");
    }
}
