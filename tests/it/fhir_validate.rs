//! FHIR R4 validation from the specification's definitions, measured on material we did not
//! write: the spec's own examples (must all pass), the reference validator's test cases (verdicts
//! must agree), US Core's examples (must pass their profiles), plus one fixture per rule (an
//! invalid resource and the issue it must give, at its place), and `$validate` on the sandbox.

use std::collections::BTreeSet;

use crate::common::{harness, repo};
use serde_json::Value;

fn issues_of(args: &[&str]) -> Vec<Value> {
    let out = harness(&repo(), args, &[]);
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn each_rule_fixture_gives_its_issue_at_its_place() {
    let dir = repo().join("tests/fixtures/fhir-rules");
    let expected: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("EXPECTED.json")).expect("manifest"),
    )
    .expect("manifest json");
    assert!(expected.len() >= 40);
    let files: Vec<String> = expected
        .iter()
        .map(|c| {
            dir.join(c["file"].as_str().expect("file"))
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["validate", "--json"];
    args.extend(files.iter().map(String::as_str));
    let lines = issues_of(&args);
    assert_eq!(lines.len(), expected.len());
    let mut missed = Vec::new();
    for (line, want) in lines.iter().zip(&expected) {
        assert_eq!(line["valid"], false, "{}: {line}", want["file"]);
        let hit = line["issues"].as_array().expect("issues").iter().find(|i| {
            matches!(i["severity"].as_str(), Some("error" | "fatal"))
                && i["expression"] == want["expression"]
                && i["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(want["contains"].as_str().unwrap_or("?")))
        });
        match hit {
            // Every finding from a file carries its line and column.
            Some(i) => assert!(
                i["line"].as_u64().is_some() && i["column"].as_u64().is_some(),
                "{i}"
            ),
            None => missed.push(format!("{}: {}", want["file"], line["issues"])),
        }
    }
    assert!(missed.is_empty(), "{}", missed.join("\n"));
}

#[test]
fn every_spec_example_is_valid() {
    let dir = repo().join("tests/fixtures/fhir-examples-r4");
    let out = harness(
        &repo(),
        &["validate", "-q", &dir.display().to_string()],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("88 resource(s), 0 invalid"),
        "{}",
        out.stdout
    );
}

/// `validate --json` over many files at once, every validator-case Questionnaire and US Core
/// loaded (their URLs differ, so one run serves every case): verdict per file.
fn verdicts(files: &[String], extra: &[&str]) -> std::collections::BTreeMap<String, Value> {
    let base = repo().join("tests/fixtures/fhir-validator-cases");
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(base.join("cases.json")).expect("cases"))
            .expect("cases json");
    let mut args: Vec<String> = vec!["validate".into(), "--json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    for c in &cases {
        for s in c["supporting"].as_array().into_iter().flatten() {
            args.push("--definitions".into());
            args.push(format!(
                "tests/fixtures/fhir-validator-cases/{}",
                s.as_str().expect("s")
            ));
        }
    }
    args.extend(files.iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    issues_of(&argv)
        .into_iter()
        .map(|l| (l["file"].as_str().expect("file").to_string(), l))
        .collect()
}

/// The reference validator's R4 test cases (tests/fixtures/fhir-validator-cases): our verdict
/// agrees with the expected one on all but the cases that need data no offline validator has
/// (ISO 3166 country codes, listed in that folder's README as `offline: false`).
#[test]
fn verdicts_agree_with_the_reference_validator_cases() {
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/fhir-validator-cases/cases.json"))
            .expect("cases"),
    )
    .expect("cases json");
    let file = |c: &Value| {
        format!(
            "tests/fixtures/fhir-validator-cases/{}",
            c["file"].as_str().expect("file")
        )
    };
    let (strict, plain): (Vec<&Value>, Vec<&Value>) = cases
        .iter()
        .partition(|c| c["name"] == "bad-markdown-no-html");
    let plain_files: Vec<String> = plain.iter().map(|c| file(c)).collect();
    let strict_files: Vec<String> = strict.iter().map(|c| file(c)).collect();
    let ours = verdicts(&plain_files, &[]);
    let ours_strict = verdicts(&strict_files, &["--html-in-markdown-is-error"]);
    let mut disagree = BTreeSet::new();
    for c in &cases {
        let v = if c["name"] == "bad-markdown-no-html" {
            &ours_strict
        } else {
            &ours
        };
        if v[&file(c)]["valid"] != c["expected_valid"] {
            disagree.insert(c["name"].as_str().expect("name").to_string());
        }
    }
    let known: BTreeSet<String> = ["choice-async-qr", "string-with-coding-async-qr"]
        .into_iter()
        .map(String::from)
        .collect();
    println!(
        "reference validator cases: {}/{} verdicts agree",
        cases.len() - disagree.len(),
        cases.len()
    );
    assert_eq!(disagree, known);
}

/// npm `fhir` 4.12.0 and asymmetrik's JSON-schema validator on the same files
/// (tools/fhir-crosscheck/results.jsonl): every file where a verdict differs from ours is listed in
/// DISAGREEMENTS.json under a group that says why; none appears or goes away unexplained.
#[test]
fn crosscheck_disagreements_are_all_explained() {
    let dir = repo().join("tools/fhir-crosscheck");
    let rows: Vec<Value> = std::fs::read_to_string(dir.join("results.jsonl"))
        .expect("results")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("row"))
        .collect();
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("DISAGREEMENTS.json")).expect("doc"),
    )
    .expect("doc json");
    let files: Vec<String> = rows
        .iter()
        .map(|r| r["file"].as_str().expect("file").to_string())
        .collect();
    let ours = verdicts(&files, &["--ig", "hl7.fhir.us.core#5.0.1"]);
    let mut found = BTreeSet::new();
    for r in &rows {
        let f = r["file"].as_str().expect("file");
        let mine = &ours[f]["valid"];
        if *mine != r["fhir"]["valid"] || *mine != r["asymmetrik"]["valid"] {
            found.insert(f.to_string());
        }
    }
    let listed: BTreeSet<String> = doc["files"]
        .as_object()
        .expect("files")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        found, listed,
        "rerun tools/fhir-crosscheck/disagreements.py and explain the change"
    );
    for (f, v) in doc["files"].as_object().expect("files") {
        let group = v["group"].as_str().expect("group");
        assert!(
            doc["groups"][group].as_str().is_some_and(|w| w.len() > 20),
            "{f}: group {group} has no reason"
        );
    }
    let caught = |lib: &str| rows.iter().filter(|r| r[lib]["valid"] == false).count();
    println!(
        "cross-check on {} files: {} disagreements; rejected: ours {}, npm fhir {}, asymmetrik {}",
        rows.len(),
        listed.len(),
        ours.values().filter(|l| l["valid"] == false).count(),
        caught("fhir"),
        caught("asymmetrik")
    );
}

