#!/usr/bin/env python3
"""gen.py: regenerate a US Core StructureDefinition snapshot from its parent's snapshot and its
differential, imitating the IG publisher's output as found in the LinuxForHealth copies (links made
absolute, constraint sources filled in, mappings appended, ElementDefinition key order). Used to
predict the unread parts of a file; every generated file is checked against the stored length and
against the pages that were read."""
import copy, json, os, re, sys
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import base

ORDER = ["id", "extension", "modifierExtension", "path", "representation", "sliceName", "sliceIsConstraining",
         "label", "code", "slicing", "short", "definition", "comment", "requirements", "alias", "min", "max",
         "base", "contentReference", "type"]
TAIL = ["example", "minValue", "maxValue", "maxLength", "condition", "constraint", "mustSupport", "isModifier",
        "isModifierReason", "isSummary", "binding", "mapping"]
def keyrank(k):
    if k in ORDER: return (ORDER.index(k), k)
    if k.startswith("defaultValue"): return (30, k)
    if k == "meaningWhenMissing": return (31, k)
    if k == "orderMeaning": return (32, k)
    if k.startswith("fixed"): return (33, k)
    if k.startswith("pattern"): return (34, k)
    if k in TAIL: return (40 + TAIL.index(k), k)
    raise KeyError(k)
def ordered(e):
    return {k: e[k] for k in sorted(e, key=keyrank)}

_others = None
def core_sd(name):
    global _others
    s = base.sds()
    if name not in s:
        if _others is None:
            _others = True
            for f in ("profiles-others.json",):
                b = json.load(open(os.path.join(here, "r4/package/dist/fhir/r4", f), encoding="utf-8"))
                for e in b["entry"]:
                    s[e["resource"]["id"]] = e["resource"]
    return s[name]

def prep_core(sd):
    url = sd["url"]
    out = []
    for e in sd["snapshot"]["element"]:
        e = base.fix(copy.deepcopy(e), "http://hl7.org/fhir/R4/")
        for c in e.get("constraint", []):
            if "source" not in c:
                c["source"] = url
        for m in e.get("mapping", []):
            m["map"] = m["map"].rstrip()
        if e.get("contentReference", "").startswith("#"):
            e["contentReference"] = "http://hl7.org/fhir/StructureDefinition/%s%s" % (sd["type"], e["contentReference"])
        out.append(e)
    return out

def parent_snapshot(base_url):
    if base_url.startswith("http://hl7.org/fhir/us/core/StructureDefinition/"):
        sid = base_url.rsplit("/", 1)[1].split("|")[0]
        d = json.load(open(os.path.join(here, "package", "StructureDefinition-%s.json" % sid), encoding="utf-8"))
        els = copy.deepcopy(d["snapshot"]["element"])
        for e in els:
            for c in e.get("constraint", []):
                if "source" not in c:
                    c["source"] = base_url.split("|")[0]
        return els
    return prep_core(core_sd(base_url.rsplit("/", 1)[1]))

def type_children(tname, pid, ppath):
    sd = core_sd(tname)
    els = prep_core(sd)
    root = els[0]["id"]
    out = []
    for e in els[1:]:
        rest = e["id"][len(root):]
        if rest.count(".") != 1:
            continue
        e = copy.deepcopy(e)
        e["id"] = pid + rest
        e["path"] = ppath + e["path"][len(root):]
        out.append(e)
    return out

_ext = {}
def ext_root(url):
    url = url.split("|")[0]
    if not _ext:
        b = json.load(open(os.path.join(here, "r4/package/dist/fhir/r4/extension-definitions.json"), encoding="utf-8"))
        for e in b["entry"]:
            _ext[e["resource"]["url"]] = e["resource"]
        import glob
        for f in glob.glob(os.path.join(here, "package", "StructureDefinition-*.json")):
            r = json.load(open(f, encoding="utf-8"))
            if r["type"] == "Extension": _ext[r["url"]] = r
    return base.fix(copy.deepcopy(_ext[url]["snapshot"]["element"][0]), "http://hl7.org/fhir/R4/")

