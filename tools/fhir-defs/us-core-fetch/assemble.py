#!/usr/bin/env python3
"""assemble.py NAME [--strip-version] [--put COMMIT TOTAL]
stage/NAME.head holds the header fields (put.py notation, a JSON object without snapshot/differential),
stage/NAME.diff the differential elements (a JSON list body, may be partial while reading).
Generates the snapshot with gen.py, prints the length of the indent-4 text and the offset at which
the differential starts; with --put writes the result through put.py's checks."""
import json, os, sys, subprocess
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from macros import expand_text
import gen
name = sys.argv[1]
head = json.loads(expand_text(open(os.path.join(here, "stage", name + ".head"), encoding="utf-8").read()))
dsrc = expand_text(open(os.path.join(here, "stage", name + ".diff"), encoding="utf-8").read()).strip().rstrip(",")
diff = json.loads("[" + dsrc + "]")
sd = dict(head)
sd["differential"] = {"element": diff}
snap = gen.generate(sd)
if "--strip-version" in sys.argv:
    snap = json.loads(json.dumps(snap).replace("|5.0.1", ""))
sd = dict(head); sd["snapshot"] = {"element": snap}; sd["differential"] = {"element": diff}
text = json.dumps(sd, indent=4, ensure_ascii=False)
print("len", len(text), "differential at", text.index('"differential"'), "snapshot at", text.index('"snapshot"'))
out = os.path.join(here, "stage", name + ".full")
open(out, "w", encoding="utf-8").write(text)
if "--put" in sys.argv:
    i = sys.argv.index("--put")
    subprocess.run([sys.executable, os.path.join(here, "put.py"), name + ".json", sys.argv[i + 1], sys.argv[i + 2], out], check=True)
