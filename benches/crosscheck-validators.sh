#!/usr/bin/env bash
# Validator cross-check: emr-harness vs the npm `fhir` package (FHIR.js by Lantana Consulting Group).
#
# Runs `emr-harness validate --json` and FHIR.js's `new Fhir().validate(resource)` (its bundled FHIR
# 4.0.0 = R4 definitions, with errorOnUnexpected so unknown elements are errors) over
# tests/fixtures/validation/*.json, and prints a table: file, expected verdict (from the file name:
# invalid-* must be rejected, valid-* accepted), each validator's verdict, and a mark on every row
# where the two validators disagree or one of them is wrong. Ends with how many each got right.
# Exit code 0 whatever the verdicts; non-zero when a tool is missing or a validator fails to run.
#
# Usage (from anywhere):   bash benches/crosscheck-validators.sh [FILE.json...]
#   (default FILEs: tests/fixtures/validation/*.json)
# Environment knobs:
#   EMR_HARNESS_BIN=path    binary to test (default target/debug/emr-harness; when that default is
#                           missing it is built with `cargo build --quiet`)
#   CROSSCHECK_CACHE=dir    where the npm package and the node script live (default
#                           ${XDG_CACHE_HOME:-$HOME/.cache}/emr-harness/crosscheck); the pinned
#                           version is installed there with npm on first use, never in the repo
#   VERBOSE=1               also print every validator's problems for each file
#
# Needs: node and npm (npm reaches the npm registry only when the cache lacks fhir@4.12.0),
# cargo only if the emr-harness binary has to be built.
set -euo pipefail

