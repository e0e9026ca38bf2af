//! The sandbox's FHIR R4 REST API (http.html): create, read, vread, update, delete, history,
//! search and transaction/batch, for every resource type, with OperationOutcome on every error.
// Errors here are finished HTTP responses, built once and returned straight to axum; boxing them
// would only add an allocation to every error path.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};

use super::capability::capability_statement;
use super::search;
use super::store::{instant, Read, Store, Version};
use emr_core::fhir_types::RESOURCE_TYPES;
use emr_validate::fhir::{Options, Validator};

pub const CONTENT_TYPE: &str = "application/fhir+json; charset=utf-8";

pub struct AppState {
    pub store: RwLock<Store>,
    pub base_url: String,
    pub default_page_size: usize,
}

pub type Shared = Arc<AppState>;

impl AppState {
    fn store(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        // A poisoned lock means a handler panicked mid-write; the store is still consistent
        // (every write is one push), so keep serving rather than failing every later request.
        self.store.read().unwrap_or_else(|p| p.into_inner())
    }

    fn store_mut(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|p| p.into_inner())
    }
}

// ------------------------------------------------------------------ responses

pub fn outcome_json(code: &str, diagnostics: &str) -> String {
    outcome_value("error", code, &[diagnostics.to_string()]).to_string()
}

fn outcome_value(severity: &str, code: &str, diagnostics: &[String]) -> Value {
    let issues: Vec<Value> = diagnostics
        .iter()
        .map(|d| json!({"severity": severity, "code": code, "diagnostics": d}))
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

fn fhir(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

/// 507 Insufficient Storage (RFC 4918): the store is at its limit; nothing was written.
fn store_full(full: super::store::StoreFull) -> Response {
    error(
        StatusCode::INSUFFICIENT_STORAGE,
        "too-costly",
        full.to_string(),
    )
}

fn error(status: StatusCode, code: &str, diagnostics: impl Into<String>) -> Response {
    fhir(status, &outcome_value("error", code, &[diagnostics.into()]))
}

fn http_date(t: chrono::DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// How a write is answered, per the `Prefer` header (http.html#ops).
#[derive(Clone, Copy, PartialEq)]
enum Return {
    Representation,
    Minimal,
    Outcome,
}

fn prefer_return(headers: &HeaderMap) -> Return {
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if prefer.contains("return=minimal") {
        Return::Minimal
    } else if prefer.contains("return=OperationOutcome") {
        Return::Outcome
    } else {
        Return::Representation
    }
}

fn resource_response(
    state: &AppState,
    status: StatusCode,
    rtype: &str,
    id: &str,
    v: &Version,
    ret: Return,
    location: bool,
) -> Response {
    let body = match ret {
        Return::Representation => v
            .resource
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default(),
        Return::Minimal => String::new(),
        Return::Outcome => outcome_value(
            "information",
            "informational",
            &[format!("{rtype}/{id} version {}", v.version_id)],
        )
        .to_string(),
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    if ret != Return::Minimal {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    }
    if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", v.version_id)) {
        h.insert(header::ETAG, etag);
    }
    if let Ok(lm) = HeaderValue::from_str(&http_date(v.last_updated)) {
        h.insert(header::LAST_MODIFIED, lm);
    }
    if location {
        if let Ok(loc) = HeaderValue::from_str(&format!(
            "{}/{rtype}/{id}/_history/{}",
            state.base_url, v.version_id
        )) {
            h.insert(header::LOCATION, loc);
        }
    }
    resp
}

fn known_type(rtype: &str) -> Result<(), Response> {
    if RESOURCE_TYPES.contains(&rtype) {
        Ok(())
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            "not-supported",
            format!("unknown resource type `{rtype}`"),
        ))
    }
}

/// Parses and validates a request body as a resource of `rtype` (400 + OperationOutcome if not).
fn parse_body(body: &[u8], rtype: &str) -> Result<Value, Response> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "structure",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    check_resource(&value, rtype)?;
    Ok(value)
}

/// 400 with the validator's OperationOutcome (errors only) when `value` is not a valid `rtype`.
fn check_resource(value: &Value, rtype: &str) -> Result<(), Response> {
    resource_errors(value, rtype).map_err(|errors| {
        fhir(
            StatusCode::BAD_REQUEST,
            &emr_core::outcome::operation_outcome(&errors),
        )
    })
}

