//! The exchanges a check makes: requests sent through the run's FHIR client, every answer
//! recorded as evidence (bodies cut, credentials redacted) and validated, what each check created
//! deleted at its end; and the small judgements checks share (status, validity, ids, versions).

use serde_json::Value;

use super::super::{Exchange, Verdict};
use super::fixtures::Fixture;
use super::{EVIDENCE_MAX, JSON_TYPE};
use emr_transport::fhir::{FhirClient, HttpRequest, HttpResponse};
use emr_validate::fhir::validate_resource;

/// One HTTP answer, with its body parsed when it is JSON.
pub(super) struct Answer {
    pub(super) resp: HttpResponse,
    pub(super) json: Option<Value>,
}

impl Answer {
    pub(super) fn status(&self) -> u16 {
        self.resp.status
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.resp.header(name)
    }

    pub(super) fn body(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.json.as_ref().unwrap_or(&NULL)
    }

    pub(super) fn id(&self) -> String {
        self.body()
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

pub(super) type Judged = (Verdict, String);

/// Why a check could not go on: an unexpected answer on the way to what it judges, or a broken
/// exchange. Converted into a verdict at the end of the check.
pub(super) enum Stop {
    Error(String),
    Fail(String),
}

pub(super) type Step<T> = Result<T, Stop>;

pub(super) struct Ctx {
    pub(super) client: FhirClient,
    pub(super) run_tag: String,
    pub(super) checks_run: usize,
    pub(super) evidence: Vec<Exchange>,
    /// `Type/id` created by the current check, deleted when it ends.
    pub(super) created: Vec<String>,
    /// Every resource body answered so far is validated (typed parse + round trip); off while a
    /// validation check sends invalid data on purpose.
    pub(super) validate_answers: bool,
    pub(super) answers_validated: usize,
    pub(super) invalid_answers: Vec<String>,
}

impl Ctx {
    pub(super) fn fixture(&mut self) -> Fixture {
        self.checks_run += 1;
        Fixture {
            tag: format!("{}{:03}", self.run_tag, self.checks_run),
        }
    }

    pub(super) async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Step<Answer> {
        let mut hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            hs.push(("Accept".into(), JSON_TYPE.into()));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            hs.push(("Content-Type".into(), JSON_TYPE.into()));
        }
        let req = HttpRequest {
            method: method.to_string(),
            url: self.client.url_for(path),
            headers: hs,
            body: body.map(|b| b.to_string().into_bytes()),
            ..HttpRequest::default()
        };
        let sent = render_request(&req);
        match self.client.send(&req).await {
            Err(e) => {
                let e = format!("{method} {path}: {e}");
                self.evidence.push(Exchange {
                    sent,
                    received: None,
                    error: Some(e.clone()),
                });
                Err(Stop::Error(e))
            }
            Ok(resp) => {
                let json: Option<Value> = serde_json::from_slice(&resp.body).ok();
                if let Some(body) = json.as_ref().filter(|_| self.validate_answers) {
                    if body.get("resourceType").is_some() {
                        self.answers_validated += 1;
                        if let Err(p) = validate_resource(body, None) {
                            self.invalid_answers.push(format!(
                                "{method} {path} ({}): {}",
                                resp.status,
                                p.join("; ")
                            ));
                        }
                    }
                }
                self.evidence.push(Exchange {
                    sent,
                    received: Some(render_response(&resp)),
                    error: None,
                });
                Ok(Answer { resp, json })
            }
        }
    }

    /// POSTs `resource` and remembers it for clean-up; fails the check unless the create succeeded.
    pub(super) async fn create(
        &mut self,
        resource: &Value,
        headers: &[(&str, &str)],
    ) -> Step<Answer> {
        let t = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let a = self.send("POST", &t, headers, Some(resource)).await?;
        if !(200..300).contains(&a.status()) {
            return Err(Stop::Fail(format!(
                "creating the test {t} answered {}{}",
                a.status(),
                outcome_text(a.body())
            )));
        }
        let id = match a.id() {
            id if !id.is_empty() => id,
            _ => location_id(a.header("location"), &t).unwrap_or_default(),
        };
        if id.is_empty() {
            return Err(Stop::Fail(format!(
                "creating the test {t} answered {} with neither a body id nor a Location",
                a.status()
            )));
        }
        self.created.push(format!("{t}/{id}"));
        Ok(a)
    }

    pub(super) async fn created_id(&mut self, resource: &Value) -> Step<String> {
        self.create(resource, &[]).await?;
        Ok(self
            .created
            .last()
            .and_then(|r| r.split_once('/'))
            .map(|(_, id)| id.to_string())
            .unwrap_or_default())
    }

    /// Deletes what the check created, newest first (references before their targets).
    pub(super) async fn clean_up(&mut self) -> Vec<String> {
        let mut leftovers = Vec::new();
        while let Some(r) = self.created.pop() {
            let req = HttpRequest {
                method: "DELETE".into(),
                url: self.client.url_for(&r),
                headers: vec![("Accept".into(), JSON_TYPE.into())],
                ..HttpRequest::default()
            };
            match self.client.send(&req).await {
                Ok(resp) if resp.status < 300 || resp.status == 404 || resp.status == 410 => {}
                Ok(resp) => leftovers.push(format!("{r} (DELETE answered {})", resp.status)),
                Err(e) => leftovers.push(format!("{r} ({e})")),
            }
        }
        leftovers
    }
}

pub(super) fn render_request(req: &HttpRequest) -> String {
    let mut s = format!("{} {}\n", req.method, req.url);
    for (k, v) in &req.headers {
        let v = if k.eq_ignore_ascii_case("authorization") {
            "[secret]"
        } else {
            v
        };
        s.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(b) = &req.body {
        s.push('\n');
        s.push_str(&cut(&String::from_utf8_lossy(b)));
    }
    s
}

pub(super) fn render_response(resp: &HttpResponse) -> String {
    let mut s = format!("{}\n", resp.status);
    for name in ["content-type", "location", "etag", "last-modified"] {
        if let Some(v) = resp.header(name) {
            s.push_str(&format!("{name}: {v}\n"));
        }
    }
    if !resp.body.is_empty() {
        s.push('\n');
        s.push_str(&cut(&String::from_utf8_lossy(&resp.body)));
    }
    s
}

pub(super) fn cut(s: &str) -> String {
    if s.len() <= EVIDENCE_MAX {
        return s.to_string();
    }
    let mut end = EVIDENCE_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

/// `: diagnostics` of an OperationOutcome body, for reasons.
pub(super) fn outcome_text(body: &Value) -> String {
    let text: Vec<&str> = body
        .get("issue")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("diagnostics").and_then(Value::as_str))
        .collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.join("; "))
    }
}

