#!/usr/bin/env python3
"""Quick structural check of FHIR R4 JSON resources against r4-core.json.gz.

    python3 tools/fhir-defs/r4_shape_check.py FILE...

Not a validator: it checks only what a bundle of trimmed StructureDefinitions makes easy -
unknown elements, arrays vs single values, min/max cardinality, primitive JSON types and
regexes, and `code` values under required bindings whose ValueSet can be expanded from the
bundle. Used to confirm that fixture examples are FHIR 4.0.1 (not R4B/R5) before committing
them. Python 3.11 stdlib only. Exit status 1 when any file has an issue.
"""
import gzip
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORE = os.path.join(HERE, "..", "..", "crates", "validate", "data", "fhir", "r4-core.json.gz")
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"


class Defs:
    def __init__(self):
        b = json.load(gzip.open(CORE))
        self.sd = {}
        self.vs = {}
        self.cs = {}
        for e in b["entry"]:
            r = e["resource"]
            if r["resourceType"] == "StructureDefinition":
                if r.get("derivation") != "constraint" and r["kind"] != "logical":
                    self.sd[r["type"]] = r
            elif r["resourceType"] == "ValueSet":
                self.vs[r["url"]] = r
            elif r["resourceType"] == "CodeSystem":
                self.cs[r["url"]] = r
        self.els = {t: {el["path"]: el for el in sd["snapshot"]["element"]} for t, sd in self.sd.items()}
        self.regex = {}
        for t, sd in self.sd.items():
            if sd["kind"] == "primitive-type":
                v = self.els[t].get(f"{t}.value")
                for ty in (v or {}).get("type", []):
                    for x in ty.get("extension", []):
                        if x["url"] == REGEX_EXT:
                            # ASCII classes, as in Java (java.util.regex): FHIR's string regex [ \r\n\t\S]+ must accept U+00A0
                            self.regex[t] = re.compile(x["valueString"], re.ASCII)
        self._exp = {}

    def is_primitive(self, t):
        return t in self.sd and self.sd[t]["kind"] == "primitive-type"

    def expand(self, url):
        url = url.split("|")[0]
        if url in self._exp:
            return self._exp[url]
        self._exp[url] = None
        vs = self.vs.get(url)
        if vs is None:
            return None
        codes = set()
        for inc in vs.get("compose", {}).get("include", []):
            if "filter" in inc:
                return None
            if "concept" in inc:
                codes |= {c["code"] for c in inc["concept"]}
            elif "system" in inc:
                cs = self.cs.get(inc["system"])
                if cs is None or cs.get("content") != "complete":
                    return None
                stack = list(cs.get("concept", []))
                while stack:
                    c = stack.pop()
                    codes.add(c["code"])
                    stack.extend(c.get("concept", []))
            for sub in inc.get("valueSet", []):
                s = self.expand(sub)
                if s is None:
                    return None
                codes |= s
        if vs.get("compose", {}).get("exclude"):
            return None
        self._exp[url] = codes
        return codes


def elem_type(el):
    if "contentReference" in el:
        return ("ref", el["contentReference"].lstrip("#"))
    codes = [t["code"] for t in el.get("type", [])]
    out = []
    for t in el.get("type", []):
        c = t["code"]
        if c.startswith("http://hl7.org/fhirpath/System."):
            for x in t.get("extension", []):
                if x["url"] == FHIR_TYPE_EXT:
                    c = x.get("valueUrl") or x.get("valueUri")
        out.append(c)
    return out


