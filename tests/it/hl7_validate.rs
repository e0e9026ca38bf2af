//! `validate hl7` and structure checks from the outside: mutations of valid messages are each
//! caught at the right place, files of every shape are read (batches, MLLP captures, BOM, line
//! ends), versions without definitions are a clear finding, and a conformance profile works
//! from the command line and from a scenario run against the sandbox.

use serde_json::Value;

use crate::common::{harness, repo, workspace};

const ADT: &str = "MSH|^~\\&|REGADT|HOSP|EMR|HOSP|20261129090000||ADT^A01^ADT_A01|CTRL1|P|2.5.1\rEVN|A01|20261129090000\rPID|1||M100^^^HOSP^MR||Doe^Jane||19800101|F\rPV1|1|I\r";
const ORU: &str = "MSH|^~\\&|LAB|L|EMR|H|20261129100000||ORU^R01^ORU_R01|R1|P|2.5.1\rPID|1||M100^^^HOSP^MR||Doe^Jane\rOBR|1||F1|2345-7^Glucose^LN\rOBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F\r";

/// (location, rule) of every error `validate hl7 --json` reports for `text`.
fn errors(text: &str) -> Vec<(String, String)> {
    let dir = workspace(&[("m.hl7", text)]);
    let out = harness(dir.path(), &["validate", "hl7", "--json", "m.hl7"], &[]);
    let v: Value = serde_json::from_str(out.stdout.lines().next().unwrap_or("{}")).expect("JSON");
    v["findings"]
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
        .collect()
}

fn pair(l: &str, r: &str) -> (String, String) {
    (l.to_string(), r.to_string())
}

#[test]
fn the_valid_bases_pass() {
    assert_eq!(errors(ADT), vec![]);
    assert_eq!(errors(ORU), vec![]);
}

#[test]
fn each_mutation_is_caught_at_its_place() {
    // A required segment removed.
    assert_eq!(
        errors(&ADT.replace("PV1|1|I\r", "")),
        vec![pair("segment PV1", "required-segment")]
    );
    // A group's segments out of order: the result before its order.
    let swapped = ORU.replace(
        "OBR|1||F1|2345-7^Glucose^LN\rOBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F\r",
        "OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F\rOBR|1||F1|2345-7^Glucose^LN\r",
    );
    let e = errors(&swapped);
    assert!(
        e.contains(&pair("OBX (segment 3)", "segment-order")),
        "{e:?}"
    );
    // A code outside an HL7-defined table (0103 processing ID).
    assert_eq!(
        errors(&ADT.replace("|CTRL1|P|", "|CTRL1|Q|")),
        vec![pair("MSH-11.1", "table-0103")]
    );
    // A timestamp that is no date (month 13).
    assert_eq!(
        errors(&ADT.replace("||19800101|F", "||19801301|F")),
        vec![pair("PID-7", "datatype-TS")]
    );
    // A required field emptied.
    assert_eq!(
        errors(&ADT.replace("PID|1||M100^^^HOSP^MR|", "PID|1|||")),
        vec![pair("PID-3", "required-field")]
    );
}

#[test]
fn files_of_every_shape_are_read() {
    let crlf = ADT.replace('\r', "\r\n");
    let bom = format!("\u{feff}{}", ADT.replace('\r', "\n"));
    let batch = format!("FHS|^~\\&|REGADT\rBHS|^~\\&|REGADT\r{ADT}{ORU}BTS|2\rFTS|1\r");
    let mllp = format!("\x0b{ADT}\x1c\r\x0b{ORU}\x1c\r");
    let dir = workspace(&[
        ("crlf.hl7", &crlf),
        ("bom.hl7", &bom),
        ("batch.hl7", &batch),
        ("capture.mllp", &mllp),
        ("v22.hl7", &ADT.replace("|2.5.1\r", "|2.2\r")),
    ]);
    let out = harness(
        dir.path(),
        &[
            "validate",
            "hl7",
            "crlf.hl7",
            "bom.hl7",
            "batch.hl7",
            "capture.mllp",
            "v22.hl7",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("7 message(s): 7 valid"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("no definitions for version \"2.2\""),
        "{}",
        out.stdout
    );
}

#[test]
fn a_conformance_profile_from_the_command_line() {
    let profile = repo().join("tests/fixtures/hl7-profiles/adt-a01-registration.xml");
    let bad = ADT
        .replace("|REGADT|", "|OTHER|")
        .replace("M100^^^HOSP^MR|", "M100^^^HOSP^MR~M2~M3|")
        .replace("|19800101|F", "|19800101|A")
        .replace("PV1|1|I\r", "NK1|1|Doe^John\rPV1|1|I\r");
    let dir = workspace(&[("ok.hl7", ADT), ("bad.hl7", &bad)]);
    let p = profile.to_str().expect("path");
    let ok = harness(
        dir.path(),
        &["validate", "hl7", "--profile", p, "ok.hl7"],
        &[],
    );
    assert_eq!(ok.code, 0, "{}", ok.all());
    let out = harness(
        dir.path(),
        &["validate", "hl7", "--profile", p, "--json", "bad.hl7"],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    for want in [
        "\"MSH-3.1\"",
        "profile-fixed",
        "profile-cardinality",
        "profile-value-set",
        "segment 4 (NK1)",
    ] {
        assert!(out.stdout.contains(want), "{want}: {}", out.stdout);
    }
}

#[test]
fn a_conformance_profile_from_a_scenario() {
    let profile = std::fs::read_to_string(
        repo().join("tests/fixtures/hl7-profiles/adt-a01-registration.xml"),
    )
    .expect("profile");
    let step = |name: &str, app: &str| {
        format!(
            "  - name: {name}\n    hl7:\n      message: |\n        MSH|^~\\&|{app}|HOSP|EMR|HOSP|{{{{ now.hl7 }}}}||ADT^A01^ADT_A01|{{{{ uuid }}}}|P|2.5.1\n        EVN|A01|{{{{ now.hl7 }}}}\n        PID|1||{{{{ fake.mrn }}}}^^^HOSP^MR||Doe^Jane||19800101|F\n        PV1|1|I\n      check_structure: {{ profile: registration.xml }}\n"
        )
    };
    let scenario = format!(
        "name: profiled\nsteps:\n{}{}",
        step("conformant", "REGADT"),
        step("wrong sender", "OTHER")
    );
    let dir = workspace(&[("s.yaml", &scenario), ("registration.xml", &profile)]);
    let out = harness(dir.path(), &["run", "s.yaml"], &[]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("1 passed, 1 failed"), "{}", out.stdout);
    assert!(out.stdout.contains("profile-fixed"), "{}", out.stdout);
    // A profile outside the scenario's folder is refused like any file a step reads.
    let outside = scenario.replace("profile: registration.xml", "profile: ../registration.xml");
    let dir2 = workspace(&[("sub/s.yaml", &outside), ("registration.xml", &profile)]);
    let lint = harness(dir2.path(), &["lint", "sub/s.yaml"], &[]);
    assert_eq!(lint.code, 2, "{}", lint.all());
    assert!(
        lint.stderr.contains("hl7.check_structure.profile"),
        "{}",
        lint.stderr
    );
}