/// The id in a `Location` of `[base]/Type/id[/_history/vid]`.
pub(super) fn location_id(location: Option<&str>, t: &str) -> Option<String> {
    let l = location?;
    let after = l.split(&format!("{t}/")).nth(1)?;
    Some(after.split('/').next()?.to_string())
}

pub(super) fn version_of(a: &Answer) -> String {
    a.body()
        .pointer("/meta/versionId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(super) fn entries(bundle: &Value) -> Vec<&Value> {
    bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(|e| e.iter().collect())
        .unwrap_or_default()
}

pub(super) fn entry_ids<'a>(bundle: &'a Value, t: &str) -> Vec<&'a str> {
    entries(bundle)
        .into_iter()
        .filter_map(|e| e.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some(t))
        .filter_map(|r| r.get("id").and_then(Value::as_str))
        .collect()
}

pub(super) fn expect_status(a: &Answer, what: &str, ok: &[u16]) -> Step<()> {
    if ok.contains(&a.status()) {
        Ok(())
    } else {
        let want: Vec<String> = ok.iter().map(u16::to_string).collect();
        Err(Stop::Fail(format!(
            "{what} answered {}, expected {}{}",
            a.status(),
            want.join(" or "),
            outcome_text(a.body())
        )))
    }
}

pub(super) fn valid(a: &Answer, t: &str, what: &str) -> Step<()> {
    validate_resource(a.body(), Some(t))
        .map_err(|p| Stop::Fail(format!("{what} is not a valid {t}: {}", p.join("; "))))
}

pub(super) fn pass(reason: impl Into<String>) -> Step<Judged> {
    Ok((Verdict::Pass, reason.into()))
}

pub(super) fn fail(reason: impl Into<String>) -> Step<Judged> {
    Ok((Verdict::Fail, reason.into()))
}

/// A read of a Patient id that never existed.
pub(super) async fn read_unknown(ctx: &mut Ctx, f: &Fixture) -> Step<Answer> {
    let path = format!("Patient/never-{}", f.tag.to_lowercase());
    ctx.send("GET", &path, &[], None).await
}

pub(super) fn last_id(ctx: &Ctx) -> String {
    ctx.created
        .last()
        .and_then(|r| r.split_once('/'))
        .map(|(_, id)| id.to_string())
        .unwrap_or_default()
}
