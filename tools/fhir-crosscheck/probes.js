#!/usr/bin/env node
// probes.js: a few hand-made R4 resources, each testing one rule, run through both libraries.
// Why: the fixture cases say *that* a library disagrees with the reference validator; these say
// *which rule* it does not check, one rule per line. The expected verdict is our reading of the
// FHIR R4 specification (the rule is in the last column); these were not run through the
// reference Java validator.
// Usage: node tools/fhir-crosscheck/probes.js   (prints a markdown table)
'use strict';

const { Fhir } = require('fhir');
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');

const fhir = new Fhir();
const asym = new JSONSchemaValidator();

const P = (extra) => Object.assign({ resourceType: 'Patient' }, extra);
const probes = [
  ['NBSP (U+00A0) in a string', P({ name: [{ text: 'Amy\u00a0Shaw' }] }), true,
    'string regex `[ \\r\\n\\t\\S]+` with Java (ASCII) `\\S`: U+00A0 is allowed'],
  ['code not in a required value set', P({ gender: 'femal' }), false, 'Patient.gender binding is required'],
  ['impossible date 2020-02-30', P({ birthDate: '2020-02-30' }), false, 'date must be a valid calendar date'],
  ['empty element `name: [{}]`', P({ name: [{}] }), false, 'ele-1: every element has a value or children'],
  ['unknown property in a contained resource', P({ contained: [{ resourceType: 'Patient', foo: 1 }] }), false,
    'unknown elements are errors'],
  ['two choices of value[x]', { resourceType: 'Observation', status: 'final', code: { text: 'x' },
    valueQuantity: { value: 1 }, valueString: 'a' }, false, 'a choice element has at most one type present'],
  ['id with `_`', P({ id: 'a_b' }), false, 'id regex `[A-Za-z0-9\\-\\.]{1,64}`'],
  ['boolean as a string', P({ active: 'true' }), false, 'JSON type of boolean is true/false'],
  ['missing required primitive (Questionnaire.status)', { resourceType: 'Questionnaire' }, false,
    'Questionnaire.status is 1..1'],
  ['invariant: Observation with value and dataAbsentReason', { resourceType: 'Observation', status: 'final',
    code: { text: 'x' }, valueString: 'a', dataAbsentReason: { text: 'y' } }, false, 'obs-6'],
  ['absolute-URL reference (allowed)', { resourceType: 'ClaimResponse', status: 'active', type: { text: 'x' },
    use: 'claim', patient: { reference: 'Patient/1' }, created: '2020-01-01', insurer: { reference: 'Organization/1' },
    outcome: 'complete', request: { reference: 'http://example.org/fhir/claims/1' } }, true,
    'a Reference may be an absolute URL whose last segments are not `Type/id`'],
];

console.log('| probe | spec says valid | npm fhir | asymmetrik | rule |');
console.log('|---|---|---|---|---|');
const mark = (v, e) => `${v}${v === e ? '' : ' ✗'}`;
for (const [name, res, expected, why] of probes) {
  const f = fhir.validate(res, { errorOnUnexpected: true }).valid;
  const a = (asym.validate(res) || []).length === 0;
  console.log(`| ${name} | ${expected} | ${mark(f, expected)} | ${mark(a, expected)} | ${why} |`);
}