#[test]
fn us_core_examples_pass_and_broken_ones_fail_where_they_break() {
    let dir = repo().join("tests/fixtures/us-core-5.0.1/examples");
    let out = harness(
        &repo(),
        &[
            "validate",
            "-q",
            "--ig",
            "hl7.fhir.us.core#5.0.1",
            &dir.display().to_string(),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let tmp = tempfile::tempdir().expect("tmp");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).expect("example"))
            .expect("json")
    };
    // A required element (us-core-patient: identifier 1..*), a slice (us-core-blood-pressure:
    // the diastolic component), and a pattern (the systolic code).
    let mut p = read("Patient-example.json");
    p.as_object_mut().expect("object").remove("identifier");
    let mut bp = read("Observation-blood-pressure.json");
    let comps = bp["component"].as_array_mut().expect("components");
    comps.truncate(1);
    let mut bp2 = read("Observation-blood-pressure.json");
    bp2["code"]["coding"][0]["code"] = Value::String("8867-4".into());
    let cases = [
        (
            "patient.json",
            p,
            "Patient",
            "Patient.identifier: minimum required = 1",
        ),
        (
            "bp.json",
            bp,
            "Observation",
            "slice 'diastolic': minimum required = 1",
        ),
        (
            "bp2.json",
            bp2,
            "Observation.code",
            "does not match the pattern",
        ),
    ];
    for (name, resource, expr, text) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, resource.to_string()).expect("write");
        let line = issues_of(&[
            "validate",
            "--json",
            "--ig",
            "hl7.fhir.us.core#5.0.1",
            &path.display().to_string(),
        ])
        .pop()
        .expect("line");
        assert_eq!(line["valid"], false, "{name}");
        let found = line["issues"].as_array().expect("issues").iter().any(|i| {
            i["severity"] == "error"
                && i["expression"] == expr
                && i["message"].as_str().is_some_and(|m| m.contains(text))
        });
        assert!(found, "{name}: {}", line["issues"]);
    }
}

