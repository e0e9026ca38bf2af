//! The sandbox EMR's FHIR API over a real socket: the interactions and search parameters the
//! scenarios rely on, checked with a plain HTTP client (not the harness's own runner).

use emr_sandbox::{self as sandbox, SandboxConfig};
use serde_json::{json, Value};

struct Api {
    http: reqwest::Client,
    base: String,
    _sandbox: sandbox::RunningSandbox,
}

impl Api {
    async fn start() -> Api {
        let sb = sandbox::start(SandboxConfig::default())
            .await
            .expect("sandbox starts");
        Api {
            http: reqwest::Client::new(),
            base: sb.base_url.clone(),
            _sandbox: sb,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method.parse().expect("method"), url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/fhir+json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        (status, headers, json)
    }

    async fn create(&self, resource: Value) -> String {
        let (status, _, body) = self
            .call(
                "POST",
                &format!("/{}", resource["resourceType"].as_str().expect("type")),
                Some(resource),
                &[],
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    async fn search(&self, query: &str) -> Value {
        let (status, _, body) = self.call("GET", query, None, &[]).await;
        assert_eq!(status, 200, "{query}: {body}");
        body
    }
}

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|x| x["resource"]["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn crud_versions_and_conditional_update() {
    let api = Api::start().await;
    let (status, h, body) = api
        .call(
            "POST",
            "/Patient",
            Some(json!({"resourceType": "Patient", "active": true})),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(h["etag"], "W/\"1\"");
    assert!(h["location"]
        .to_str()
        .expect("ascii")
        .ends_with(&format!("/Patient/{id}/_history/1")));
    assert!(h.contains_key("last-modified"));

    let update = json!({"resourceType": "Patient", "id": id, "active": false});
    let (status, _, oo) = api
        .call(
            "PUT",
            &format!("/Patient/{id}"),
            Some(update.clone()),
            &[("If-Match", "W/\"7\"")],
        )
        .await;
    assert_eq!(status, 412);
    assert_eq!(oo["resourceType"], "OperationOutcome");
    let (status, h, _) = api
        .call(
            "PUT",
            &format!("/Patient/{id}"),
            Some(update.clone()),
            &[("If-Match", "W/\"1\"")],
        )
        .await;
    assert_eq!(
        (status, h["etag"].to_str().expect("ascii")),
        (200, "W/\"2\"")
    );
    let (status, _, _) = api
        .call(
            "PUT",
            &format!("/Patient/{id}"),
            Some(json!({"resourceType": "Patient", "id": "other"})),
            &[],
        )
        .await;
    assert_eq!(status, 400, "body id must match the URL");

    let (status, _, v1) = api
        .call("GET", &format!("/Patient/{id}/_history/1"), None, &[])
        .await;
    assert_eq!((status, &v1["active"]), (200, &json!(true)));
    let (status, _, _) = api
        .call("GET", &format!("/Patient/{id}/_history/9"), None, &[])
        .await;
    assert_eq!(status, 404);

    let (status, _, minimal) = api
        .call(
            "POST",
            "/Patient",
            Some(json!({"resourceType": "Patient"})),
            &[("Prefer", "return=minimal")],
        )
        .await;
    assert_eq!((status, minimal), (201, Value::Null));

    let (status, _, _) = api
        .call("DELETE", &format!("/Patient/{id}"), None, &[])
        .await;
    assert_eq!(status, 200);
    let (status, _, oo) = api.call("GET", &format!("/Patient/{id}"), None, &[]).await;
    assert_eq!(
        (status, oo["resourceType"].as_str()),
        (410, Some("OperationOutcome"))
    );
    let (status, _, _) = api
        .call("DELETE", &format!("/Patient/{id}"), None, &[])
        .await;
    assert_eq!(status, 204);
    let (_, _, history) = api
        .call("GET", &format!("/Patient/{id}/_history"), None, &[])
        .await;
    assert_eq!(history["total"], 3);
    let (status, _, _) = api.call("GET", "/NotAType/1", None, &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn search_parameters() {
    let api = Api::start().await;
    let p1 = api.create(json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "A1"}],
        "name": [{"family": "Okafor", "given": ["Ada"]}], "birthDate": "1961-03-04", "gender": "female"})).await;
    let p2 = api.create(json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "B2"}],
        "name": [{"family": "Okonkwo", "given": ["Bayo"]}], "birthDate": "1999-12-31", "gender": "male"})).await;
    let o1 = api.create(json!({"resourceType": "Observation", "status": "final", "subject": {"reference": format!("Patient/{p1}")},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]}})).await;
    api.create(json!({"resourceType": "Observation", "status": "final", "subject": {"reference": format!("Patient/{p2}")},
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}})).await;

    assert_eq!(
        ids(&api.search(&format!("/Patient?_id={p2}")).await),
        vec![p2.clone()]
    );
    assert_eq!(
        ids(&api.search("/Patient?identifier=urn:mrn|A1").await),
        vec![p1.clone()]
    );
    assert_eq!(
        ids(&api.search("/Patient?identifier=B2").await),
        vec![p2.clone()]
    );
    assert_eq!(ids(&api.search("/Patient?name=ok").await).len(), 2);
    assert_eq!(
        ids(&api.search("/Patient?family=Okonkwo").await),
        vec![p2.clone()]
    );
    assert_eq!(
        ids(&api.search("/Patient?given=ada").await),
        vec![p1.clone()]
    );
    assert_eq!(
        ids(&api.search("/Patient?birthdate=lt1970").await),
        vec![p1.clone()]
    );
    assert_eq!(
        ids(&api.search("/Patient?birthdate=1999-12").await),
        vec![p2.clone()]
    );
    assert_eq!(
        ids(&api.search(&format!("/Observation?patient={p1}")).await),
        vec![o1.clone()]
    );
    assert_eq!(
        ids(&api
            .search(&format!("/Observation?subject=Patient/{p1}"))
            .await),
        vec![o1.clone()]
    );
    assert_eq!(
        ids(&api.search("/Observation?code=http://loinc.org|718-7").await).len(),
        1
    );
    assert_eq!(
        ids(&api.search("/Patient?_lastUpdated=gt2000-01-01").await).len(),
        2
    );
    assert_eq!(
        ids(&api.search("/Patient?_lastUpdated=lt2000-01-01").await).len(),
        0
    );
    assert_eq!(api.search("/Patient?_summary=count").await["total"], 2);

    // Unknown parameters: ignored (and left out of the self link) unless the client asks strict.
    let lenient = api.search("/Patient?bogus=1").await;
    assert_eq!(lenient["total"], 2);
    assert!(!lenient["link"][0]["url"]
        .as_str()
        .unwrap_or("")
        .contains("bogus"));
    let (status, _, oo) = api
        .call(
            "GET",
            "/Patient?bogus=1",
            None,
            &[("Prefer", "handling=strict")],
        )
        .await;
    assert_eq!(
        (status, oo["resourceType"].as_str()),
        (400, Some("OperationOutcome"))
    );

    // Paging: next links walk every match exactly once.
    let mut seen = Vec::new();
    let mut page = api.search("/Patient?_count=1").await;
    loop {
        seen.extend(ids(&page));
        let next = page["link"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["relation"] == "next"))
            .map(|x| x["url"].as_str().unwrap_or("").to_string());
        match next {
            Some(url) => page = api.search(&url).await,
            None => break,
        }
    }
    assert_eq!(seen, vec![p1, p2]);
}