fn resource_errors(value: &Value, rtype: &str) -> Result<(), Vec<emr_core::outcome::Issue>> {
    let actual = value.get("resourceType").and_then(Value::as_str);
    if actual.is_some() && actual != Some(rtype) {
        return Err(vec![emr_core::outcome::Issue::new(
            emr_core::outcome::Severity::Error,
            "structure",
            rtype,
            format!(
                "resourceType `{}` does not match the URL's `{rtype}`",
                actual.unwrap_or_default()
            ),
        )]);
    }
    let out = Validator::r4().validate_value(value, Some(rtype));
    if out.is_valid() {
        return Ok(());
    }
    Err(out.errors().cloned().collect())
}

/// `POST [base]/[type]/$validate` and `POST [base]/$validate` (resource-operation-validate): the
/// body is the resource, or a Parameters with `resource` and optional `profile`; the answer is
/// 200 with an OperationOutcome of every issue, whatever the verdict.
pub async fn validate_op(
    State(_state): State<Shared>,
    rtype: Option<Path<String>>,
    body: Bytes,
) -> Response {
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "structure",
                "the body is not UTF-8",
            )
        }
    };
    let parsed: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "structure",
                format!("the body is not valid JSON: {e}"),
            )
        }
    };
    let mut profiles = Vec::new();
    let resource = if parsed.get("resourceType").and_then(Value::as_str) == Some("Parameters") {
        let params = parsed
            .get("parameter")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for p in &params {
            if p.get("name").and_then(Value::as_str) == Some("profile") {
                if let Some(u) = p
                    .get("valueUri")
                    .or_else(|| p.get("valueCanonical"))
                    .and_then(Value::as_str)
                {
                    profiles.push(u.to_string());
                }
            }
        }
        match params
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some("resource"))
            .and_then(|p| p.get("resource"))
        {
            Some(r) => r.clone(),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "required",
                    "a Parameters body needs a `resource` parameter",
                )
            }
        }
    } else {
        parsed
    };
    let validator = Validator::new(
        emr_validate::fhir::Definitions::r4(),
        Options {
            profiles,
            ..Options::default()
        },
    );
    let expected = rtype.as_ref().map(|Path(t)| t.as_str());
    // A bare resource is validated from its text, so each issue carries its line and column.
    let out = if resource.get("resourceType") == Some(&Value::String("Parameters".into())) {
        validator.validate_value(&resource, expected)
    } else if is_whole_body(&resource, text) {
        validator.validate_text(text, expected)
    } else {
        validator.validate_value(&resource, expected)
    };
    fhir(StatusCode::OK, &out.to_operation_outcome())
}

fn is_whole_body(resource: &Value, text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|v| &v == resource)
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ------------------------------------------------------------------ handlers

pub async fn metadata(State(state): State<Shared>) -> Response {
    fhir(StatusCode::OK, &capability_statement(&state.base_url))
}

pub async fn create(
    State(state): State<Shared>,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = known_type(&rtype) {
        return r;
    }
    let resource = match parse_body(&body, &rtype) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ret = prefer_return(&headers);
    let mut store = state.store_mut();
    if let Some(cond) = headers.get("if-none-exist").and_then(|v| v.to_str().ok()) {
        let query = cond.split_once('?').map_or(cond, |(_, q)| q);
        match find(&store, &rtype, query) {
            Err(r) => return r,
            Ok(ids) if ids.len() == 1 => {
                let id = &ids[0];
                if let Read::Found(v) = store.read(&rtype, id) {
                    return resource_response(&state, StatusCode::OK, &rtype, id, v, ret, false);
                }
            }
            Ok(ids) if ids.len() > 1 => {
                return error(
                    StatusCode::PRECONDITION_FAILED,
                    "duplicate",
                    format!("If-None-Exist matched {} resources", ids.len()),
                )
            }
            Ok(_) => {}
        }
    }
    let id = new_id();
    let v = match store.put(&rtype, &id, resource, "POST") {
        Ok(v) => v,
        Err(full) => return store_full(full),
    };
    resource_response(&state, StatusCode::CREATED, &rtype, &id, v, ret, true)
}

