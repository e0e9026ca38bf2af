#!/usr/bin/env python3
"""Cross-check the HL7 v2 corpus (tests/fixtures/hl7-corpus) with hl7apy's strict validation.

For every file listed in MANIFEST.json, every message in it (a file may hold a batch: FHS/BHS/BTS/FTS lines are
skipped, each MSH starts a message) is parsed with

    hl7apy.parser.parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)

and then validated with msg.validate(report_file=...), which collects every error and warning instead of only
the first. Verdicts:

    valid    parsed, and validate() found no error (its warnings, e.g. codes not in an HL7 table, are listed)
    invalid  parsing or validation raised an hl7apy validation exception (ValidationError, ChildNotValid,
             ChildNotFound, MaxChildLimitReached, InvalidDataType, InvalidEncodingChars, ...) or the ValueError
             its data types raise for a malformed value ("... is not an HL7 valid NM value"), or validate()
             reported errors
    error    anything else (unsupported version, unparseable MSH, Python exceptions inside hl7apy)

hl7apy splits segments on \\r only, so \\r\\n and \\n separators are turned into \\r before parsing, and MLLP framing
bytes (VT 0x0B, FS 0x1C) are dropped (the corpus files keep their original bytes).

Usage:
  python3 tools/hl7v2-defs/hl7apy_check.py                      # JSON lines to stdout
  python3 tools/hl7v2-defs/hl7apy_check.py --out results.jsonl
  python3 tools/hl7v2-defs/hl7apy_check.py --update-manifest    # (re)write the "hl7apy" field of MANIFEST.json
  python3 tools/hl7v2-defs/hl7apy_check.py --bench [--rounds 5] # time strict parse+validate, print MB/s

Needs hl7apy (pip install --require-hashes -r tools/hl7v2-defs/requirements.txt).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "fixtures" / "hl7-corpus"
MAX_MESSAGES = 8      # messages kept per result
MAX_LEN = 300         # characters kept per message

try:
    from hl7apy import exceptions as hx
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message
except ImportError:  # pragma: no cover
    sys.exit("hl7apy is not installed: python3 -m pip install --require-hashes -r tools/hl7v2-defs/requirements.txt")

INVALID = tuple(getattr(hx, n) for n in (
    "ValidationError", "ValidationWarning", "ChildNotValid", "ChildNotFound", "MaxChildLimitReached",
    "MaxLengthReached", "InvalidDataType", "InvalidName", "InvalidDateFormat", "InvalidDateOffset",
    "InvalidMicrosecondsPrecision", "InvalidHighlightRange", "OperationNotAllowed", "InvalidEncodingChars")
    if hasattr(hx, n))
try:
    from importlib.metadata import version as _dist_version
    HL7APY_VERSION = _dist_version("hl7apy")
except Exception:  # noqa: BLE001
    HL7APY_VERSION = "?"


def is_invalid(e: Exception) -> bool:
    """hl7apy's own validation exceptions, and the ValueError its data types raise for malformed values."""
    return isinstance(e, INVALID) or (isinstance(e, ValueError) and "HL7 valid" in str(e))


def split_messages(data: bytes) -> list[str]:
    """The messages of one corpus file, each with \\r segment separators."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    text = text.replace("\x0b", "").replace("\x1c", "")  # MLLP framing bytes (VT, FS), if a file has them
    msgs, cur = [], None
    for seg in re.split(r"\r\n|\r|\n", text):
        head = seg[:3]
        if head in ("FHS", "BHS", "BTS", "FTS"):
            if cur is not None:
                msgs.append(cur)
                cur = None
            continue
        if head == "MSH":
            if cur is not None:
                msgs.append(cur)
            cur = [seg]
        elif cur is not None:
            cur.append(seg)
        elif seg.strip():
            cur = [seg]  # content before any MSH: kept so that hl7apy reports it
    if cur is not None:
        msgs.append(cur)
    out = []
    for m in msgs:
        while m and m[-1] == "":
            m.pop()
        if m:
            out.append("\r".join(m) + "\r")
    return out


def short(s: str) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= MAX_LEN else s[:MAX_LEN - 3] + "..."


def check(text: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        except Exception as e:  # noqa: BLE001  -- the point is to catch everything
            return {"verdict": "invalid" if is_invalid(e) else "error",
                    "messages": [f"parse: {type(e).__name__}: {short(e)}"]}
        fd, report = tempfile.mkstemp(suffix=".txt")
        os.close(fd)
        try:
            try:
                msg.validate(report_file=report)
                verdict, extra = "valid", []
            except Exception as e:  # noqa: BLE001
                verdict = "invalid" if is_invalid(e) else "error"
                extra = [f"validate: {type(e).__name__}: {short(e)}"]
            lines = [short(x) for x in Path(report).read_text(errors="replace").splitlines() if x.strip()]
        finally:
            os.unlink(report)
    if verdict == "valid" and any(x.startswith("Error:") for x in lines):
        verdict = "invalid"
    errs = [x for x in lines if x.startswith("Error:")]
    warns = [x for x in lines if not x.startswith("Error:")]
    msgs = (errs + warns) if (errs or warns) else extra
    if len(msgs) > MAX_MESSAGES:
        msgs = msgs[:MAX_MESSAGES] + [f"... {len(errs)} errors and {len(warns)} warnings in all"]
    return {"verdict": verdict, "messages": msgs}


def load_manifest() -> list[dict]:
    return json.loads((CORPUS / "MANIFEST.json").read_text())


def run(out, update: bool):
    manifest = load_manifest()
    counts = collections.Counter()
    for entry in manifest:
        data = (CORPUS / entry["file"]).read_bytes()
        results = []
        for i, text in enumerate(split_messages(data)):
            r = {"file": entry["file"], "index": i, **check(text)}
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
            counts[r["verdict"]] += 1
            results.append({"index": i, "verdict": r["verdict"], "messages": r["messages"]})
        entry["hl7apy"] = results
    print(f"hl7apy {HL7APY_VERSION}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
          + f" ({sum(counts.values())} messages in {len(manifest)} files)", file=sys.stderr)
    if update:
        (CORPUS / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        print("MANIFEST.json updated", file=sys.stderr)


def bench(rounds: int):
    texts = []
    for entry in load_manifest():
        texts.extend(split_messages((CORPUS / entry["file"]).read_bytes()))
    size = sum(len(t.encode("utf-8")) for t in texts)
    best = None
    for _ in range(rounds):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for t in texts:
                try:
                    m = parse_message(t, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
                    m.validate()
                except Exception:  # noqa: BLE001
                    pass
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    print(f"hl7apy {HL7APY_VERSION} strict parse+validate: {len(texts)} messages, {size} bytes, "
          f"best of {rounds}: {best:.3f} s = {size / best / 1e6:.3f} MB/s, {len(texts) / best:.0f} messages/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="write the JSON lines here instead of stdout")
    ap.add_argument("--update-manifest", action="store_true", help='store each result as "hl7apy" in MANIFEST.json')
    ap.add_argument("--bench", action="store_true", help="time strict validation over the corpus and print MB/s")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    if a.bench:
        bench(a.rounds)
        return
    if a.out:
        with open(a.out, "w") as f:
            run(f, a.update_manifest)
    else:
        run(sys.stdout, a.update_manifest)


if __name__ == "__main__":
    main()
