// The shared conformance suite (`tests/conformance/*.json`, described in its README) run through
// the Node.js host: the transpiled component over the node:fs lock store, one temporary lock
// directory per scenario. The Rust host runs the same files in `tests/conformance.rs`.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { FsLockStore } from '../src/fs-store.js';
import { loadPolicy } from '../src/policy.js';
import { conformanceSuite } from './support.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'session-lock-conformance-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** The stored bytes a record specification stands for: `{"bytes": text}` or `{"json": value}`. */
function recordBytes(spec) {
  if (typeof spec.bytes === 'string' && !('json' in spec)) return Buffer.from(spec.bytes, 'utf8');
  if ('json' in spec && !('bytes' in spec)) return Buffer.from(JSON.stringify(spec.json), 'utf8');
  throw new Error(`a record is {"bytes": text} or {"json": value}, not ${JSON.stringify(spec)}`);
}

/** Whether a non-empty answer refuses, in any agent's form. */
function isDeny(answer) {
  return (
    answer?.hookSpecificOutput?.permissionDecision === 'deny' ||
    answer?.decision === 'deny' ||
    answer?.permission === 'deny'
  );
}

/** Asserts one step's answer and the record after it. */
function checkStep(expect, answer, recordFile) {
  assert.equal(answer.exitCode, 0, 'the exit code is always 0');
  const stdout = answer.stdout === '' ? undefined : JSON.parse(answer.stdout);
  assert.equal(isDeny(stdout) ? 'deny' : 'allow', expect.decision, 'decision');
  if (expect.stdout === '') assert.equal(answer.stdout, '', 'stdout is empty');
  else assert.deepEqual(stdout, expect.stdout, 'stdout');
  if (expect.stderr === '') {
    assert.equal(answer.stderr, '', 'stderr is empty');
  } else {
    assert.ok(expect.stderr.startsWith('session-lock:'), `bad expectation ${expect.stderr}`);
    assert.ok(answer.stderr.startsWith(expect.stderr), `stderr ${JSON.stringify(answer.stderr)}`);
    assert.ok(answer.stderr.endsWith('\n'), 'stderr ends its line');
    assert.equal(answer.stderr.split('\n').length, 2, 'stderr is one line');
  }
  const stored = fs.existsSync(recordFile) ? fs.readFileSync(recordFile) : undefined;
  if (expect.record === null) {
    assert.equal(stored?.toString(), undefined, 'no record');
  } else if ('json' in expect.record) {
    assert.ok(stored, 'a record is stored');
    assert.deepEqual(JSON.parse(stored.toString('utf8')), expect.record.json, 'record');
  } else {
    assert.ok(stored, 'a record is stored');
    assert.equal(stored.toString('utf8'), recordBytes(expect.record).toString('utf8'), 'record');
  }
}

let scenarioCount = 0;
for (const { file, suite } of conformanceSuite()) {
  describe(file, () => {
    assert.ok(suite.scenarios.length > 0, `${file} has scenarios`);
    for (const scenario of suite.scenarios) {
      scenarioCount += 1;
      const index = scenarioCount;
      test(scenario.name, async () => {
        const lockDir = path.join(scratch, String(index));
        const policy = await loadPolicy(new FsLockStore(lockDir));
        const context = { ...suite.defaults, ...scenario.context };
        const key = policy.workspaceHash(context.workspace);
        const recordFile = path.join(lockDir, `session-lock-${key}.json`);
        if (scenario.record) {
          fs.mkdirSync(lockDir, { recursive: true, mode: 0o700 });
          fs.writeFileSync(recordFile, recordBytes(scenario.record), { mode: 0o600 });
        }
        assert.ok(scenario.steps.length > 0, 'a scenario has steps');
        scenario.steps.forEach((step, n) => {
          const event = 'event_text' in step ? step.event_text : JSON.stringify(step.event);
          const c = { ...context, ...step.context };
          for (const field of ['decision', 'stdout', 'stderr', 'record']) {
            assert.ok(field in step.expect, `expect.${field} is given`);
          }
          const answer = policy.handle(Buffer.from(event, 'utf8'), {
            workspace: c.workspace,
            pid: c.pid,
            nowMs: c.now_ms,
            ttlMs: c.ttl_ms,
            agent: c.agent,
            mode: c.mode,
          });
          try {
            checkStep(step.expect, answer, recordFile);
          } catch (error) {
            error.message = `step ${n + 1}: ${error.message}`;
            throw error;
          }
        });
      });
    }
  });
}

test('the suite has scenarios with unique names', () => {
  const names = conformanceSuite().flatMap(({ suite }) => suite.scenarios.map((s) => s.name));
  assert.ok(names.length > 0);
  assert.equal(new Set(names).size, names.length);
});