pub async fn read(
    State(state): State<Shared>,
    Path((rtype, id)): Path<(String, String)>,
) -> Response {
    if let Err(r) = known_type(&rtype) {
        return r;
    }
    let store = state.store();
    match store.read(&rtype, &id) {
        Read::Found(v) => resource_response(
            &state,
            StatusCode::OK,
            &rtype,
            &id,
            v,
            Return::Representation,
            false,
        ),
        Read::Gone(_) => error(
            StatusCode::GONE,
            "deleted",
            format!("{rtype}/{id} was deleted"),
        ),
        Read::Missing => error(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{rtype}/{id} is not known"),
        ),
    }
}

pub async fn vread(
    State(state): State<Shared>,
    Path((rtype, id, vid)): Path<(String, String, String)>,
) -> Response {
    if let Err(r) = known_type(&rtype) {
        return r;
    }
    let store = state.store();
    match vid
        .parse::<u64>()
        .ok()
        .and_then(|n| store.vread(&rtype, &id, n))
    {
        Some(v) if v.resource.is_some() => resource_response(
            &state,
            StatusCode::OK,
            &rtype,
            &id,
            v,
            Return::Representation,
            false,
        ),
        Some(_) => error(
            StatusCode::GONE,
            "deleted",
            format!("{rtype}/{id} version {vid} is a deletion"),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{rtype}/{id} has no version {vid}"),
        ),
    }
}

pub async fn update(
    State(state): State<Shared>,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = known_type(&rtype) {
        return r;
    }
    let resource = match parse_body(&body, &rtype) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if resource.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "invariant",
            format!("the body's id must be `{id}`, as in the URL (R4 http.html#update)"),
        );
    }
    let ret = prefer_return(&headers);
    let mut store = state.store_mut();
    let current = match store.read(&rtype, &id) {
        Read::Found(v) => Some(v.version_id),
        _ => None,
    };
    if let Some(want) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        let want = want.trim().trim_start_matches("W/").trim_matches('"');
        if current.map(|c| c.to_string()).as_deref() != Some(want) {
            let have = current.map_or("none".to_string(), |c| c.to_string());
            return error(
                StatusCode::PRECONDITION_FAILED,
                "conflict",
                format!("If-Match version {want} does not match the current version {have}"),
            );
        }
    }
    let status = if current.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let v = match store.put(&rtype, &id, resource, "PUT") {
        Ok(v) => v,
        Err(full) => return store_full(full),
    };
    resource_response(&state, status, &rtype, &id, v, ret, true)
}

pub async fn delete(
    State(state): State<Shared>,
    Path((rtype, id)): Path<(String, String)>,
) -> Response {
    if let Err(r) = known_type(&rtype) {
        return r;
    }
    match state.store_mut().delete(&rtype, &id) {
        Some(v) => {
            let mut resp = fhir(
                StatusCode::OK,
                &outcome_value(
                    "information",
                    "informational",
                    &[format!("{rtype}/{id} deleted")],
                ),
            );
            if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", v.version_id)) {
                resp.headers_mut().insert(header::ETAG, etag);
            }
            resp
        }
        // Deleting what is not there has no effect (R4 http.html#delete).
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

pub async fn history_instance(
    State(state): State<Shared>,
    Path((rtype, id)): Path<(String, String)>,
) -> Response {
    if let Err(r) = known_type(&rtype) {
        return r;
    }
    let store = state.store();
    let Some(h) = store.history(&rtype, &id) else {
        return error(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{rtype}/{id} is not known"),
        );
    };
    let entries: Vec<(&str, &Version)> =
        h.versions.iter().rev().map(|v| (id.as_str(), v)).collect();
    fhir(
        StatusCode::OK,
        &history_bundle(
            &state,
            &rtype,
            &entries,
            &format!("{}/{rtype}/{id}/_history", state.base_url),
        ),
    )
}

pub async fn history_type(State(state): State<Shared>, Path(rtype): Path<String>) -> Response {
    if let Err(r) = known_type(&rtype) {
        return r;
    }
    let store = state.store();
    let entries = store.type_history(&rtype);
    fhir(
        StatusCode::OK,
        &history_bundle(
            &state,
            &rtype,
            &entries,
            &format!("{}/{rtype}/_history", state.base_url),
        ),
    )
}

fn history_bundle(
    state: &AppState,
    rtype: &str,
    versions: &[(&str, &Version)],
    self_url: &str,
) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|(id, v)| {
            let (method, url, status) = match v.method {
                "POST" => ("POST", rtype.to_string(), "201 Created"),
                "DELETE" => ("DELETE", format!("{rtype}/{id}"), "200 OK"),
                _ if v.version_id == 1 => ("PUT", format!("{rtype}/{id}"), "201 Created"),
                _ => ("PUT", format!("{rtype}/{id}"), "200 OK"),
            };
            let mut e = json!({
                "fullUrl": format!("{}/{rtype}/{id}", state.base_url),
                "request": {"method": method, "url": url},
                "response": {"status": status, "etag": format!("W/\"{}\"", v.version_id), "lastModified": instant(v.last_updated)}
            });
            if let Some(r) = &v.resource {
                e["resource"] = r.clone();
            }
            e
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "id": new_id(),
        "meta": {"lastUpdated": instant(Utc::now())},
        "type": "history",
        "total": entries.len(),
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    })
}

