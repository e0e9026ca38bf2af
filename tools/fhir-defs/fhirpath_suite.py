#!/usr/bin/env python3
"""Turn the official FHIRPath R4 test suite into JSON the Rust side can read.

    python3 tools/fhir-defs/fhirpath_suite.py

Reads (all under tests/fixtures/fhirpath-r4/):
  source/tests-fhir-r4.xml      the suite (FHIR/fhir-test-cases r4/fhirpath/tests-fhir-r4.xml)
  source/*.xml                  input resources only published as XML
  input/*.json                  input resources already in FHIR JSON
Writes:
  input/<name>.json             for every source/<name>.xml resource (XML -> FHIR JSON, see below)
  tests.json                    one object per <test>

XML -> JSON conversion is driven by the StructureDefinitions in
crates/validate/data/fhir/r4-core.json.gz: an element becomes a JSON array when its
max is not "1", primitive types give JSON booleans / numbers (decimals keep their exact
text) / strings, ids and extensions on primitives go to `_name`, choice elements keep
their typed name (valueQuantity), xhtml becomes a string, contained resources nest.
Python 3.11 standard library only.
"""
import gzip
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SUITE = os.path.join(ROOT, "tests", "fixtures", "fhirpath-r4")
CORE = os.path.join(ROOT, "crates", "validate", "data", "fhir", "r4-core.json.gz")

FHIR_NS = "{http://hl7.org/fhir}"
XHTML_NS = "http://www.w3.org/1999/xhtml"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
NUMBER_TYPES = {"integer", "unsignedInt", "positiveInt", "decimal"}


class RawNumber(str):
    """A decimal kept as its exact lexical form."""


# ----------------------------------------------------------------------------- model

class Model:
    def __init__(self, path):
        bundle = json.load(gzip.open(path))
        self.types = {}
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] != "StructureDefinition" or r.get("derivation") == "constraint":
                continue
            if r["kind"] == "logical":
                continue
            self.types[r["type"]] = {el["path"]: el for el in r["snapshot"]["element"]}
        self.resources = {t for t, els in self.types.items() if t[0].isupper() and t in (
            "Resource", "DomainResource") or self._is_resource(t)}

    def _is_resource(self, t):
        els = self.types.get(t, {})
        return f"{t}.meta" in els and f"{t}.implicitRules" in els

    def is_primitive(self, code):
        return code in self.types and code[0].islower()

    def child(self, type_name, path, name):
        """(json_name, element, type_code, element_path) for XML child `name` at `path`."""
        els = self.types[type_name]
        el = els.get(f"{path}.{name}")
        if el is not None and not el["path"].endswith("[x]"):
            return name, el, self.type_of(el, type_name), el["path"]
        for cand_path, cand in els.items():
            if not cand_path.endswith("[x]") or not cand_path.startswith(path + "."):
                continue
            base = cand_path[len(path) + 1:-3]
            if "." in base or not name.startswith(base):
                continue
            suffix = name[len(base):]
            for t in cand.get("type", []):
                code = t["code"]
                if code[0].upper() + code[1:] == suffix:
                    return name, cand, code, cand_path
        raise KeyError(f"unknown element {path}.{name} in {type_name}")

    def type_of(self, el, type_name):
        if "contentReference" in el:
            return ("ref", el["contentReference"].lstrip("#"))
        codes = [t["code"] for t in el.get("type", [])]
        if len(codes) != 1:
            raise KeyError(f"ambiguous type for {el['path']}: {codes}")
        code = codes[0]
        if code.startswith("http://hl7.org/fhirpath/System."):
            for x in el["type"][0].get("extension", []):
                if x["url"] == FHIR_TYPE_EXT:
                    return x.get("valueUrl") or x.get("valueUri")
            return "string"
        return code


# ----------------------------------------------------------------------------- XML -> JSON

def local(tag):
    return tag[len(FHIR_NS):] if tag.startswith(FHIR_NS) else tag


def primitive_value(code, text):
    if code == "boolean":
        return text == "true"
    if code == "decimal":
        return RawNumber(text)
    if code in NUMBER_TYPES:
        return int(text)
    return text


def xhtml_string(node):
    ET.register_namespace("", XHTML_NS)
    s = ET.tostring(node, encoding="unicode", short_empty_elements=True)
    return s.rstrip()


def convert_resource(model, node):
    rtype = local(node.tag)
    out = {"resourceType": rtype}
    convert_children(model, rtype, rtype, node, out)
    return out


def convert_complex(model, type_name, path, node):
    out = {}
    if node.get("id") is not None:
        out["id"] = node.get("id")
    if node.get("url") is not None:
        out["url"] = node.get("url")
    convert_children(model, type_name, path, node, out)
    return out


