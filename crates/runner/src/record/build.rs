//! Recorded exchanges → one scenario file and its golden snapshots.
//!
//! A value that a later request reuses from an earlier answer (an id from `Location` or a body,
//! an `ETag` sent back as `If-Match`, a `next` link followed) becomes a capture on the step that
//! answered it and a `{{var}}` where it is reused, so the recording replays against a fresh server
//! that hands out other ids.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::scrub::Scrubber;
use emr_core::check::redact::Redactor;
use emr_core::check::snapshot::render_response;
use emr_core::hl7::Message;
use emr_core::scenario::DEFAULT_SNAPSHOT_HEADERS;
use emr_core::HttpResponse;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Exchange {
    Http(HttpExchange),
    Hl7(Hl7Exchange),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HttpExchange {
    pub method: String,
    /// Absolute URL as sent.
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hl7Exchange {
    pub message: String,
    /// The ACK, when one came back (an import of a message log has none).
    pub ack: Option<String>,
}

/// Request headers worth replaying; everything else (Host, User-Agent, cookies, credentials)
/// belongs to the client that was recorded, or is a secret that must never be written.
const KEPT_HEADERS: &[&str] = &[
    "if-match",
    "if-none-match",
    "if-none-exist",
    "if-modified-since",
    "prefer",
    "accept",
    "content-type",
];

pub struct Built {
    /// The scenario, as a tree in the scenario format.
    pub scenario: Value,
    /// (snapshot name, step name, content) for the golden folder.
    pub snapshots: Vec<(String, String, String)>,
    /// What the scrubber replaced (empty when scrubbing is off).
    pub scrubbed: Vec<String>,
}

/// A value from an answer that a later request may reuse.
struct Candidate {
    step: usize,
    var: String,
    value: String,
    rule: Value,
    used: bool,
}

pub fn build(
    name: &str,
    description: &str,
    base: Option<&str>,
    exchanges: &[Exchange],
    scrubber: Option<&mut Scrubber>,
) -> Built {
    let mut ex = exchanges.to_vec();
    let withheld = withhold_query_credentials(&mut ex);
    let mut scrubbed = match scrubber {
        Some(s) => {
            scrub_all(&mut ex, s);
            s.summary()
        }
        None => Vec::new(),
    };
    scrubbed.extend(withheld);
    let base = base.map(|b| b.trim_end_matches('/').to_string());
    let mut steps: Vec<Map<String, Value>> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut snapshots = Vec::new();
    let mut pending_http: Vec<(String, String, usize)> = Vec::new();
    let mut names_used: Vec<String> = Vec::new();
    for (i, e) in ex.iter().enumerate() {
        let mut step = Map::new();
        match e {
            Exchange::Http(h) => {
                let path = reuse(&relative(&h.url, base.as_deref()), &mut candidates);
                // Named after the reused form: `GET /Patient/[patient_id]`, the same every run.
                let shown = short(&path).replace("{{ ", "[").replace(" }}", "]");
                let step_name = unique(&mut names_used, &format!("{} {shown}", h.method));
                let mut fhir = Map::new();
                fhir.insert("method".into(), json!(h.method));
                fhir.insert("path".into(), json!(path));
                let mut headers = Map::new();
                for (k, v) in &h.request_headers {
                    let lk = k.to_ascii_lowercase();
                    if KEPT_HEADERS.contains(&lk.as_str())
                        && !(lk == "accept" && v.contains("json"))
                    {
                        if lk == "content-type" && v.contains("json") {
                            continue;
                        }
                        headers.insert(k.clone(), json!(reuse(v, &mut candidates)));
                    }
                }
                if !headers.is_empty() {
                    fhir.insert("headers".into(), Value::Object(headers));
                }
                if let Some(body) = h.request_body.as_deref().filter(|b| !b.trim().is_empty()) {
                    match serde_json::from_str::<Value>(body) {
                        Ok(mut v) => {
                            reuse_in_json(&mut v, &mut candidates);
                            fhir.insert("body".into(), v);
                        }
                        Err(_) => {
                            fhir.insert("body".into(), json!(reuse(body, &mut candidates)));
                        }
                    }
                }
                step.insert("name".into(), json!(step_name.clone()));
                step.insert("fhir".into(), Value::Object(fhir));
                let body: Option<Value> = h
                    .response_body
                    .as_deref()
                    .and_then(|b| serde_json::from_str(b).ok());
                let mut expect = Map::new();
                expect.insert("status".into(), json!(h.status));
                if let Some(rt) = body
                    .as_ref()
                    .and_then(|b| b.get("resourceType"))
                    .and_then(Value::as_str)
                {
                    expect.insert("resource".into(), json!(rt));
                }
                let snap = emr_core::scenario::load::slug(&step_name);
                expect.insert("snapshot".into(), json!(snap));
                step.insert("expect".into(), Value::Object(expect));
                // Rendered at the end: which values become captures is known only then.
                pending_http.push((snap, step_name, i));
                offer_http(i, h, body.as_ref(), &mut candidates);
            }
            Exchange::Hl7(m) => {
                let mtype = Message::parse(&m.message)
                    .map(|p| p.message_type())
                    .unwrap_or_else(|_| "message".into());
                let step_name = unique(&mut names_used, &format!("send {mtype}"));
                let text = m.message.replace('\r', "\n");
                step.insert("name".into(), json!(step_name.clone()));
                step.insert(
                    "hl7".into(),
                    json!({"message": reuse(&text, &mut candidates)}),
                );
                if let Some(ack) = m.ack.as_deref().and_then(|a| Message::parse(a).ok()) {
                    let code = ack.value("MSA-1").unwrap_or_default();
                    let snap = emr_core::scenario::load::slug(&step_name);
                    step.insert("expect".into(), json!({"ack": code, "snapshot": snap}));
                    let redactor = Redactor::new("", &[]);
                    snapshots.push((
                        snap,
                        step_name,
                        emr_core::check::hl7::render_ack(&ack, &[], &redactor),
                    ));
                }
            }
        }
        steps.push(step);
    }
    for (snap, step_name, i) in pending_http {
        if let Exchange::Http(h) = &ex[i] {
            snapshots.push((
                snap,
                step_name,
                http_snapshot(h, base.as_deref(), &candidates, i),
            ));
        }
    }
    for c in candidates.iter().filter(|c| c.used) {
        let capture = steps[c.step].entry("capture").or_insert_with(|| json!({}));
        if let Some(m) = capture.as_object_mut() {
            m.insert(c.var.clone(), c.rule.clone());
        }
    }
    let mut scenario = Map::new();
    scenario.insert("name".into(), json!(name));
    scenario.insert("description".into(), json!(description));
    scenario.insert("tags".into(), json!(["recorded"]));
    scenario.insert(
        "steps".into(),
        Value::Array(steps.into_iter().map(Value::Object).collect()),
    );
    Built {
        scenario: Value::Object(scenario),
        snapshots,
        scrubbed,
    }
}

/// Credentials sent in query strings (`access_token`, `api_key`, an OAuth `code`, ...) never
/// reach a scenario file: each value is registered as a secret (so no report, golden or log
/// shows it, in any form) and the request asks for it from the environment instead, as header
/// credentials are left to `--bearer-token-env` and friends. Returns what was replaced.
fn withhold_query_credentials(ex: &mut [Exchange]) -> Vec<String> {
    let mut notes = Vec::new();
    for e in ex.iter_mut() {
        let Exchange::Http(h) = e else { continue };
        let Some((path, query)) = h.url.split_once('?') else {
            continue;
        };
        let mut changed = false;
        let params: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, v))
                    if !v.is_empty()
                        && !v.starts_with("{{")
                        && emr_core::secret::is_credential_param(k, query, path) =>
                {
                    let value = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                    emr_core::secret::register(&value);
                    emr_core::secret::register(v);
                    let var: String = k
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
                        .collect();
                    let note = format!(
                        "query parameter `{k}`: a credential, written as {{{{ env.{var} }}}} (set {var} to replay)"
                    );
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    changed = true;
                    format!("{k}={{{{ env.{var} }}}}")
                }
                _ => kv.to_string(),
            })
            .collect();
        if changed {
            h.url = format!("{path}?{}", params.join("&"));
        }
    }
    notes
}