// ------------------------------------------------------------------ search

struct SearchQuery {
    filters: Vec<(String, Option<String>, String)>,
    /// The parameters as given, for the links.
    used: Vec<(String, String)>,
    count: Option<usize>,
    offset: usize,
    summary_count: bool,
    /// `_elements`: the top-level elements to return (search.html#elements).
    elements: Option<Vec<String>>,
}

fn parse_query(rtype: &str, query: &str, strict: bool) -> Result<SearchQuery, Response> {
    let mut q = SearchQuery {
        filters: Vec::new(),
        used: Vec::new(),
        count: None,
        offset: 0,
        summary_count: false,
        elements: None,
    };
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let (name, modifier) = match k.split_once(':') {
            Some((n, m)) => (n.to_string(), Some(m.to_string())),
            None => (k.to_string(), None),
        };
        match name.as_str() {
            "_count" => {
                let n = v.parse::<usize>().map_err(|_| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        format!("_count `{v}` is not a number"),
                    )
                })?;
                q.count = Some(n);
            }
            "_offset" => {
                q.offset = v.parse::<usize>().map_err(|_| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        format!("_offset `{v}` is not a number"),
                    )
                })?;
            }
            "_summary" if v == "count" => {
                q.summary_count = true;
                q.used.push((k.to_string(), v.to_string()));
            }
            "_elements" => {
                q.elements = Some(v.split(',').map(|e| e.trim().to_string()).collect());
                q.used.push((k.to_string(), v.to_string()));
            }
            "_format" | "_pretty" | "_summary" | "_total" => {}
            _ if search::is_supported(rtype, &name) => {
                q.used.push((k.to_string(), v.to_string()));
                q.filters.push((name, modifier, v.to_string()));
            }
            _ if strict => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    format!("search parameter `{name}` is not supported for {rtype}"),
                ))
            }
            // Lenient by default (search.html#errors): ignored, and left out of the self link.
            _ => {}
        }
    }
    Ok(q)
}

fn find(store: &Store, rtype: &str, query: &str) -> Result<Vec<String>, Response> {
    let q = parse_query(rtype, query, true)?;
    let mut ids = Vec::new();
    for r in store.live(rtype) {
        if filter(r, &q)? {
            ids.extend(r.get("id").and_then(Value::as_str).map(str::to_string));
        }
    }
    Ok(ids)
}

