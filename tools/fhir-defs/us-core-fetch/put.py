#!/usr/bin/env python3
"""put.py NAME COMMIT TOTAL_CHARS [STAGEFILE]
Parse the staged (minified or pretty) JSON, re-serialise it the way the LinuxForHealth files are
laid out (json indent=4, ensure_ascii=False, no trailing newline), check the length against the
index's total_chars, write package/NAME and append to fetched.tsv."""
import hashlib, json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
name, commit, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
stage = sys.argv[4] if len(sys.argv) > 4 else os.path.join(here, "stage", name)
src = open(stage, encoding="utf-8").read()
sys.path.insert(0, here)
from macros import expand_text
src = expand_text(src)
assert "§" not in src
obj = json.loads(src)
text = json.dumps(obj, indent=4, ensure_ascii=False)
ok = len(text) == total
status = "ok" if ok else f"LEN {len(text)}!={total}"
if not ok and len(src.rstrip("\n")) == total:
    text, status = src.rstrip("\n"), "ok-verbatim"
out = os.path.join(here, "package", name)
open(out, "w", encoding="utf-8").write(text)
sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
rows = {}
tsv = os.path.join(here, "fetched.tsv")
if os.path.exists(tsv):
    for line in open(tsv, encoding="utf-8"):
        p = line.rstrip("\n").split("\t")
        rows[p[0]] = p
rows[name] = [name, commit, str(total), str(len(text)), sha, status]
with open(tsv, "w", encoding="utf-8") as f:
    for k in sorted(rows):
        f.write("\t".join(rows[k]) + "\n")
print(name, status)
