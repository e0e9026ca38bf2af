#!/usr/bin/env python3
"""hd.py NAME key=value ... : write stage/NAME.head (StructureDefinition header in LinuxForHealth's key order).
keys: id name title date desc type base [exp=0|1 (default 1)] [kind=resource] [maps=identity|uri|name;...] [maps_from=OTHER-SD-file]"""
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
name = sys.argv[1]
kv = dict(a.split("=", 1) for a in sys.argv[2:])
pub = {"publisher": "HL7 International - Cross-Group Projects", "contact": [{"name": "HL7 International - Cross-Group Projects", "telecom": [{"system": "url", "value": "http://www.hl7.org/Special/committees/cgp"}, {"system": "email", "value": "cgp@lists.HL7.org"}]}]}
h = {"resourceType": "StructureDefinition", "id": kv["id"], "text": {"status": "empty", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Redacted for size</div>"},
     "url": "http://hl7.org/fhir/us/core/StructureDefinition/" + kv["id"], "version": "5.0.1", "name": kv["name"], "title": kv["title"], "status": "active"}
if kv.get("exp", "1") == "1": h["experimental"] = False
h["date"] = kv["date"]; h.update(pub); h["description"] = kv["desc"]
h["jurisdiction"] = [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "US"}]}]
h["copyright"] = "Used by permission of HL7 International, all rights reserved Creative Commons License"
h["fhirVersion"] = "4.0.1"
if "maps_from" in kv:
    h["mapping"] = json.load(open(os.path.join(here, "package", kv["maps_from"]), encoding="utf-8"))["mapping"]
else:
    h["mapping"] = [dict(zip(("identity", "uri", "name"), m.split("|"))) for m in kv["maps"].split(";")]
h["kind"] = kv.get("kind", "resource"); h["abstract"] = False; h["type"] = kv["type"]
h["baseDefinition"] = kv["base"]; h["derivation"] = "constraint"
open(os.path.join(here, "stage", name + ".head"), "w", encoding="utf-8").write(json.dumps(h, ensure_ascii=False))