fn filter(r: &Value, q: &SearchQuery) -> Result<bool, Response> {
    for (name, modifier, value) in &q.filters {
        let ok = search::matches(r, name, modifier.as_deref(), value)
            .map_err(|e| error(StatusCode::BAD_REQUEST, "invalid", e))?;
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub async fn search_type(
    State(state): State<Shared>,
    Path(rtype): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = known_type(&rtype) {
        return r;
    }
    let strict = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.contains("handling=strict"));
    let q = match parse_query(&rtype, query.as_deref().unwrap_or(""), strict) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let store = state.store();
    let mut matched = Vec::new();
    for r in store.live(&rtype) {
        match filter(r, &q) {
            Ok(true) => matched.push(r),
            Ok(false) => {}
            Err(resp) => return resp,
        }
    }
    let total = matched.len();
    let count = q.count.unwrap_or(state.default_page_size).min(1000);
    let link = |offset: usize| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.used {
            ser.append_pair(k, v);
        }
        ser.append_pair("_count", &count.to_string());
        ser.append_pair("_offset", &offset.to_string());
        format!("{}/{rtype}?{}", state.base_url, ser.finish())
    };
    let mut links = vec![json!({"relation": "self", "url": link(q.offset)})];
    if count > 0 {
        links.push(json!({"relation": "first", "url": link(0)}));
        if q.offset > 0 {
            links
                .push(json!({"relation": "previous", "url": link(q.offset.saturating_sub(count))}));
        }
        if q.offset.saturating_add(count) < total {
            links.push(json!({"relation": "next", "url": link(q.offset + count)}));
        }
        let last = if total == 0 {
            0
        } else {
            (total - 1) / count * count
        };
        links.push(json!({"relation": "last", "url": link(last)}));
    }
    let entries: Vec<Value> = if q.summary_count {
        Vec::new()
    } else {
        matched
            .iter()
            .skip(q.offset)
            .take(count)
            .map(|r| {
                let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
                let resource = match &q.elements {
                    Some(keep) => subset(r, keep),
                    None => (*r).clone(),
                };
                json!({"fullUrl": format!("{}/{rtype}/{id}", state.base_url), "resource": resource, "search": {"mode": "match"}})
            })
            .collect()
    };
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": new_id(),
        "meta": {"lastUpdated": instant(Utc::now())},
        "type": "searchset",
        "total": total,
        "link": links,
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    fhir(StatusCode::OK, &bundle)
}

/// `r` with only the `keep` elements (plus the mandatory ones), tagged SUBSETTED as
/// search.html#elements asks, so nobody mistakes it for the whole resource.
fn subset(r: &Value, keep: &[String]) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(obj) = r.as_object() {
        for (k, v) in obj {
            if ["resourceType", "id", "meta"].contains(&k.as_str()) || keep.contains(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let meta = out
        .entry("meta")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .map(|m| m.entry("tag").or_insert_with(|| json!([])));
    if let Some(Value::Array(tags)) = meta {
        tags.push(json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}));
    }
    Value::Object(out)
}

// ------------------------------------------------------------------ transaction / batch