def convert_children(model, type_name, path, node, out):
    for child in node:
        if not isinstance(child.tag, str):
            continue  # comment
        name = local(child.tag)
        if child.tag == f"{{{XHTML_NS}}}div":
            out["div"] = xhtml_string(child)
            continue
        json_name, el, code, el_path = model.child(type_name, path, name)
        many = el.get("max") != "1" or el["base"]["max"] not in ("0", "1")
        if isinstance(code, tuple):  # contentReference
            ref_path = code[1]
            value = convert_complex(model, type_name, ref_path, child)
            put(out, json_name, value, many)
            continue
        if code in ("Resource",) or (code in model.types and model._is_resource(code) and code != type_name
                                     and name in ("contained", "resource", "outcome", "return")):
            inner = next(c for c in child if isinstance(c.tag, str))
            put(out, json_name, convert_resource(model, inner), many)
            continue
        if code == "xhtml":
            inner = next(c for c in child if isinstance(c.tag, str))
            put(out, json_name, xhtml_string(inner), many)
            continue
        if model.is_primitive(code):
            value = child.get("value")
            extra = {}
            if child.get("id") is not None:
                extra["id"] = child.get("id")
            exts = [convert_complex(model, "Extension", "Extension", x) for x in child
                    if isinstance(x.tag, str) and local(x.tag) == "extension"]
            if exts:
                extra["extension"] = exts
            put_primitive(out, json_name, None if value is None else primitive_value(code, value),
                          extra or None, many)
            continue
        if code in ("BackboneElement", "Element"):
            value = convert_complex(model, type_name, el_path, child)
        else:
            value = convert_complex(model, code, code, child)
        put(out, json_name, value, many)


def put(out, name, value, many):
    if many:
        out.setdefault(name, []).append(value)
    else:
        out[name] = value


def put_primitive(out, name, value, extra, many):
    if many:
        vals = out.setdefault(name, [])
        exts = out.setdefault("_" + name, [])
        vals.append(value)
        exts.append(extra)
    else:
        if value is not None:
            out[name] = value
        if extra:
            out["_" + name] = extra


def tidy(obj):
    """Drop all-null `_x` arrays and `x` arrays that are all null."""
    if isinstance(obj, dict):
        for k in list(obj):
            v = obj[k]
            if isinstance(v, list) and all(i is None for i in v):
                del obj[k]
            else:
                tidy(v)
    elif isinstance(obj, list):
        for i in obj:
            tidy(i)
    return obj


def dumps(obj, indent=0):
    sp = "  " * indent
    if isinstance(obj, RawNumber):
        return str.__str__(obj)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f'{sp}  {json.dumps(k, ensure_ascii=False)}: {dumps(v, indent + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + sp + "}"
    if isinstance(obj, list):
        items = [f"{sp}  {dumps(v, indent + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + sp + "]"
    return json.dumps(obj, ensure_ascii=False)


# ----------------------------------------------------------------------------- tests

def json_name(inputfile, available):
    if inputfile is None:
        return None
    base = re.sub(r"\.(xml|json)$", "", inputfile) + ".json"
    return base


def convert_tests(xml_path, available):
    root = ET.parse(xml_path).getroot()
    tests = []
    for group in root.iter("group"):
        gname = group.get("name")
        for t in group.findall("test"):
            expr = t.find("expression")
            invalid = expr.get("invalid")
            if invalid == "true":
                invalid = "execution"
            inp = json_name(t.get("inputfile"), available)
            rec = {
                "name": t.get("name"),
                "group": gname,
                "expression": expr.text or "",
                "input": inp,
                "expected": [{"type": o.get("type"), "value": o.text or ""} for o in t.findall("output")],
                "invalid": invalid,
                "predicate": t.get("predicate") == "true",
            }
            mode = t.get("mode") or expr.get("mode")
            if mode:
                rec["mode"] = mode
            if t.get("ordered") == "false":
                rec["ordered"] = False
            if t.get("checkOrderedFunctions") == "true":
                rec["checkOrderedFunctions"] = True
            if t.get("version"):
                rec["version"] = t.get("version")
            if t.get("description"):
                rec["description"] = t.get("description")
            if inp is not None and inp not in available:
                rec["skip"] = f"input {inp} is not available"
            tests.append(rec)
    return tests


def main():
    model = Model(CORE)
    src = os.path.join(SUITE, "source")
    inp = os.path.join(SUITE, "input")
    for f in sorted(os.listdir(src)):
        if f.endswith(".xml") and not f.startswith("tests-"):
            node = ET.parse(os.path.join(src, f)).getroot()
            res = tidy(convert_resource(model, node))
            with open(os.path.join(inp, f[:-4] + ".json"), "w", encoding="utf-8") as out:
                out.write(dumps(res) + "\n")
    available = set(os.listdir(inp))
    tests = convert_tests(os.path.join(src, "tests-fhir-r4.xml"), available)
    with open(os.path.join(SUITE, "tests.json"), "w", encoding="utf-8") as out:
        out.write("[\n" + ",\n".join(json.dumps(t, ensure_ascii=False) for t in tests) + "\n]\n")
    skipped = sum(1 for t in tests if "skip" in t)
    print(f"{len(tests)} tests, {skipped} without input; inputs: {sorted(available)}")


if __name__ == "__main__":
    sys.exit(main())