PRIMS = {"boolean", "integer", "string", "decimal", "uri", "url", "canonical", "base64Binary", "instant", "date",
         "dateTime", "time", "code", "oid", "id", "markdown", "unsignedInt", "positiveInt", "uuid"}

DIRECT = {}
def canon_choice(d, nodes):
    """Observation.valueQuantity.x -> Observation.value[x]:valueQuantity.x (id) / Observation.value[x].x (path)"""
    paths = {n.el["path"] for n in nodes.values() if n is not None}
    segs = d["id"].split(".")
    out_id, out_path = segs[0], segs[0]
    for s in segs[1:]:
        name = s.split(":")[0]
        if out_path + "." + name not in paths:
            for k in paths:
                if k.startswith(out_path + ".") and k.endswith("[x]") and k.count(".") == out_path.count(".") + 1:
                    stem = k.rsplit(".", 1)[1][:-3]
                    if name.startswith(stem) and name != stem:
                        direct = ":" in out_id  # empirical: renamed choices inside a slice constrain value[x] itself
                        if direct and s == segs[-1] and "type" not in d:
                            t = name[len(stem):]
                            if t[0].lower() + t[1:] in PRIMS: t = t[0].lower() + t[1:]
                            d = dict(d); d["_filter_type"] = t
                        s = stem + "[x]" if direct else stem + "[x]:" + name; name = stem + "[x]"
                        break
        out_id += "." + s; out_path += "." + name
    d = dict(d)
    if out_id != d["id"]:
        d["id"] = out_id; d["path"] = out_path
    return d

class Node:
    def __init__(self, el):
        self.el = el; self.base = el; self.children = []; self.slices = []
    def walk(self):
        yield self.el
        for c in self.children: yield from c.walk()
        for s in self.slices: yield from s.walk()

def split_parent(i):
    """'A.b:s.c' -> ('A.b:s', 'child'), 'A.b:s' -> ('A.b', 'slice')"""
    last = i.rsplit(".", 1)
    tail = last[1] if len(last) > 1 else last[0]
    if ":" in tail:
        return i[:i.rindex(":")], "slice"
    return last[0], "child"

def rename(node, old, new, oldpath=None, newpath=None):
    n = Node(copy.deepcopy(node.el))
    n.el["id"] = new + n.el["id"][len(old):]
    n.children = [rename(c, old, new) for c in node.children]
    n.slices = [rename(s, old, new) for s in node.slices]
    return n

def merge(el, d, url, first=False):
    el = copy.deepcopy(el)
    for k, v in d.items():
        if k == "meaningWhenMissing":
            continue  # observed: the IG publisher's snapshot does not carry a differential's meaningWhenMissing
        if k == "_filter_type":
            el["type"] = [t for t in el["type"] if t["code"] == v]
        elif k == "mapping":
            m = el.get("mapping", [])
            for x in v:
                if x not in m: m.append(x)
            el["mapping"] = m
        elif k == "constraint":
            el["constraint"] = el.get("constraint", []) + copy.deepcopy(v)
        elif k == "binding":
            b = copy.deepcopy(v)
            if "valueSet" not in b and "valueSet" in el.get("binding", {}):
                b["valueSet"] = el["binding"]["valueSet"]
            el["binding"] = b
        elif k == "alias":
            a = el.get("alias", [])
            for x in v:
                if x not in a: a.append(x)
            el["alias"] = a
        elif k == "condition":
            cs = el.get("condition", [])
            for c in v:
                if c not in cs: cs.append(c)
            el["condition"] = cs
        else:
            el[k] = copy.deepcopy(v)
    return ordered(el)