pub async fn transaction(State(state): State<Shared>, body: Bytes) -> Response {
    let bundle: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "structure",
                format!("the body is not valid JSON: {e}"),
            )
        }
    };
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "POST to the base URL takes a transaction or batch Bundle",
        );
    }
    let kind = bundle
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != "transaction" && kind != "batch" {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("Bundle.type must be transaction or batch, not `{kind}`"),
        );
    }
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut store = state.store_mut();

    // Transactions resolve `urn:uuid:` fullUrls of created resources to their new ids first, so
    // references between entries point at real resources (http.html#trules).
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut planned = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let method = e
            .pointer("/request/method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let url = e
            .pointer("/request/url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let new = if method == "POST" {
            Some(new_id())
        } else {
            None
        };
        if let (Some(full), Some(id)) = (e.get("fullUrl").and_then(Value::as_str), &new) {
            let rtype = url.split(['/', '?']).next().unwrap_or_default();
            ids.insert(full.to_string(), format!("{rtype}/{id}"));
        }
        planned.push((i, method, url, new));
    }
    let mut errors = Vec::new();
    let mut prepared = Vec::new();
    for (i, method, url, new) in planned {
        let mut resource = entries[i].get("resource").cloned();
        if let Some(r) = resource.as_mut() {
            rewrite_references(r, &ids);
        }
        let path = url.split('?').next().unwrap_or_default().to_string();
        let mut parts = path.split('/');
        let rtype = parts.next().unwrap_or_default().to_string();
        let id = parts.next().map(str::to_string);
        let problem = if !RESOURCE_TYPES.contains(&rtype.as_str()) {
            Some(format!(
                "entry {i}: unknown resource type in request.url `{url}`"
            ))
        } else {
            match (method.as_str(), &resource) {
                ("PUT" | "DELETE", _) if id.is_none() => Some(format!(
                    "entry {i}: {method} needs `Type/id` in request.url"
                )),
                ("POST" | "PUT", None) => Some(format!("entry {i}: {method} needs a resource")),
                ("POST" | "PUT", Some(r)) => resource_errors(r, &rtype).err().map(|p| {
                    let text: Vec<String> = p.iter().map(ToString::to_string).collect();
                    format!("entry {i}: {}", text.join("; "))
                }),
                ("GET" | "DELETE", _) => None,
                _ => Some(format!("entry {i}: unsupported method `{method}`")),
            }
        };
        match problem {
            Some(p) => errors.push((i, p)),
            None => prepared.push((i, method, rtype, id, new, resource, url)),
        }
    }
    if kind == "transaction" && !errors.is_empty() {
        let msgs: Vec<String> = errors.into_iter().map(|(_, p)| p).collect();
        return fhir(
            StatusCode::BAD_REQUEST,
            &outcome_value("error", "processing", &msgs),
        );
    }

    if let Err(full) = store.room_for(prepared.len()) {
        return store_full(full);
    }
    let mut responses: Vec<(usize, Value)> = errors
        .into_iter()
        .map(|(i, p)| (i, json!({"response": {"status": "400 Bad Request", "outcome": outcome_value("error", "processing", &[p])}})))
        .collect();
    for (i, method, rtype, id, new, resource, url) in prepared {
        let entry = match (method.as_str(), resource) {
            ("POST", Some(r)) => {
                let id = new.unwrap_or_else(new_id);
                match store.put(&rtype, &id, r, "POST") {
                    Ok(v) => write_entry(&state, "201 Created", &rtype, &id, v),
                    Err(full) => return store_full(full),
                }
            }
            ("PUT", Some(r)) => {
                let id = id.unwrap_or_default();
                let existed = matches!(store.read(&rtype, &id), Read::Found(_));
                let mut r = r;
                r["id"] = Value::String(id.clone());
                match store.put(&rtype, &id, r, "PUT") {
                    Ok(v) => write_entry(
                        &state,
                        if existed { "200 OK" } else { "201 Created" },
                        &rtype,
                        &id,
                        v,
                    ),
                    Err(full) => return store_full(full),
                }
            }
            ("DELETE", _) => {
                let id = id.unwrap_or_default();
                let status = if store.delete(&rtype, &id).is_some() {
                    "200 OK"
                } else {
                    "204 No Content"
                };
                json!({"response": {"status": status}})
            }
            _ => {
                // GET: read by id only; searches inside a batch are left out of the sandbox.
                match id.as_deref().map(|id| store.read(&rtype, id)) {
                    Some(Read::Found(v)) => {
                        let mut e = write_entry(
                            &state,
                            "200 OK",
                            &rtype,
                            id.as_deref().unwrap_or_default(),
                            v,
                        );
                        e["resource"] = v.resource.clone().unwrap_or(Value::Null);
                        e
                    }
                    Some(Read::Gone(_)) => json!({"response": {"status": "410 Gone"}}),
                    _ => {
                        json!({"response": {"status": "404 Not Found", "outcome": outcome_value("error", "not-found", &[format!("{url} is not known")])}})
                    }
                }
            }
        };
        responses.push((i, entry));
    }
    responses.sort_by_key(|(i, _)| *i);
    let out = json!({
        "resourceType": "Bundle",
        "id": new_id(),
        "type": format!("{kind}-response"),
        "entry": responses.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
    });
    fhir(StatusCode::OK, &out)
}

fn write_entry(state: &AppState, status: &str, rtype: &str, id: &str, v: &Version) -> Value {
    json!({
        "fullUrl": format!("{}/{rtype}/{id}", state.base_url),
        "resource": v.resource,
        "response": {
            "status": status,
            "location": format!("{rtype}/{id}/_history/{}", v.version_id),
            "etag": format!("W/\"{}\"", v.version_id),
            "lastModified": instant(v.last_updated),
        }
    })
}

fn rewrite_references(v: &mut Value, ids: &HashMap<String, String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "reference" {
                    if let Some(new) = child.as_str().and_then(|s| ids.get(s)) {
                        *child = Value::String(new.clone());
                        continue;
                    }
                }
                rewrite_references(child, ids);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| rewrite_references(c, ids)),
        _ => {}
    }
}

pub async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such endpoint in the sandbox's FHIR API",
    )
}
