//! Captures: values taken from one step's response for later steps' templates.

use serde_json::Value;

use super::compiled::Compiled;
use crate::check::Body;
use crate::exchange::HttpResponse;
use crate::scenario::model::CaptureRule;

/// The captured text, or why nothing matched (named by source so the message says where it looked).
pub fn apply(
    rule: &CaptureRule,
    resp: &HttpResponse,
    body: &Body,
    compiled: &Compiled,
) -> Result<String, String> {
    let selected = if let Some(h) = &rule.header {
        resp.header(h)
            .map(str::to_string)
            .ok_or_else(|| format!("the response has no `{h}` header"))?
    } else if let Some(p) = &rule.jsonpath {
        let json = body.json.as_ref().map_err(Clone::clone)?;
        let query = compiled.jsonpath(p)?;
        let nodes = query.query(json).all();
        let first = nodes
            .first()
            .ok_or_else(|| format!("JSONPath `{p}` matched nothing in the body"))?;
        scalar_text(first)
    } else if let Some(p) = &rule.fhirpath {
        let json = body.json.as_ref().map_err(Clone::clone)?;
        let expr = compiled.fhirpath(p)?;
        let items = expr.evaluate(json).map_err(|e| e.to_string())?;
        let first = items
            .first()
            .ok_or_else(|| format!("FHIRPath `{p}` matched nothing in the body"))?;
        scalar_text(first)
    } else {
        return Err("the capture names no source".into());
    };
    match &rule.regex {
        None => Ok(selected),
        Some(re) => {
            let re = compiled.regex(re)?;
            let caps = re
                .captures(&selected)
                .ok_or_else(|| format!("regex `{}` does not match {selected:?}", re.as_str()))?;
            Ok(caps
                .get(1)
                .or_else(|| caps.get(0))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default())
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp() -> HttpResponse {
        HttpResponse::from_parts(
            201,
            &[("location", "http://x/fhir/Patient/abc/_history/1")],
            &br#"{"resourceType":"Patient","id":"abc","name":[{"family":"Doe"}],"active":true}"#[..],
        )
    }

    #[test]
    fn captures_from_each_source() {
        let r = resp();
        let b = Body::parse(&r);
        let header = CaptureRule {
            header: Some("Location".into()),
            regex: Some("Patient/([^/]+)".into()),
            ..Default::default()
        };
        assert_eq!(apply(&header, &r, &b, Compiled::none()).unwrap(), "abc");
        assert_eq!(
            apply(
                &CaptureRule::from_expr("$.name[0].family"),
                &r,
                &b,
                Compiled::none()
            )
            .unwrap(),
            "Doe"
        );
        assert_eq!(
            apply(
                &CaptureRule::from_expr("Patient.active"),
                &r,
                &b,
                Compiled::none()
            )
            .unwrap(),
            "true"
        );
    }

    #[test]
    fn nothing_matched_says_where_it_looked() {
        let r = resp();
        let b = Body::parse(&r);
        assert!(apply(
            &CaptureRule::from_expr("$.missing"),
            &r,
            &b,
            Compiled::none()
        )
        .unwrap_err()
        .contains("`$.missing` matched nothing"));
        let h = CaptureRule {
            header: Some("ETag".into()),
            ..Default::default()
        };
        assert_eq!(
            apply(&h, &r, &b, Compiled::none()).unwrap_err(),
            "the response has no `ETag` header"
        );
    }
}