#[tokio::test]
async fn conditional_create_and_transactions() {
    let api = Api::start().await;
    let patient =
        json!({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "C3"}]});
    let (s1, _, b1) = api
        .call(
            "POST",
            "/Patient",
            Some(patient.clone()),
            &[("If-None-Exist", "identifier=urn:mrn|C3")],
        )
        .await;
    let (s2, _, b2) = api
        .call(
            "POST",
            "/Patient",
            Some(patient),
            &[("If-None-Exist", "identifier=urn:mrn|C3")],
        )
        .await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(b1["id"], b2["id"]);

    // A transaction with one invalid entry stores nothing.
    let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "name": [{"family": "Ok"}]}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "birthDate": "not a date"}, "request": {"method": "POST", "url": "Patient"}}]});
    let (status, _, oo) = api.call("POST", "", Some(bad), &[]).await;
    assert_eq!(
        (status, oo["resourceType"].as_str()),
        (400, Some("OperationOutcome"))
    );
    assert_eq!(api.search("/Patient?family=Ok").await["total"], 0);

    // A batch answers each entry on its own.
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/missing"}}]});
    let (status, _, resp) = api.call("POST", "", Some(batch), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(resp["type"], "batch-response");
    assert_eq!(resp["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(resp["entry"][1]["response"]["status"], "404 Not Found");
}

#[tokio::test]
async fn capability_statement_is_a_valid_r4_resource() {
    let api = Api::start().await;
    let (status, _, cs) = api.call("GET", "/metadata", None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        emr_validate::validate_resource(&cs, Some("CapabilityStatement")),
        Ok(())
    );
    let patient = cs["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["type"] == "Patient")
        .cloned()
        .expect("Patient");
    let params: Vec<&str> = patient["searchParam"]
        .as_array()
        .expect("params")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in [
        "_id",
        "_lastUpdated",
        "identifier",
        "name",
        "family",
        "given",
        "birthdate",
    ] {
        assert!(params.contains(&p), "{p} not declared");
    }
}
