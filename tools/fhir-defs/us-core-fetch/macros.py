import json, os, re, sys
here = os.path.dirname(os.path.abspath(__file__))
import re
MACROS = {
    "TXT": '"text":{"status":"empty","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">Redacted for size</div>"}',
    "PUB": '"publisher":"HL7 International - Cross-Group Projects","contact":[{"name":"HL7 International - Cross-Group Projects","telecom":[{"system":"url","value":"http://www.hl7.org/Special/committees/cgp"},{"system":"email","value":"cgp@lists.HL7.org"}]}]',
    "JUR": '"jurisdiction":[{"coding":[{"system":"urn:iso:std:iso:3166","code":"US"}]}]',
    "NOTE": '  \\n**NOTE**: This US Core SearchParameter definition extends the usage context of the\\n[Conformance expectation extension](http://hl7.org/fhir/R4/extension-capabilitystatement-expectation.html)\\n - multipleAnd\\n - multipleOr\\n - comparator\\n - modifier\\n - chain',
    "EXP": '"url":"http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation","valueCode":',
}
MACROS.update({
    "LCPR": '"copyright":"This material contains content from LOINC (http://loinc.org). LOINC is copyright © 1995-2020, Regenstrief Institute, Inc. and the Logical Observation Identifiers Names and Codes (LOINC) Committee and is available at no cost under the license at http://loinc.org/license. LOINC® is a registered United States trademark of Regenstrief Institute, Inc"',
    "CDC": '"system":"urn:oid:2.16.840.1.113883.6.238","version":"1.2"',
    "NF": '"system":"http://terminology.hl7.org/CodeSystem/v3-NullFlavor","version":"2022-02-01"',
    "CPR": '"copyright":"Used by permission of HL7 International, all rights reserved Creative Commons License"',
    "LNC": '"system":"http://loinc.org"',
    "SCT": '"system":"http://snomed.info/sct"',
})
MACROS.update({
    "ELE1": '{"key":"ele-1","severity":"error","human":"All FHIR elements must have a @value or children","expression":"hasValue() or (children().count() > id.count())","xpath":"@value|f:*|h:div","source":"http://hl7.org/fhir/StructureDefinition/Element"}',
    "EXT1S": '{"key":"ext-1","severity":"error","human":"Must have either extensions or value[x], not both","expression":"extension.exists() != value.exists()","xpath":"exists(f:extension)!=exists(f:*[starts-with(local-name(.), \'value\')])","source":"http://hl7.org/fhir/StructureDefinition/Extension"}',
    "EXT1D": '{"key":"ext-1","severity":"error","human":"Must have either extensions or value[x], not both","expression":"extension.exists() != value.exists()","xpath":"exists(f:extension)!=exists(f:*[starts-with(local-name(.), \\"value\\")])","source":"http://hl7.org/fhir/StructureDefinition/Extension"}',
    "EXTSLICE": '"slicing":{"discriminator":[{"type":"value","path":"url"}],"description":"Extensions are always sliced by (at least) url","rules":"open"}',
    "D_EID": 'Unique id for the element within a resource (for internal references). This may be any string value that does not contain spaces.',
    "D_EXT": 'May be used to represent additional information that is not part of the basic definition of the element. To make the use of extensions safe and manageable, there is a strict set of governance  applied to the definition and use of extensions. Though any implementer can define an extension, there is a set of requirements that SHALL be met as part of the definition of the extension.',
    "C_EXT": 'There can be no stigma associated with the use of extensions by any application, project, or standard - regardless of the institution or jurisdiction that uses or defines the extensions.  The use of extensions is what allows the FHIR specification to retain a core level of simplicity for everyone.',
    "RIMNA": '"mapping":[{"identity":"rim","map":"n/a"}]',
})
def SYS(t):
    return '{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type","valueUrl":"%s"}],"code":"http://hl7.org/fhirpath/System.String"}' % t
sys.path.insert(0, here)
import put_sd_macros as SDM
MACROS["DOMC"] = SDM.join(SDM.DOM)
MACROS["TMS"] = '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/elementdefinition-type-must-support","valueBoolean":true}]'
MACROS["OBS67"] = SDM.join([
    {"key":"obs-6","severity":"error","human":"dataAbsentReason SHALL only be present if Observation.value[x] is not present","expression":"dataAbsentReason.empty() or value.empty()","xpath":"not(exists(f:dataAbsentReason)) or (not(exists(*[starts-with(local-name(.), 'value')])))","source":"http://hl7.org/fhir/StructureDefinition/Observation"},
    {"key":"obs-7","severity":"error","human":"If Observation.code is the same as an Observation.component.code then the value element associated with the code SHALL NOT be present","expression":"value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()","xpath":"not(f:*[starts-with(local-name(.), 'value')] and (for $coding in f:code/f:coding return f:component/f:code/f:coding[f:code/@value=$coding/f:code/@value] [f:system/@value=$coding/f:system/@value]))","source":"http://hl7.org/fhir/StructureDefinition/Observation"}])
def X(a):
    return '{"extension":[{' + MACROS["EXP"] + '"' + a + '"}]}'
MACROS["DCMP"] = ('"comparator":["eq","ne","gt","ge","lt","le","sa","eb","ap"],"_comparator":['
                  + ",".join(X(a) for a in ["MAY", "MAY", "SHALL", "SHALL", "SHALL", "SHALL", "MAY", "MAY", "MAY"]) + "]")
