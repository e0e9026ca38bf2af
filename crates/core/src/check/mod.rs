//! Checks: does a response meet a step's `expect`? Each check gives a `CheckResult` that says what
//! was expected, what came, and which scenario field asked for it. Checks never fail the run
//! early; a step's checks all run, so one report shows everything that is wrong.

pub mod capture;
pub mod compiled;
pub mod hl7;
pub mod redact;
pub mod snapshot;

use serde_json::Value;

use crate::exchange::HttpResponse;
use crate::report::CheckResult;
use crate::scenario::model::{
    Expect, HeaderExpect, JsonPathExpect, JsonPathRule, OutcomeExpect, StatusExpect,
};
use compiled::Compiled;

/// Renders `{{var}}` in expected values; provided by the runner.
pub type Render<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Judges whether JSON is a valid FHIR resource (of a given type): the `resource:` check. The
/// validators live in their own crate (they carry the standard's definitions); the runner hands
/// one in, so the checks here stay free of them.
pub trait ResourceValidator: Send + Sync {
    /// Every problem found, or `Ok` for a valid resource (of type `expected` when given).
    fn validate(&self, value: &Value, expected: Option<&str>) -> Result<(), Vec<String>>;
}

/// Judges an HL7 v2 message against the standard's definitions (and a conformance profile): the
/// structure checks of sent messages and ACKs. Like `ResourceValidator`, it lives in the
/// validator crate and is handed in.
pub trait MessageValidator: Send + Sync {
    fn check(
        &self,
        msg: &crate::hl7::Message,
        rules: &crate::scenario::StructureRules,
    ) -> Vec<Issue>;
}

/// One finding of a `MessageValidator`, as the checks report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// An error fails the check; a warning fails it only under `strict`.
    pub error: bool,
    /// `error PID-3 (required-field): ...`
    pub text: String,
}

/// True when `value` is an OperationOutcome with at least one issue.
pub fn is_operation_outcome(value: &Value) -> bool {
    value.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome")
        && value
            .get("issue")
            .and_then(Value::as_array)
            .is_some_and(|i| !i.is_empty())
}

/// The response body parsed once for all checks that need JSON.
pub struct Body {
    pub json: Result<Value, String>,
}

impl Body {
    pub fn parse(resp: &HttpResponse) -> Body {
        let json = if resp.body.is_empty() {
            Err("the response has no body".to_string())
        } else {
            serde_json::from_slice::<Value>(&resp.body).map_err(|e| {
                let preview: String = String::from_utf8_lossy(&resp.body)
                    .chars()
                    .take(80)
                    .collect();
                format!("the body is not JSON ({e}): {preview:?}")
            })
        };
        Body { json }
    }
}

fn result(
    kind: &str,
    field: String,
    passed: bool,
    expected: String,
    actual: String,
) -> CheckResult {
    CheckResult {
        kind: kind.to_string(),
        field,
        passed,
        expected,
        actual,
        message: None,
        diff: None,
    }
}

pub(crate) fn with_message(mut r: CheckResult, message: impl Into<String>) -> CheckResult {
    r.message = Some(message.into());
    r
}

/// What a step's checks need besides the response: how to render `{{var}}` in expected values,
/// the resource validator, and the step's expressions parsed at load.
pub struct Cx<'a> {
    pub render: Render<'a>,
    pub validator: &'a dyn ResourceValidator,
    pub messages: &'a dyn MessageValidator,
    pub compiled: &'a Compiled,
}

/// Runs every check of `expect` except the snapshot (which needs the golden store).
pub fn evaluate(expect: &Expect, resp: &HttpResponse, body: &Body, cx: &Cx) -> Vec<CheckResult> {
    let mut out = Vec::new();
    if let Some(status) = &expect.status {
        let passed = status_matches(status, resp.status);
        out.push(result(
            "status",
            "expect.status".into(),
            passed,
            describe_status(status),
            resp.status.to_string(),
        ));
    }
    for (name, rule) in &expect.headers {
        out.push(header_check(name, rule, resp, cx));
    }
    if let Some(rtype) = &expect.resource {
        out.push(resource_check(rtype, resp, body, cx.validator));
    }
    if let Some(oo) = expect.operation_outcome {
        out.push(outcome_check(oo, body));
    }
    for expr in expect.fhirpath.as_slice() {
        out.push(fhirpath_check(expr, body, cx));
    }
    for (path, rule) in &expect.jsonpath {
        out.push(jsonpath_check(path, rule, body, cx));
    }
    out
}

