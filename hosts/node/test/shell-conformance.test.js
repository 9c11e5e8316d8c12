// The shell-classifier corpus (`tests/shell-conformance/commands.json`) through the component's
// `hook.explain` export, as the Node host loads it: every command's `read_only` must be what the
// corpus says. (`directories`, `leading_cd` and `unknown_directory` are the classifier's
// internals, not exported; the guest's own tests check them.) Every mismatch is listed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { loadPolicy } from '../src/policy.js';
import { REPO_ROOT } from './support.js';

const CORPUS = path.join(REPO_ROOT, 'tests', 'shell-conformance', 'commands.json');

/** A store and processes the classifier never touches: any call is a bug. */
const untouched = new Proxy({}, {
  get: (_, name) => () => {
    throw new Error(`hook.explain called the ${String(name)} import`);
  },
});

test('hook.explain judges every command of the shell corpus as the corpus says', async () => {
  const corpus = JSON.parse(fs.readFileSync(CORPUS, 'utf8'));
  assert.ok(Array.isArray(corpus.commands) && corpus.commands.length > 0, 'the corpus has commands');
  const policy = await loadPolicy(untouched, untouched);
  const mismatches = [];
  for (const entry of corpus.commands) {
    assert.equal(typeof entry.command, 'string', `a command is text: ${JSON.stringify(entry)}`);
    assert.equal(typeof entry.read_only, 'boolean', `read_only is a bool: ${JSON.stringify(entry)}`);
    const verdict = policy.explain(entry.command);
    assert.equal(typeof verdict.why, 'string');
    assert.ok(verdict.why.length > 0 && !verdict.why.includes('\n'), `why is one line: ${JSON.stringify(verdict.why)}`);
    if (verdict.readOnly !== entry.read_only) {
      mismatches.push(
        `${JSON.stringify(entry.command)}: read_only ${verdict.readOnly}, corpus says ${entry.read_only} (${verdict.why})`,
      );
    }
  }
  assert.equal(
    mismatches.length,
    0,
    `${mismatches.length} of ${corpus.commands.length} commands judged otherwise:\n${mismatches.join('\n')}`,
  );
});
