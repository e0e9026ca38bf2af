#!/usr/bin/env python3
"""Where emr-harness's FHIR verdict differs from npm `fhir`'s or asymmetrik's, and why.

    python3 tools/fhir-crosscheck/disagreements.py [path/to/emr-harness]

Reads results.jsonl (the two libraries' verdicts, from crosscheck.js), runs `emr-harness validate
--json` on the same files (a QuestionnaireResponse of the validator cases with its Questionnaire,
as tests/fixtures/fhir-validator-cases/cases.json says), and writes DISAGREEMENTS.json: every file
where a verdict differs, with the rule our first error names, grouped; GROUPS below says why each
group differs. The test `crosscheck_disagreements_are_all_explained` (tests/it/fhir_validate.rs)
fails when a disagreement appears that is not listed here, or a listed one goes away.
"""
import json, pathlib, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/debug/emr-harness")

# Why each group of disagreements exists (the rule our validator applies that the libraries don't).
GROUPS = {
    "questionnaire": "QuestionnaireResponse checked against its Questionnaire (answer types, options, limits, counts, linkIds): neither library loads a Questionnaire.",
    "invariant": "An invariant (FHIRPath constraint) of the R4 definitions fails: neither library evaluates invariants.",
    "value": "A primitive's format beyond its JSON type (a day that does not exist, a time zone, base64 that does not decode, an id's characters, markdown with HTML): the libraries check the JSON type and a few regexes only.",
    "binding": "A code outside a required binding's value set, or a Coding whose display names another concept: the libraries check few bindings (npm fhir) or none (asymmetrik).",
    "structure": "Element structure (unknown element, array vs single value, empty objects/arrays, two choice types): the libraries catch some of these and miss others.",
    "cardinality": "A required element missing or repeated past its max: on a primitive (whose value may sit in `_name`, so a JSON schema cannot require it), or in a profile (ai5/ai6: the libraries load no profiles).",
    "abstract-code": "The Questionnaire uses the abstract item type `question`: asymmetrik's schema enum leaves abstract codes out; our expansion of the required value set does not mark codes abstract yet, so we accept it (a known gap).",
    "reference": "A reference's form or target type (`#id` naming no contained resource, a type that is not a resource type, a target type the element does not allow).",
    "contained": "Contained-resource rules (dom-2..dom-5, ids): not in the libraries.",
    "bundle": "Bundle fullUrl rules (absolute, matching the resource's type and id): not in the libraries.",
    "attachment": "An Attachment's stated size or hash against its data: not in the libraries.",
    "extension": "An extension against its definition (value type, url required): the libraries do not load extension definitions.",
    "resource-type": "A resource type that R4 does not have (R4B's Citation, an unknown type): npm fhir accepts some of these.",
    "json": "Not JSON at all: all three reject it, but the libraries' failure is the script's JSON.parse.",
    "fhirVersion": "asymmetrik's bundled schema is for FHIR 4.0.0 and rejects `fhirVersion: 4.0.1`; ours (4.0.1) accepts it.",
    "canonical-extension": "asymmetrik's R4 JSON schema has no `_name` property for `canonical` elements, so it rejects extensions on them (US Core's CapabilityStatement); R4 allows them.",
    "library-false-alarm": "A valid resource the library rejects: npm fhir reads a reference's type from an absolute URL's second-to-last segment (ClaimResponse-R3500), asymmetrik rejects U+00A0 in strings or other schema limits.",
}

def group_of(issues):
    errs = [i for i in issues if i["severity"] in ("error", "fatal")]
    if not errs:
        return None
    i = errs[0]
    rule, msg = (i.get("rule") or ""), i["message"]
    if i["severity"] == "fatal":
        return "json"
    if rule.startswith("questionnaire"):
        return "questionnaire"
    if rule in ("cardinality", "slice-cardinality"):
        return "cardinality"
    if rule.startswith("ref-"):
        return "reference"
    if rule in ("contained-id", "dom-2", "dom-3", "dom-4", "dom-5"):
        return "contained"
    if rule.startswith("bundle"):
        return "bundle"
    if rule.startswith("attachment"):
        return "attachment"
    if rule in ("binding", "display", "code-system"):
        return "binding"
    if rule == "extension" or "Extension" in msg:
        return "extension"
    if i["code"] == "invariant":
        return "invariant"
    if "resource type" in msg:
        return "resource-type"
    if i["code"] == "value":
        return "value"
    return "structure"

def ours(args):
    """Our verdict per file, from one `validate --json` run."""
    out = subprocess.run([BIN, "validate", "--json", *args], capture_output=True, text=True, cwd=ROOT)
    return {json.loads(l)["file"]: json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")}

def main():
    rows = [json.loads(l) for l in (ROOT / "tools/fhir-crosscheck/results.jsonl").read_text().splitlines() if l.strip()]
    cases = json.loads((ROOT / "tests/fixtures/fhir-validator-cases/cases.json").read_text())
    # Every Questionnaire is loaded at once (their URLs differ), and US Core is loaded for all.
    defs = []
    for c in cases:
        for s in c.get("supporting") or []:
            defs += ["--definitions", f"tests/fixtures/fhir-validator-cases/{s}"]
    verdicts = ours(defs + ["--ig", "hl7.fhir.us.core#5.0.1"] + [r["file"] for r in rows])
    out = {}
    for r in rows:
        f = r["file"]
        line = verdicts[f]
        mine = line["valid"]
        if mine == r["fhir"]["valid"] and mine == r["asymmetrik"]["valid"]:
            continue
        g = group_of(line["issues"])
        if f.endswith("abstract-question-type-included-q.json"):
            g = "abstract-code"
        if g is None:
            g = "fhirVersion" if any("fhirVersion" in json.dumps(e) for e in r["asymmetrik"]["errors"]) and r["fhir"]["valid"] else (
                "canonical-extension" if not r["asymmetrik"]["valid"] and r["fhir"]["valid"] and "CapabilityStatement" in f else "library-false-alarm")
        out[f] = {"ours": mine, "fhir": r["fhir"]["valid"], "asymmetrik": r["asymmetrik"]["valid"], "group": g}
    doc = {"groups": GROUPS, "files": dict(sorted(out.items()))}
    (ROOT / "tools/fhir-crosscheck/DISAGREEMENTS.json").write_text(json.dumps(doc, indent=1) + "\n")
    from collections import Counter
    print(len(rows), "files,", len(out), "disagreements:", dict(Counter(v["group"] for v in out.values())))

main()
