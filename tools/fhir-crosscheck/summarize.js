#!/usr/bin/env node
// summarize.js: turn crosscheck.js output (results.jsonl) into the tables of RESULTS.md.
//
//   * validator cases: each case of tests/fixtures/fhir-validator-cases/cases.json is matched to
//     the result line of its `file`; a library "agrees" when its valid flag equals the case's
//     `expected_valid` (true = no error/fatal expected; the reference validator's verdict).
//     Counted overall, per group (general / QuestionnaireResponse), offline-only, and per category.
//   * every other folder (spec examples, US Core examples): all are valid by construction, so we
//     count how many each library rejects and group the error messages into categories.
//
// Usage: node summarize.js [results.jsonl] [path/to/cases.json]   (defaults: beside this script,
//        and tests/fixtures/fhir-validator-cases/cases.json from the repository root)
'use strict';

const fs = require('fs');
const path = require('path');

const here = __dirname;
const root = path.resolve(here, '..', '..');
const resultsFile = process.argv[2] || path.join(here, 'results.jsonl');
const casesFile = process.argv[3] || path.join(root, 'tests/fixtures/fhir-validator-cases/cases.json');
const casesDir = path.relative(root, path.dirname(casesFile));

const rows = fs.readFileSync(resultsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const byFile = new Map(rows.map((r) => [path.normalize(r.file), r]));
const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
const LIBS = ['fhir', 'asymmetrik'];

const pct = (a, b) => (b ? `${a}/${b} (${((100 * a) / b).toFixed(0)}%)` : '0/0');

// ---------------------------------------------------------------- validator cases
const tally = {}; // key -> lib -> {agree, n, fp, fn}
const add = (key, lib, c, valid) => {
  tally[key] = tally[key] || {};
  const t = (tally[key][lib] = tally[key][lib] || { agree: 0, n: 0, falseReject: 0, falseAccept: 0 });
  t.n += 1;
  if (valid === c.expected_valid) t.agree += 1;
  else if (c.expected_valid) t.falseReject += 1;
  else t.falseAccept += 1;
};
const perCase = [];
for (const c of cases) {
  const r = byFile.get(path.normalize(path.join(casesDir, c.file)));
  if (!r) throw new Error(`no result for ${c.file}`);
  const group = c.category.startsWith('questionnaire-response/') ? 'QuestionnaireResponse suite' : 'general';
  for (const lib of LIBS) {
    const v = r[lib].valid;
    add('all 93 cases', lib, c, v);
    add(group, lib, c, v);
    if (c.offline) add('offline cases only (87)', lib, c, v);
    add(`category ${c.category}`, lib, c, v);
  }
  perCase.push({ name: c.name, category: c.category, expected: c.expected_valid, fhir: r.fhir.valid, asymmetrik: r.asymmetrik.valid });
}

console.log('## Validator cases: agreement with the expected verdict\n');
console.log('| subset | npm fhir agrees | false rejects | false accepts | asymmetrik agrees | false rejects | false accepts |');
console.log('|---|---|---|---|---|---|---|');
for (const key of Object.keys(tally).sort((a, b) => (a.startsWith('category') - b.startsWith('category')) || a.localeCompare(b))) {
  const f = tally[key].fhir;
  const a = tally[key].asymmetrik;
  console.log(`| ${key} | ${pct(f.agree, f.n)} | ${f.falseReject} | ${f.falseAccept} | ${pct(a.agree, a.n)} | ${a.falseReject} | ${a.falseAccept} |`);
}
console.log('\n### Per case (general cases; QuestionnaireResponse cases summarised above)\n');
console.log('| case | category | expected valid | npm fhir | asymmetrik |');
console.log('|---|---|---|---|---|');
const mark = (v, e) => `${v}${v === e ? '' : ' ✗'}`;
for (const p of perCase.filter((p) => !p.category.startsWith('questionnaire-response/'))) {
  console.log(`| ${p.name} | ${p.category} | ${p.expected} | ${mark(p.fhir, p.expected)} | ${mark(p.asymmetrik, p.expected)} |`);
}

// ---------------------------------------------------------------- example folders
// categories of error messages: collapse resource-specific parts
function categoryFhir(i) {
  const m = i.message || '';
  if (m.startsWith('Invalid type for reference')) return 'reference target type (absolute URL / type from path)';
  if (m.startsWith('Code "')) return `code not in value set (${i.severity})`;
  if (m.startsWith('Value set "')) return `value set not available (${i.severity})`;
  return `${m.replace(/"[^"]*"/g, '"…"')} (${i.severity})`;
}
function categoryAsym(e) {
  if (e.keyword === 'oneOf' && e.dataPath === '') return null; // the umbrella error that accompanies every other one
  if (e.keyword === 'enum' && /fhirVersion$/.test(e.dataPath || '')) return 'enum: fhirVersion 4.0.1 not in schema (schema stops at 4.0.0)';
  if (e.keyword === 'additionalProperties') return 'additionalProperties';
  return `${e.keyword || 'error'}: ${(e.message || '').replace(/"[^"]*"/g, '"…"')}`;
}

const folders = [...new Set(rows.map((r) => path.dirname(r.file)).filter((d) => !path.normalize(d).startsWith(path.normalize(casesDir))))].sort();
for (const folder of folders) {
  const fr = rows.filter((r) => path.dirname(r.file) === folder);
  console.log(`\n## ${folder} (${fr.length} files; all valid by construction)\n`);
  for (const lib of LIBS) {
    const bad = fr.filter((r) => !r[lib].valid);
    console.log(`* **${lib}** calls ${bad.length} of ${fr.length} invalid${bad.length ? ': ' + bad.map((r) => path.basename(r.file)).join(', ') : ''}`);
    const cats = new Map();
    for (const r of bad) {
      const list = lib === 'fhir' ? r.fhir.issues.filter((i) => i.severity === 'error' || i.severity === 'fatal') : r.asymmetrik.errors;
      for (const i of list) {
        const k = lib === 'fhir' ? categoryFhir(i) : categoryAsym(i);
        if (!k) continue;
        const v = cats.get(k) || { n: 0, files: new Set() };
        v.n += 1;
        v.files.add(path.basename(r.file));
        cats.set(k, v);
      }
    }
    for (const [k, v] of [...cats].sort((a, b) => b[1].n - a[1].n)) console.log(`  * ${k}: ${v.n} in ${v.files.size} file(s)`);
  }
  // non-error issues of npm fhir (warnings/info), which do not change the verdict
  const other = new Map();
  for (const r of fr) for (const i of r.fhir.issues) if (i.severity !== 'error' && i.severity !== 'fatal') other.set(categoryFhir(i), (other.get(categoryFhir(i)) || 0) + 1);
  if (other.size) console.log(`* npm fhir non-error issues: ${[...other].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join('; ')}`);
}