/// Scrubs structured fields everywhere first (so every original is known), then free text
/// (URLs, search parameters, header values) with what was learnt.
fn scrub_all(ex: &mut [Exchange], s: &mut Scrubber) {
    let fhir = |s: &mut Scrubber, body: &mut Option<String>| {
        if let Some(b) = body {
            if let Ok(mut v) = serde_json::from_str::<Value>(b) {
                s.scrub_fhir(&mut v);
                *b = v.to_string();
            }
        }
    };
    for e in ex.iter_mut() {
        match e {
            Exchange::Http(h) => {
                fhir(s, &mut h.request_body);
                fhir(s, &mut h.response_body);
            }
            Exchange::Hl7(m) => {
                m.message = s.scrub_hl7(&m.message);
                if let Some(a) = &mut m.ack {
                    *a = s.scrub_hl7(a);
                }
            }
        }
    }
    for e in ex.iter_mut() {
        match e {
            Exchange::Http(h) => {
                h.url = s.scrub_text(&h.url);
                for (_, v) in h
                    .request_headers
                    .iter_mut()
                    .chain(h.response_headers.iter_mut())
                {
                    *v = s.scrub_text(v);
                }
                for b in [&mut h.request_body, &mut h.response_body]
                    .into_iter()
                    .flatten()
                {
                    *b = s.scrub_text(b);
                }
            }
            Exchange::Hl7(m) => {
                m.message = s.scrub_text(&m.message);
                if let Some(a) = &mut m.ack {
                    *a = s.scrub_text(a);
                }
            }
        }
    }
}