FHIR_NPM_VERSION=4.12.0
VERBOSE=${VERBOSE:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() { echo "crosscheck-validators: $*" >&2; exit 2; }

command -v node >/dev/null || die "node is not installed (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm is not installed (Debian: apt-get install npm)"

# ---------------------------------------------------------------------------------------------
# emr-harness
# ---------------------------------------------------------------------------------------------
if [ -n "${EMR_HARNESS_BIN:-}" ]; then
    BIN=$EMR_HARNESS_BIN
    [ -x "$BIN" ] || die "EMR_HARNESS_BIN=$BIN is not an executable file"
else
    BIN=target/debug/emr-harness
    if [ ! -x "$BIN" ]; then
        echo "building $BIN (cargo build --quiet)..." >&2
        cargo build --quiet
    fi
fi

# ---------------------------------------------------------------------------------------------
# npm fhir, pinned, in a cache outside the repo
# ---------------------------------------------------------------------------------------------
CACHE=${CROSSCHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/emr-harness/crosscheck}
mkdir -p "$CACHE"
installed=$(CACHE="$CACHE" node -p \
    "try { require(process.env.CACHE + '/node_modules/fhir/package.json').version } catch (e) { '' }")
if [ "$installed" != "$FHIR_NPM_VERSION" ]; then
    echo "installing fhir@$FHIR_NPM_VERSION into $CACHE..." >&2
    [ -f "$CACHE/package.json" ] || echo '{"name":"emr-harness-crosscheck","private":true}' >"$CACHE/package.json"
    npm install --prefix "$CACHE" --no-audit --no-fund --save-exact --loglevel=error \
        "fhir@$FHIR_NPM_VERSION" >&2
fi

# The validator, written afresh every run so it always matches this script.
cat >"$CACHE/validate-fhir.js" <<'NODE'
'use strict';
// Validate FHIR R4 JSON files with the npm `fhir` package (FHIR.js).
// Prints one JSON line per file, like `emr-harness validate --json`: {"file","valid","problems"};
// exit 1 if any file is invalid. Problems are FHIR.js's messages of severity error or fatal.
const fs = require('fs');
const { Fhir } = require('fhir');
const fhir = new Fhir(); // FHIR.js's bundled, pre-parsed FHIR 4.0.0 (R4) definitions
let anyInvalid = false;
for (const file of process.argv.slice(2)) {
  let valid;
  let problems = [];
  try {
    const resource = JSON.parse(fs.readFileSync(file, 'utf8'));
    // errorOnUnexpected: an unknown element is an error, not just a warning.
    const res = fhir.validate(resource, { errorOnUnexpected: true });
    valid = !!res.valid;
    problems = res.messages
      .filter(m => m.severity === 'error' || m.severity === 'fatal')
      .map(m => `${m.location || '(resource)'}: ${m.message}`);
  } catch (e) {
    valid = false;
    problems = [`validator threw: ${e && e.message ? e.message : String(e)}`];
  }
  if (!valid) anyInvalid = true;
  process.stdout.write(JSON.stringify({ file, valid, problems }) + '\n');
}
process.exitCode = anyInvalid ? 1 : 0;
NODE

# ---------------------------------------------------------------------------------------------
# Run both
# ---------------------------------------------------------------------------------------------
if [ $# -gt 0 ]; then
    FILES=("$@")
else
    shopt -s nullglob
    FILES=(tests/fixtures/validation/*.json)
    shopt -u nullglob
fi
[ ${#FILES[@]} -gt 0 ] || die "no files to validate"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Both exit 1 when some file is invalid; anything else means the validator itself failed.
rc=0
"$BIN" validate --json "${FILES[@]}" >"$TMP/emr.jsonl" || rc=$?
[ "$rc" -le 1 ] || die "emr-harness validate exited $rc"
rc=0
node "$CACHE/validate-fhir.js" "${FILES[@]}" >"$TMP/npm.jsonl" || rc=$?
[ "$rc" -le 1 ] || die "node validate-fhir.js exited $rc"

# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------
NPM_LABEL="npm fhir $FHIR_NPM_VERSION" VERBOSE="$VERBOSE" \
    node - "$TMP/emr.jsonl" "$TMP/npm.jsonl" "${FILES[@]}" <<'NODE'
'use strict';
const fs = require('fs');
const path = require('path');
const [emrFile, npmFile, ...files] = process.argv.slice(2);
const npmLabel = process.env.NPM_LABEL;
const verbose = process.env.VERBOSE === '1';
const load = f => {
  const byFile = new Map();
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    byFile.set(String(r.file), r);
  }
  return byFile;
};
const emr = load(emrFile);
const npm = load(npmFile);
const verdict = r => (r === undefined ? 'MISSING' : r.valid ? 'valid' : 'invalid');
const expectedOf = f => {
  const base = path.basename(f);
  return base.startsWith('invalid-') ? 'invalid' : base.startsWith('valid-') ? 'valid' : '?';
};

const rows = files.map(f => {
  const exp = expectedOf(f);
  const e = verdict(emr.get(f));
  const n = verdict(npm.get(f));
  const notes = [];
  if (e !== n) notes.push('DISAGREE');
  if (exp !== '?') {
    if (e !== exp) notes.push('emr-harness wrong');
    if (n !== exp) notes.push('npm fhir wrong');
  }
  return { file: path.basename(f), path: f, exp, e, n, mark: notes.join(', ') };
});

const head = { file: 'file', exp: 'expected', e: 'emr-harness', n: npmLabel, mark: '' };
const w = k => Math.max(...[head, ...rows].map(r => r[k].length));
const fmt = r =>
  [r.file.padEnd(w('file')), r.exp.padEnd(w('exp')), r.e.padEnd(w('e')), r.n.padEnd(w('n')), r.mark]
    .join('  ')
    .trimEnd();
console.log(fmt(head));
console.log(['file', 'exp', 'e', 'n'].map(k => '-'.repeat(w(k))).join('  ') + '  ' + '-'.repeat(8));
for (const r of rows) {
  console.log(fmt(r));
  if (verbose || r.mark) {
    for (const [label, m] of [['emr-harness', emr], [npmLabel, npm]]) {
      const rec = m.get(r.path);
      if (verbose || (rec && rec.problems && rec.problems.length && r.mark)) {
        for (const p of (rec && rec.problems) || []) console.log(`    ${label}: ${p}`);
      }
    }
  }
}

const judged = rows.filter(r => r.exp !== '?');
const right = k => judged.filter(r => r[k] === r.exp).length;
console.log('');
console.log(`files: ${rows.length} (${judged.length} with an expected verdict from the name)`);
console.log(`emr-harness: ${right('e')}/${judged.length} right`);
console.log(`${npmLabel}: ${right('n')}/${judged.length} right`);
console.log(`disagreements: ${rows.filter(r => r.e !== r.n).length}`);
NODE
