//! `emr-harness validate` over the invalid-resource set in tests/fixtures/validation: each
//! `invalid-*` file is rejected with a reason, each `valid-*` file accepted. The same set is what
//! benches/crosscheck-validators.sh gives to other validators.

use crate::common;

use common::{harness, repo};

#[test]
fn every_invalid_fixture_is_rejected_and_every_valid_one_accepted() {
    let dir = repo().join("tests/fixtures/validation");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".json"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "{files:?}");
    let mut args = vec!["validate", "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = harness(&repo(), &args, &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), files.len());
    for l in &lines {
        let file = l["file"].as_str().expect("file");
        let name = file.rsplit('/').next().unwrap_or(file);
        let expected_valid = name.starts_with("valid-");
        assert_eq!(l["valid"], expected_valid, "{name}: {}", l["issues"]);
        if !expected_valid {
            assert!(!l["issues"].as_array().expect("issues").is_empty());
        }
    }
    let valid_only: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| f.contains("/valid-"))
        .collect();
    let mut args = vec!["validate"];
    args.extend(valid_only);
    let out = harness(&repo(), &args, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
}