/// The URL relative to the FHIR base (`/Patient/1`), or as it is when it is elsewhere.
fn relative(url: &str, base: Option<&str>) -> String {
    match base {
        Some(b) if url.starts_with(b) => {
            let rest = &url[b.len()..];
            if rest.is_empty() {
                "/".into()
            } else {
                rest.to_string()
            }
        }
        _ => url.to_string(),
    }
}

fn short(path: &str) -> String {
    let p = path.split('?').next().unwrap_or(path);
    if p.chars().count() > 48 {
        format!("{}…", p.chars().take(48).collect::<String>())
    } else {
        p.to_string()
    }
}

fn unique(used: &mut Vec<String>, name: &str) -> String {
    let mut n = name.to_string();
    let mut k = 2;
    while used.contains(&n) {
        n = format!("{name} ({k})");
        k += 1;
    }
    used.push(n.clone());
    n
}

fn var_name(candidates: &[Candidate], base: &str) -> String {
    let base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut n = base.clone();
    let mut k = 2;
    while candidates.iter().any(|c| c.var == n) {
        n = format!("{base}_{k}");
        k += 1;
    }
    n
}

/// Remembers what answer `i` handed out that a later request could send back.
fn offer_http(i: usize, h: &HttpExchange, body: Option<&Value>, candidates: &mut Vec<Candidate>) {
    let add = |candidates: &mut Vec<Candidate>, var_base: &str, value: String, rule: Value| {
        if value.len() < 3 || candidates.iter().any(|c| c.value == value) {
            return;
        }
        let var = var_name(candidates, var_base);
        candidates.push(Candidate {
            step: i,
            var,
            value,
            rule,
            used: false,
        });
    };
    let header = |name: &str| {
        h.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if let Some(loc) = header("location") {
        if let Some((t, id)) = type_and_id(&loc) {
            add(
                candidates,
                &format!("{t}_id"),
                id,
                json!({"header": "Location", "regex": format!("{t}/([^/]+)")}),
            );
        }
    }
    if let Some(etag) = header("etag") {
        add(candidates, "etag", etag, json!({"header": "ETag"}));
    }
    let Some(body) = body else { return };
    let rt = body
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rt == "Bundle" {
        for (n, e) in body
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(5)
            .enumerate()
        {
            if let (Some(t), Some(id)) = (
                e.pointer("/resource/resourceType").and_then(Value::as_str),
                e.pointer("/resource/id").and_then(Value::as_str),
            ) {
                add(
                    candidates,
                    &format!("{t}_id"),
                    id.to_string(),
                    json!({"jsonpath": format!("$.entry[{n}].resource.id")}),
                );
            }
        }
        for l in body
            .get("link")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if l.get("relation").and_then(Value::as_str) == Some("next") {
                if let Some(u) = l.get("url").and_then(Value::as_str) {
                    add(
                        candidates,
                        "next_page",
                        u.to_string(),
                        json!({"jsonpath": "$.link[?(@.relation == 'next')].url"}),
                    );
                }
            }
        }
    } else if let Some(id) = body.get("id").and_then(Value::as_str) {
        add(
            candidates,
            &format!("{rt}_id"),
            id.to_string(),
            json!({"jsonpath": "$.id"}),
        );
    }
}