def generate(sd):
    url = sd["url"]
    pels = parent_snapshot(sd["baseDefinition"])
    nodes = {}
    root = None
    for e in pels:
        n = Node(e); nodes[e["id"]] = n
        if root is None: root = n; continue
        pid, kind = split_parent(e["id"])
        (nodes[pid].slices if kind == "slice" else nodes[pid].children).append(n)
    def ensure(i):
        if i in nodes: return nodes[i]
        pid, kind = split_parent(i)
        p = ensure(pid)
        if kind == "slice":
            d = diff.get(i, {})
            tp = d.get("type", [{}])[0]
            if p.base.get("type", [{}])[0].get("code") == "Extension" and tp.get("profile"):
                if "slicing" not in p.el:
                    p.el = dict(p.el)
                    p.el["slicing"] = {"discriminator": [{"type": "value", "path": "url"}], "ordered": False, "rules": "open"}
                    p.el["short"] = "Extension"; p.el["definition"] = "An Extension"
                    for k in ("comment", "alias", "mapping"): p.el.pop(k, None)
                    p.el = ordered(p.el)
                x = ext_root(tp["profile"][0])
                el = {k: v for k, v in x.items() if k not in ("id", "path", "base", "mapping", "extension")}
                el.update({"id": i, "path": p.base["path"], "sliceName": i[i.rindex(":") + 1:], "base": p.base["base"], "type": copy.deepcopy(d["type"])})
                n = Node(ordered(el)); n.base = n.el
                nodes[i] = n; p.slices.append(n)
                return n
            el = copy.deepcopy(p.base); el.pop("slicing", None)
            el["id"] = i; el["sliceName"] = i[i.rindex(":") + 1:]
            if p.base["path"].endswith("[x]"):
                tname = el["sliceName"][len(p.base["path"].rsplit(".", 1)[1]) - 3:]
                if tname[0].lower() + tname[1:] in PRIMS: tname = tname[0].lower() + tname[1:]
                el["type"] = [{"code": tname}]
                pe = dict(p.el)
                pe["slicing"] = {"discriminator": [{"type": "type", "path": "$this"}], "ordered": False, "rules": "closed"}
                old = [t["code"] for t in pe["type"]] if p.el.get("slicing") else []
                pe["type"] = [{"code": c} for c in old + [tname]]
                p.el = ordered(pe)
            n = Node(ordered(el))
            n.children = [rename(c, pid, i) for c in p.children]
            for c in n.walk(): nodes[c["id"]] = None
            def reg(x):
                nodes[x.el["id"]] = x
                for y in x.children + x.slices: reg(y)
            reg(n)
            p.slices.append(n)
            return n
        # child not in parent snapshot: expand the parent's type
        types = p.el.get("type", [])
        assert len(types) == 1, (i, types)
        for c in type_children(types[0]["code"], p.el["id"], p.el["path"]):
            cn = Node(c); nodes[c["id"]] = cn; p.children.append(cn)
        return nodes[i]
    DIRECT.clear()
    sd = dict(sd); sd["differential"] = {"element": [canon_choice(d, nodes) for d in sd["differential"]["element"]]}
    diff = {d["id"]: d for d in sd["differential"]["element"]}
    for d in sd["differential"]["element"]:
        n = ensure(d["id"])
        if n is root and sd["type"] == "Extension" and sd["baseDefinition"].endswith("/Extension"):
            el = dict(n.el); el.pop("extension", None)
            el.pop("mapping", None)
            n.el = el
        n.el = merge(n.el, d, url, n is root)
    return list(root.walk())

if __name__ == "__main__":
    for f in sys.argv[1:]:
        sd = json.load(open(f, encoding="utf-8"))
        got = generate(sd)
        want = sd["snapshot"]["element"]
        gi = [e["id"] for e in got]; wi = [e["id"] for e in want]
        bad = 0
        if gi != wi:
            print(f, "ID LIST DIFFERS"); print(" got ", gi); print(" want", wi)
        for g, w in zip(got, want):
            if g != w:
                bad += 1
                print("  ", w["id"])
                for k in dict.fromkeys(list(w) + list(g)):
                    if g.get(k) != w.get(k):
                        print("     ", k, "G:", json.dumps(g.get(k), ensure_ascii=False)[:400]); print("      ", " " * len(k), "W:", json.dumps(w.get(k), ensure_ascii=False)[:400])
                if list(g) != list(w): print("      keys G", list(g)); print("      keys W", list(w))
        print(f.split("/")[-1], len(want), "elements,", bad, "differ")