#[tokio::test]
async fn sandbox_validate_operation_answers_with_an_operation_outcome() {
    let sb = emr_sandbox::start(emr_sandbox::SandboxConfig::default())
        .await
        .expect("sandbox");
    let http = reqwest::Client::new();
    let post = |path: String, body: String| {
        let http = http.clone();
        async move {
            let r = http
                .post(path)
                .header("content-type", "application/fhir+json")
                .body(body)
                .send()
                .await
                .expect("response");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("json"))
        }
    };
    let bad = "{\n  \"resourceType\": \"Patient\",\n  \"birthDate\": \"2021-02-30\"\n}";
    let (status, oo) = post(format!("{}/Patient/$validate", sb.base_url), bad.into()).await;
    assert_eq!(status, 200);
    assert_eq!(oo["resourceType"], "OperationOutcome");
    let issue = &oo["issue"][0];
    assert_eq!(issue["severity"], "error", "{oo}");
    assert_eq!(issue["expression"][0], "Patient.birthDate");
    assert_eq!(issue["extension"][0]["valueInteger"], 3, "line: {oo}");
    let good = r#"{"resourceType": "Patient", "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}"#;
    let (status, oo) = post(format!("{}/Patient/$validate", sb.base_url), good.into()).await;
    assert_eq!(status, 200);
    assert_eq!(oo["issue"][0]["severity"], "information", "{oo}");
    // A Parameters body naming a profile the sandbox doesn't have: validated, profile noted.
    let params = serde_json::json!({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient"}},
        {"name": "profile", "valueUri": "http://example.org/StructureDefinition/nope"}]});
    let (_, oo) = post(format!("{}/$validate", sb.base_url), params.to_string()).await;
    let texts: Vec<&str> = oo["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["details"]["text"].as_str())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("nope") && t.contains("unknown")),
        "{oo}"
    );
    // The CapabilityStatement says so, and lists R4's types, not R4B's.
    let cs: Value = http
        .get(format!("{}/metadata", sb.base_url))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    let types: Vec<&str> = cs["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    assert!(types.contains(&"MedicinalProduct") && !types.contains(&"Citation"));
    assert_eq!(types.len(), 146);
    assert_eq!(
        cs["rest"][0]["resource"][0]["operation"][0]["name"],
        "validate"
    );
    sb.stop().await;
}

/// A package of profiles written for the tests (tests/fixtures/fhir-packages/test-profiles:
/// differential only, one rule of each kind), loaded three ways: as a folder, as a `.tgz`, and by
/// `name#version` from a FHIR package cache. Each broken resource fails at its rule's place;
/// the valid ones pass and list the must-support elements they carry.
#[test]
fn profile_rules_from_a_package_in_every_form() {
    let pkg = repo().join("tests/fixtures/fhir-packages/test-profiles");
    let cases_dir = repo().join("tests/fixtures/fhir-profile-cases");
    let expected: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(cases_dir.join("EXPECTED.json")).expect("manifest"),
    )
    .expect("json");
    let files: Vec<String> = expected
        .iter()
        .map(|c| {
            cases_dir
                .join(c["file"].as_str().expect("file"))
                .display()
                .to_string()
        })
        .collect();
    let tmp = tempfile::tempdir().expect("tmp");
    // The same package as a .tgz (package/ inside, as the registry serves it) and in a cache.
    let tgz = tmp.path().join("test-profiles.tgz");
    let status = std::process::Command::new("tar")
        .args([
            "czf",
            &tgz.display().to_string(),
            "-C",
            &pkg.display().to_string(),
            "package",
        ])
        .status()
        .expect("tar");
    assert!(status.success());
    let cache = tmp.path().join("cache");
    let in_cache = cache.join("example.test.profiles#0.1.0");
    std::fs::create_dir_all(&in_cache).expect("cache dir");
    crate::common::copy_dir(&pkg.join("package"), &in_cache.join("package"));
    let cache_env = cache.display().to_string();
    for (ig, env) in [
        (pkg.display().to_string(), None),
        (tgz.display().to_string(), None),
        (
            "example.test.profiles#0.1.0".to_string(),
            Some(cache_env.as_str()),
        ),
    ] {
        let mut args = vec!["validate", "--json", "--ig", ig.as_str()];
        args.extend(files.iter().map(String::as_str));
        let env: Vec<(&str, &str)> = env.map(|c| ("FHIR_PACKAGE_CACHE", c)).into_iter().collect();
        let out = harness(&repo(), &args, &env);
        let lines: Vec<Value> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("line"))
            .collect();
        assert_eq!(lines.len(), expected.len(), "{ig}: {}", out.all());
        for (line, want) in lines.iter().zip(&expected) {
            let name = want["file"].as_str().expect("file");
            if want["expression"].is_null() {
                assert_eq!(line["valid"], true, "{ig} {name}: {}", line["issues"]);
                if name == "valid-patient.json" {
                    let ms = line["must_support"].to_string();
                    assert!(
                        ms.contains("Patient.birthDate") && ms.contains("Patient.identifier"),
                        "{ms}"
                    );
                }
                continue;
            }
            let hit = line["issues"].as_array().expect("issues").iter().any(|i| {
                i["severity"] == "error"
                    && i["expression"] == want["expression"]
                    && i["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(want["contains"].as_str().expect("contains")))
            });
            assert!(hit, "{ig} {name}: {}", line["issues"]);
        }
    }
}