/// `Patient/123` out of a Location (absolute or relative, versioned or not).
fn type_and_id(location: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = location.split('?').next()?.split('/').collect();
    let h = parts.iter().position(|p| *p == "_history");
    let idx = match h {
        Some(h) if h >= 2 => h - 2,
        None if parts.len() >= 2 => parts.len() - 2,
        _ => return None,
    };
    let t = parts.get(idx)?;
    let id = parts.get(idx + 1)?;
    t.chars()
        .next()
        .filter(char::is_ascii_uppercase)
        .map(|_| (t.to_string(), id.to_string()))
}

/// `text` with earlier answers' values replaced by their `{{ var }}` (longest first).
fn reuse(text: &str, candidates: &mut [Candidate]) -> String {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(candidates[i].value.len()));
    let mut out = text.to_string();
    for i in order {
        let c = &mut candidates[i];
        if out.contains(&c.value) {
            out = out.replace(&c.value, &format!("{{{{ {} }}}}", c.var));
            c.used = true;
        }
    }
    out
}

fn reuse_in_json(v: &mut Value, candidates: &mut [Candidate]) {
    match v {
        Value::String(s) => *s = reuse(s, candidates),
        Value::Array(a) => a.iter_mut().for_each(|x| reuse_in_json(x, candidates)),
        Value::Object(o) => o.values_mut().for_each(|x| reuse_in_json(x, candidates)),
        _ => {}
    }
}

/// The golden snapshot a replay of step `i` must match: rendered and redacted as the runner
/// does, with the values captured before this step shown by their names.
fn http_snapshot(
    h: &HttpExchange,
    base: Option<&str>,
    candidates: &[Candidate],
    i: usize,
) -> String {
    let headers: Vec<(&str, &str)> = h
        .response_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resp = HttpResponse::from_parts(
        h.status,
        &headers,
        h.response_body.clone().unwrap_or_default().into_bytes(),
    );
    let earlier = candidates
        .iter()
        .filter(|c| c.step < i && c.used && c.value.len() >= 6)
        .map(|c| (c.var.clone(), c.value.clone()));
    let redactor = Redactor::new(base.unwrap_or(""), &[]).with_generated(earlier);
    let names: Vec<String> = DEFAULT_SNAPSHOT_HEADERS
        .iter()
        .map(|s| s.to_string())
        .collect();
    render_response(&resp, &names, &redactor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_reuse() {
        assert_eq!(
            type_and_id("http://h/fhir/Patient/abc/_history/1"),
            Some(("Patient".into(), "abc".into()))
        );
        assert_eq!(
            type_and_id("Observation/9"),
            Some(("Observation".into(), "9".into()))
        );
        let created = Exchange::Http(HttpExchange {
            method: "POST".into(),
            url: "http://h/fhir/Patient".into(),
            status: 201,
            response_headers: vec![
                (
                    "Location".into(),
                    "http://h/fhir/Patient/p-123456/_history/1".into(),
                ),
                ("ETag".into(), "W/\"1\"".into()),
            ],
            response_body: Some(r#"{"resourceType":"Patient","id":"p-123456"}"#.into()),
            ..Default::default()
        });
        let update = Exchange::Http(HttpExchange {
            method: "PUT".into(),
            url: "http://h/fhir/Patient/p-123456".into(),
            request_headers: vec![
                ("If-Match".into(), "W/\"1\"".into()),
                ("Authorization".into(), "Bearer x".into()),
            ],
            request_body: Some(r#"{"resourceType":"Patient","id":"p-123456"}"#.into()),
            status: 200,
            ..Default::default()
        });
        let b = build("r", "d", Some("http://h/fhir"), &[created, update], None);
        let steps = b.scenario["steps"].as_array().unwrap();
        assert_eq!(steps[1]["fhir"]["path"], "/Patient/{{ patient_id }}");
        assert_eq!(steps[1]["fhir"]["headers"]["If-Match"], "{{ etag }}");
        assert!(
            steps[1]["fhir"]["headers"].get("Authorization").is_none(),
            "credentials are never written"
        );
        assert_eq!(steps[1]["fhir"]["body"]["id"], "{{ patient_id }}");
        assert_eq!(steps[0]["capture"]["patient_id"]["header"], "Location");
        assert_eq!(steps[0]["capture"]["etag"]["header"], "ETag");
    }
}
