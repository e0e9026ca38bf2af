//! HAR (HTTP Archive) → exchanges: what browser devtools, Postman and Insomnia export.

use serde_json::Value;

use crate::record::build::{Exchange, HttpExchange};

/// The exchanges of a HAR file, in order, and the FHIR base they share (`--base` wins).
pub fn exchanges(text: &str, path: &str) -> Result<(Vec<Exchange>, Option<String>), String> {
    let har: Value = serde_json::from_str(text).map_err(|e| format!("{path}: not JSON: {e}"))?;
    let entries = har
        .pointer("/log/entries")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{path}: no log.entries: not a HAR file"))?;
    let headers = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| {
                Some((
                    h.get("name")?.as_str()?.to_string(),
                    h.get("value")?.as_str()?.to_string(),
                ))
            })
            .collect()
    };
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let req = &e["request"];
        let resp = &e["response"];
        let (Some(method), Some(url)) = (req["method"].as_str(), req["url"].as_str()) else {
            return Err(format!("{path}: entries[{i}] has no request method or url"));
        };
        let body = resp
            .pointer("/content/text")
            .and_then(Value::as_str)
            .map(|t| {
                if resp.pointer("/content/encoding").and_then(Value::as_str) == Some("base64") {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(t)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .unwrap_or_default()
                } else {
                    t.to_string()
                }
            });
        out.push(Exchange::Http(HttpExchange {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            request_headers: headers(&req["headers"]),
            request_body: req
                .pointer("/postData/text")
                .and_then(Value::as_str)
                .map(str::to_string),
            status: resp["status"].as_u64().unwrap_or(0) as u16,
            response_headers: headers(&resp["headers"]),
            response_body: body,
        }));
    }
    let urls: Vec<&str> = out
        .iter()
        .filter_map(|e| match e {
            Exchange::Http(h) => Some(h.url.as_str()),
            Exchange::Hl7(_) => None,
        })
        .collect();
    let base = common_base(&urls);
    Ok((out, base))
}

/// The longest shared prefix of `urls` that ends before a resource type (`…/fhir` of
/// `…/fhir/Patient` and `…/fhir/Observation?x`).
pub fn common_base(urls: &[&str]) -> Option<String> {
    let first = urls.first()?;
    let split = |u: &str| -> Vec<String> {
        u.split('?')
            .next()
            .unwrap_or(u)
            .split('/')
            .map(str::to_string)
            .collect()
    };
    let mut prefix = split(first);
    for u in &urls[1..] {
        let parts = split(u);
        let n = prefix
            .iter()
            .zip(&parts)
            .take_while(|(a, b)| a == b)
            .count();
        prefix.truncate(n);
    }
    // Drop the resource type and anything after it.
    if let Some(i) = prefix
        .iter()
        .skip(3)
        .position(|p| p.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
    {
        prefix.truncate(i + 3);
    }
    (prefix.len() > 3).then(|| prefix.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_of_urls() {
        assert_eq!(
            common_base(&[
                "http://h:1/fhir/Patient",
                "http://h:1/fhir/Patient/1?x=y",
                "http://h:1/fhir/Observation"
            ])
            .as_deref(),
            Some("http://h:1/fhir")
        );
        assert_eq!(
            common_base(&["http://h/fhir/Patient/1"]).as_deref(),
            Some("http://h/fhir")
        );
    }
}