pub fn status_matches(expect: &StatusExpect, status: u16) -> bool {
    match expect {
        StatusExpect::Code(c) => *c == status,
        StatusExpect::Pattern(p) => match p.parse::<u16>() {
            Ok(c) => c == status,
            Err(_) => p
                .chars()
                .next()
                .and_then(|d| d.to_digit(10))
                .is_some_and(|d| u32::from(status / 100) == d),
        },
        StatusExpect::AnyOf(list) => list.iter().any(|e| status_matches(e, status)),
    }
}

fn describe_status(s: &StatusExpect) -> String {
    match s {
        StatusExpect::Code(c) => c.to_string(),
        StatusExpect::Pattern(p) => p.to_ascii_lowercase(),
        StatusExpect::AnyOf(list) => list
            .iter()
            .map(describe_status)
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn header_check(name: &str, rule: &HeaderExpect, resp: &HttpResponse, cx: &Cx) -> CheckResult {
    value_check(
        "header",
        format!("expect.headers.{name}"),
        rule,
        resp.header(name),
        cx,
    )
}

/// A present/equals/contains/matches rule on one optional text value (a header, an HL7 field).
pub fn value_check(
    kind: &str,
    field: String,
    rule: &HeaderExpect,
    actual: Option<&str>,
    cx: &Cx,
) -> CheckResult {
    let render = cx.render;
    let actual = actual.map(str::to_string);
    let shown = actual.clone().unwrap_or_else(|| "(absent)".into());
    let fail_render = |e: String| {
        with_message(
            result(kind, field.clone(), false, String::new(), shown.clone()),
            e,
        )
    };
    let (equals, present, contains, matches) = match rule {
        HeaderExpect::Equals(v) => (Some(v.clone()), None, None, None),
        HeaderExpect::Rule(r) => (
            r.equals.clone(),
            r.present,
            r.contains.clone(),
            r.matches.clone(),
        ),
    };
    let mut expected = Vec::new();
    let mut passed = true;
    if let Some(p) = present {
        expected.push(if p {
            "present".to_string()
        } else {
            "absent".to_string()
        });
        passed &= actual.is_some() == p;
    }
    if let Some(v) = equals {
        let v = match render(&v) {
            Ok(v) => v,
            Err(e) => return fail_render(e),
        };
        passed &= actual.as_deref() == Some(v.as_str());
        expected.push(format!("equals {v:?}"));
    }
    if let Some(v) = contains {
        let v = match render(&v) {
            Ok(v) => v,
            Err(e) => return fail_render(e),
        };
        passed &= actual.as_deref().is_some_and(|a| a.contains(&v));
        expected.push(format!("contains {v:?}"));
    }
    if let Some(re) = matches {
        let re = match render(&re) {
            Ok(v) => v,
            Err(e) => return fail_render(e),
        };
        match cx.compiled.regex(&re) {
            Ok(r) => passed &= actual.as_deref().is_some_and(|a| r.is_match(a)),
            Err(e) => return fail_render(e),
        }
        expected.push(format!("matches /{re}/"));
    }
    result(kind, field, passed, expected.join(", "), shown)
}

/// FHIR JSON may be sent as `application/fhir+json` or `application/json` (R4 §3.1.0.1.5).
fn is_json_content_type(ct: &str) -> bool {
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/fhir+json" || mime == "application/json" || mime == "application/json+fhir"
}

fn resource_check(
    rtype: &str,
    resp: &HttpResponse,
    body: &Body,
    validator: &dyn ResourceValidator,
) -> CheckResult {
    let field = "expect.resource".to_string();
    let ct = resp.header("content-type").unwrap_or("(absent)");
    if !is_json_content_type(ct) {
        return with_message(
            result(
                "resource",
                field,
                false,
                format!("a FHIR {rtype} as application/fhir+json"),
                format!("Content-Type: {ct}"),
            ),
            "wrong content type for FHIR JSON",
        );
    }
    let json = match &body.json {
        Ok(j) => j,
        Err(e) => {
            return with_message(
                result(
                    "resource",
                    field,
                    false,
                    format!("a FHIR {rtype}"),
                    "not JSON".into(),
                ),
                e.clone(),
            )
        }
    };
    let actual_type = json
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("(no resourceType)")
        .to_string();
    match validator.validate(json, Some(rtype)) {
        Ok(()) => result(
            "resource",
            field,
            true,
            format!("a valid FHIR {rtype}"),
            actual_type,
        ),
        Err(problems) => with_message(
            result(
                "resource",
                field,
                false,
                format!("a valid FHIR {rtype}"),
                actual_type,
            ),
            problems.join("; "),
        ),
    }
}

fn outcome_check(expect: OutcomeExpect, body: &Body) -> CheckResult {
    let field = "expect.operation_outcome".to_string();
    let is_oo = body
        .json
        .as_ref()
        .map(is_operation_outcome)
        .unwrap_or(false);
    let actual = match &body.json {
        Ok(v) => v
            .get("resourceType")
            .and_then(Value::as_str)
            .map(|t| {
                if t == "OperationOutcome" {
                    let issues = v.get("issue").and_then(Value::as_array).map_or(0, Vec::len);
                    format!("OperationOutcome with {issues} issue(s)")
                } else {
                    t.to_string()
                }
            })
            .unwrap_or_else(|| "JSON without resourceType".into()),
        Err(_) => "no JSON body".into(),
    };
    match expect {
        OutcomeExpect::Expected => result(
            "operation_outcome",
            field,
            is_oo,
            "an OperationOutcome with issues".into(),
            actual,
        ),
        OutcomeExpect::Forbidden => result(
            "operation_outcome",
            field,
            !is_oo,
            "no OperationOutcome".into(),
            actual,
        ),
    }
}

fn fhirpath_check(expr: &str, body: &Body, cx: &Cx) -> CheckResult {
    let field = "expect.fhirpath".to_string();
    let expr = match (cx.render)(expr) {
        Ok(e) => e,
        Err(e) => {
            return with_message(
                result("fhirpath", field, false, expr.to_string(), String::new()),
                e,
            )
        }
    };
    let fail = |actual: String, msg: String| {
        with_message(
            result(
                "fhirpath",
                field.clone(),
                false,
                format!("{expr} is true"),
                actual,
            ),
            msg,
        )
    };
    let json = match &body.json {
        Ok(j) => j,
        Err(e) => return fail("not JSON".into(), e.clone()),
    };
    let parsed = match cx.compiled.fhirpath(&expr) {
        Ok(p) => p,
        Err(e) => return fail(String::new(), e),
    };
    match parsed.evaluate(json) {
        Ok(v) => {
            let passed = matches!(v.as_slice(), [Value::Bool(true)]);
            result(
                "fhirpath",
                field,
                passed,
                format!("{expr} is true"),
                compact(&Value::Array(v)),
            )
        }
        Err(e) => fail("evaluation error".into(), e.to_string()),
    }
}

fn jsonpath_check(path: &str, rule: &JsonPathExpect, body: &Body, cx: &Cx) -> CheckResult {
    let render = cx.render;
    let field = format!("expect.jsonpath.{path}");
    let rule = match rule {
        JsonPathExpect::Equals(v) => JsonPathRule {
            equals: Some(v.clone()),
            ..Default::default()
        },
        JsonPathExpect::Rule(r) => r.clone(),
    };
    let fail = |expected: String, actual: String, msg: String| {
        with_message(
            result("jsonpath", field.clone(), false, expected, actual),
            msg,
        )
    };
    let json = match &body.json {
        Ok(j) => j,
        Err(e) => return fail(path.to_string(), "not JSON".into(), e.clone()),
    };
    let query = match cx.compiled.jsonpath(path) {
        Ok(q) => q,
        Err(e) => return fail(path.to_string(), String::new(), e),
    };
    let nodes: Vec<&Value> = query.query(json).all();
    let actual = match nodes.as_slice() {
        [] => "(nothing)".to_string(),
        [one] => compact(one),
        many => compact(&Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    };
    let mut expected = Vec::new();
    let mut passed = true;
    if let Some(e) = rule.exists {
        expected.push(if e {
            "exists".into()
        } else {
            "does not exist".into()
        });
        passed &= nodes.is_empty() != e;
    }
    if let Some(n) = rule.count {
        expected.push(format!("{n} match(es)"));
        passed &= nodes.len() == n;
    }
    if let Some(want) = &rule.equals {
        let want = match render_json(want, render) {
            Ok(w) => w,
            Err(e) => return fail(compact(want), actual, e),
        };
        // A templated string that should be a number (`"{{count}}"` vs 3) still compares equal.
        passed &= nodes.len() == 1 && loosely_equal(nodes[0], &want);
        expected.push(compact(&want));
    }
    if let Some(re) = &rule.matches {
        let re = match render(re) {
            Ok(r) => r,
            Err(e) => return fail(re.clone(), actual, e),
        };
        match cx.compiled.regex(&re) {
            Ok(r) => {
                passed &= !nodes.is_empty()
                    && nodes.iter().all(|n| {
                        r.is_match(
                            &n.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| n.to_string()),
                        )
                    });
            }
            Err(e) => return fail(re, actual, e),
        }
        expected.push(format!("matches /{re}/"));
    }
    result("jsonpath", field, passed, expected.join(", "), actual)
}

fn loosely_equal(actual: &Value, want: &Value) -> bool {
    match (actual, want) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(_) | Value::Bool(_), Value::String(s)) => {
            s.parse::<Value>().is_ok_and(|w| loosely_equal(actual, &w))
        }
        _ => actual == want,
    }
}