class Checker:
    def __init__(self, defs):
        self.d = defs
        self.issues = []

    def err(self, path, msg):
        self.issues.append(f"{path}: {msg}")

    def resource(self, obj, path):
        rt = obj.get("resourceType")
        if rt not in self.d.sd or self.d.sd[rt]["kind"] != "resource":
            self.err(path, f"unknown resourceType {rt!r}")
            return
        self.complex(obj, rt, rt, path, is_resource=True)

    def complex(self, obj, type_name, el_path, path, is_resource=False):
        if not isinstance(obj, dict):
            self.err(path, "expected an object")
            return
        els = self.d.els[type_name]
        children = {}
        prefix = el_path + "."
        for p, el in els.items():
            if p.startswith(prefix) and "." not in p[len(prefix):]:
                children[p[len(prefix):]] = el
        seen = set()
        for key, val in obj.items():
            if key == "resourceType" and is_resource:
                continue
            name = key[1:] if key.startswith("_") else key
            el, ty = children.get(name), None
            if el is not None and name.endswith("[x]"):
                el = None
            if el is None:
                for cname, cel in children.items():
                    if cname.endswith("[x]") and name.startswith(cname[:-3]):
                        suffix = name[len(cname) - 3:]
                        for t in elem_type(cel):
                            if t[0].upper() + t[1:] == suffix:
                                el, ty = cel, t
                if el is None:
                    self.err(f"{path}.{key}", "unknown element")
                    continue
            seen.add(el["path"])
            types = elem_type(el) if ty is None else [ty]
            many = el.get("max") != "1"
            if el["max"] == "0":
                self.err(f"{path}.{key}", "element not allowed (max 0)")
            vals = val if isinstance(val, list) else [val]
            if isinstance(val, list) != many and not (key.startswith("_")):
                self.err(f"{path}.{key}", "array expected" if many else "single value expected")
            if isinstance(types, tuple):
                for i, v in enumerate(vals):
                    self.complex(v, type_name, types[1], f"{path}.{key}[{i}]")
                continue
            t = types[0] if len(types) == 1 else None
            for i, v in enumerate(vals):
                vp = f"{path}.{key}" + (f"[{i}]" if many else "")
                if key.startswith("_"):
                    if v is not None:
                        self.complex(v, "Element", "Element", vp)
                    continue
                if t is None:
                    self.err(vp, f"cannot tell type among {types}")
                elif t in ("Resource",) or (t in self.d.sd and self.d.sd[t]["kind"] == "resource"):
                    self.resource(v, vp)
                elif t in ("BackboneElement", "Element"):
                    self.complex(v, type_name, el["path"], vp)
                elif self.d.is_primitive(t):
                    self.primitive(v, t, vp, el)
                elif t in self.d.sd:
                    self.complex(v, t, t, vp)
                else:
                    self.err(vp, f"unknown type {t}")
        for cname, cel in children.items():
            if cel.get("min", 0) > 0 and cel["path"] not in seen:
                self.err(path, f"missing required {cname}")
            if cel.get("max") not in ("*", None) and cel["path"] in seen:
                pass

    def primitive(self, v, t, path, el):
        if v is None:
            return
        if t == "boolean":
            ok = isinstance(v, bool)
        elif t in ("integer", "unsignedInt", "positiveInt", "decimal"):
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        else:
            ok = isinstance(v, str)
        if not ok:
            self.err(path, f"wrong JSON type for {t}")
            return
        rx = self.d.regex.get(t)
        s = json.dumps(v) if not isinstance(v, str) else v
        if rx is not None and t not in ("decimal",) and not rx.fullmatch(s):
            self.err(path, f"{t} value {s[:40]!r} does not match its regex")
        b = el.get("binding")
        if t == "code" and b and b.get("strength") == "required":
            codes = self.d.expand(b["valueSet"])
            if codes is not None and v not in codes:
                self.err(path, f"code {v!r} not in required {b['valueSet']}")


def main(argv):
    defs = Defs()
    bad = 0
    for f in argv:
        c = Checker(defs)
        try:
            c.resource(json.load(open(f, encoding="utf-8")), os.path.basename(f))
        except Exception as e:  # noqa
            c.err(f, f"exception {e!r}")
        if c.issues:
            bad += 1
            print(f"FAIL {f}")
            for i in c.issues[:20]:
                print("   ", i)
        else:
            print(f"ok   {f}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