def expand(m):
    name, arg = m.group(1), m.group(2)
    if name == "LFH":
        return '"extension":[{"url":"http://fhir.linuxforhealth.org/extension/implicit-system","valueUri":"' + arg + '"}]'
    if name == "CC":
        return ",".join('{"code":"%s"}' % c for c in arg.split())
    if name == "SC":  # system|code pairs: first token is the system macro name (LNC/SCT) or a URL
        toks = arg.split()
        sysv = {"LNC": "http://loinc.org", "SCT": "http://snomed.info/sct"}.get(toks[0], toks[0])
        return ",".join('{"system":"%s","code":"%s"}' % (sysv, c) for c in toks[1:])
    if name == "SCD":  # system;code|display;code|display...  (no ')' inside)
        parts = arg.split(";")
        sysv = {"LNC": "http://loinc.org", "SCT": "http://snomed.info/sct", "CDC": "urn:oid:2.16.840.1.113883.6.238"}.get(parts[0], parts[0])
        out = []
        for p in parts[1:]:
            c, d = p.split("|", 1)
            if parts[0] == "CDC":
                out.append('{"system":"%s","version":"1.2","code":"%s","display":"%s"}' % (sysv, c, d))
            else:
                out.append('{"system":"%s","code":"%s","display":"%s"}' % (sysv, c, d))
        return ",".join(out)
    if name == "SYS":
        return SYS(arg)
    if name == "EID":  # Element.id child: id|path
        i, pth = arg.split("|")
        return ('{"id":"%s","path":"%s","representation":["xmlAttr"],"short":"Unique id for inter-element referencing","definition":"%s","min":0,"max":"1","base":{"path":"Element.id","min":0,"max":"1"},"type":[%s],"isModifier":false,"isSummary":false,%s}'
                % (i, pth, MACROS["D_EID"], SYS("string"), MACROS["RIMNA"]))
    if name == "EEXT":  # Element.extension child (sliced by url): id|path
        i, pth = arg.split("|")
        return ('{"id":"%s","path":"%s",%s,"short":"Additional content defined by implementations","definition":"%s","comment":"%s","alias":["extensions","user content"],"min":0,"max":"*","base":{"path":"Element.extension","min":0,"max":"*"},"type":[{"code":"Extension"}],"constraint":[%s,%s],"isModifier":false,"isSummary":false,%s}'
                % (i, pth, MACROS["EXTSLICE"], MACROS["D_EXT"], MACROS["C_EXT"], MACROS["ELE1"], MACROS["EXT1D"], MACROS["RIMNA"]))
    if name == "RES":   # the 8 standard DomainResource elements after the root: T
        return SDM.join(SDM.res_elements(arg))
    if name == "RES6":  # id, meta, implicitRules, language, text, contained
        return SDM.join(SDM.res_elements(arg)[:6])
    if name == "REXT":  # unsliced T.extension
        return SDM.join(SDM.res_elements(arg)[6:7])
    if name == "RMEXT":  # T.modifierExtension
        return SDM.join(SDM.res_elements(arg)[7:8])
    if name == "REXTS":  # T.extension sliced by url (profiles that add extensions)
        return SDM.join([{"id": f"{arg}.extension", "path": f"{arg}.extension", "slicing": {"discriminator": [{"type": "value", "path": "url"}], "ordered": False, "rules": "open"}, "short": "Extension", "definition": "An Extension", "min": 0, "max": "*", "base": {"path": "DomainResource.extension", "min": 0, "max": "*"}, "type": [{"code": "Extension"}], "constraint": [SDM.ELE1, SDM.EXT1D], "isModifier": False, "isSummary": False}])
    if name == "BB":    # id/extension/modifierExtension of a BackboneElement: path[|id]
        parts = arg.split("|")
        return SDM.join(SDM.bb_elements(parts[0], parts[1] if len(parts) > 1 else None))
    if name in ("ELN", "ELRN"):  # as EL/ELR, with links to http://hl7.org/fhir/R4/ made unversioned
        return expand(re.match(r"§([A-Z0-9_]+)(?:\(([^)]+)\))?", "§%s(%s)" % (name[:-1], arg))).replace("http://hl7.org/fhir/R4/", "http://hl7.org/fhir/")
    if name in ("ELS", "ELRS"):  # EL/ELR with one text substitution: sdid|id|old|new  or sdid|from|to|old|new
        parts = arg.split("|")
        old, new = parts[-2], parts[-1]
        return expand(re.match(r"§([A-Z0-9_]+)(?:\(([^)]+)\))?", "§%s(%s)" % (name[:-1], "|".join(parts[:-2])))).replace(old, new)
    if name in ("EL", "ELR", "DEL", "DELR"):
        # element(s) of an already verified StructureDefinition copy: sdid|id  or  sdid|from|to
        # (DEL/DELR: from its differential)
        parts = arg.split("|")
        doc = json.load(open(os.path.join(here, "package", "StructureDefinition-%s.json" % parts[0]), encoding="utf-8"))
        els = doc["differential" if name.startswith("D") else "snapshot"]["element"]
        ids = [e["id"] for e in els]
        if name in ("EL", "DEL"):
            sel = [els[ids.index(parts[1])]]
        else:
            sel = els[ids.index(parts[1]):ids.index(parts[2]) + 1]
        return ",".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in sel)
    if name == "X":
        return '{"extension":[{' + MACROS["EXP"] + '"' + arg + '"}]}'
    return MACROS[name]
def expand_text(t):
    return re.sub(r"§([A-Z0-9_]+)(?:\(([^)]+)\))?", expand, t)