/// Renders the string leaves of an expected JSON value.
pub fn render_json(v: &Value, render: Render) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(render(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_json(x, render))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                out.insert(render(k)?, render_json(x, render)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// One-line JSON, cut to a readable length for reports.
pub fn compact(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 200 {
        let cut: String = s.chars().take(200).collect();
        format!("{cut}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stands in for the validator crate in these unit tests: checks the type only.
    struct TypeOnly;

    impl ResourceValidator for TypeOnly {
        fn validate(&self, value: &Value, expected: Option<&str>) -> Result<(), Vec<String>> {
            let got = value["resourceType"].as_str().unwrap_or_default();
            match expected {
                Some(want) if want != got => Err(vec![format!("expected a {want}, got a {got}")]),
                _ => Ok(()),
            }
        }
    }

    struct NoMessages;

    impl MessageValidator for NoMessages {
        fn check(
            &self,
            _: &crate::hl7::Message,
            _: &crate::scenario::StructureRules,
        ) -> Vec<Issue> {
            Vec::new()
        }
    }

    fn cx() -> Cx<'static> {
        Cx {
            render: &no_render,
            validator: &TypeOnly,
            messages: &NoMessages,
            compiled: Compiled::none(),
        }
    }

    fn resp(status: u16, ct: &str, body: &str) -> HttpResponse {
        HttpResponse::from_parts(
            status,
            &[("content-type", ct), ("etag", "W/\"1\"")],
            body.as_bytes().to_vec(),
        )
    }

    fn expect(yaml: &str) -> Expect {
        serde_norway::from_str(yaml).unwrap()
    }

    fn no_render(s: &str) -> Result<String, String> {
        Ok(s.replace("{{ x }}", "Doe"))
    }

    #[test]
    fn status_patterns() {
        assert!(status_matches(&StatusExpect::Pattern("2xx".into()), 201));
        assert!(!status_matches(&StatusExpect::Pattern("2xx".into()), 404));
        assert!(status_matches(
            &StatusExpect::AnyOf(vec![StatusExpect::Code(404), StatusExpect::Code(410)]),
            410
        ));
    }

    #[test]
    fn all_checks_report_expected_and_actual() {
        let r = resp(
            200,
            "application/fhir+json",
            r#"{"resourceType":"Patient","name":[{"family":"Doe"}]}"#,
        );
        let e = expect("status: 201\nheaders: {ETag: {matches: '^W/\"\\d+\"$'}, Location: {present: true}}\nresource: Patient\noperation_outcome: forbidden\nfhirpath: \"Patient.name.family = '{{ x }}'\"\njsonpath: {\"$.name[0].family\": \"{{ x }}\", \"$.id\": {exists: true}}\n");
        let results = evaluate(&e, &r, &Body::parse(&r), &cx());
        let verdicts: Vec<(&str, bool)> = results
            .iter()
            .map(|c| (c.kind.as_str(), c.passed))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                ("status", false),
                ("header", true),
                ("header", false),
                ("resource", true),
                ("operation_outcome", true),
                ("fhirpath", true),
                ("jsonpath", true),
                ("jsonpath", false)
            ]
        );
        assert_eq!(results[0].expected, "201");
        assert_eq!(results[0].actual, "200");
        assert_eq!(results[2].field, "expect.headers.Location");
        assert_eq!(results[2].actual, "(absent)");
    }

    #[test]
    fn malformed_bodies_fail_checks_with_reasons() {
        let r = resp(200, "text/html", "<html>");
        let e = expect("resource: Patient\njsonpath: {\"$.id\": {exists: true}}\n");
        let results = evaluate(&e, &r, &Body::parse(&r), &cx());
        assert!(results.iter().all(|c| !c.passed));
        assert!(results[0]
            .message
            .as_deref()
            .unwrap()
            .contains("content type"));
        assert!(results[1].message.as_deref().unwrap().contains("not JSON"));
    }
}
