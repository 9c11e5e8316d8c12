// The shared conformance suite (`tests/conformance/*.json`, described in its README) run through
// the Node.js host: the transpiled component over the node:fs lock store, one temporary lock
// directory per scenario, on the virtual machine each scenario's context describes (its
// filesystem, environment, working directory, parent pid and processes). Each step runs as a
// host runs an event: `hook.targets`, every path resolved, then `hook.handle`. The Rust host
// runs the same files in `tests/conformance.rs`.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { tryLockExclusive } from '../src/flock.js';
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

/**
 * The virtual filesystem's answer for `file` (README, "Context": `git_tops`, `unresolvable`):
 * with no symlinks, `.` and `..` apply lexically.
 */
export function resolveVirtual(file, gitTops, unresolvable = []) {
  const parts = [];
  for (const part of file.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '' && part !== '.') parts.push(part);
  }
  const realPath = `/${parts.join('/')}`;
  if (unresolvable.some((dir) => realPath === dir || realPath.startsWith(`${dir}/`))) return undefined;
  let gitTop;
  for (const top of gitTops) {
    const under = realPath === top || realPath.startsWith(top.endsWith('/') ? top : `${top}/`);
    if (under && (gitTop === undefined || top.length > gitTop.length)) gitTop = top;
  }
  return { realPath, gitTop };
}

/** The `processes` import the context describes (README, "Context": `machine`, `processes`). */
function virtualProcesses(context) {
  const { machine } = context;
  const ancestors = context.ancestors;
  const isAncestor = (pid) => (ancestors === undefined ? undefined : ancestors.includes(pid));
  if (machine === undefined) return { status: () => ({ tag: 'unknown' }), isAncestor };
  assert.equal(typeof machine.boot_id, 'string', 'context.machine.boot_id is text');
  assert.equal(typeof machine.pid_namespace, 'string', 'context.machine.pid_namespace is text');
  const running = new Map(
    Object.entries(context.processes ?? {}).map(([pid, start]) => [Number(pid), BigInt(start)]),
  );
  const identity = (startTime) => ({
    bootId: machine.boot_id,
    pidNamespace: machine.pid_namespace,
    startTime,
  });
  return {
    status(pid) {
      const start = running.get(pid);
      return start === undefined
        ? { tag: 'gone', val: identity(0n) }
        : { tag: 'running', val: identity(start) };
    },
    isAncestor,
  };
}

/** The invocation a host on the context's machine would pass. */
function invocationOf(context) {
  assert.ok(['enforce', 'observe'].includes(context.mode), `context.mode is ${context.mode}`);
  assert.ok(Number.isSafeInteger(context.ttl_ms), 'context.ttl_ms is a whole number');
  assert.ok(Number.isSafeInteger(context.pid), 'context.pid is a whole number');
  const environment = [
    ['SESSION_LOCK_TTL_MS', String(context.ttl_ms)],
    ['SESSION_LOCK_MODE', context.mode],
  ];
  for (const [name, value] of Object.entries(context.env ?? {})) {
    assert.equal(typeof value, 'string', `context.env.${name} is text`);
    environment.push([name, value]);
  }
  return {
    agent: context.agent,
    environment,
    processCwd: context.cwd ?? context.workspace,
    parentPid: context.pid,
  };
}

/** The stored record of `key` in `lockDir`, or undefined. */
function storedRecord(lockDir, key) {
  const file = path.join(lockDir, `session-lock-${key}.json`);
  return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
}

/**
 * A stored record without the fields kept only for people (`workspace`, `agent`) that `spec`
 * does not name: a scenario checks them only where it says what they are.
 */
function forPeople(record, spec) {
  for (const name of ['workspace', 'agent']) if (!(name in spec)) delete record[name];
  return record;
}

/** Asserts that the stored bytes are the record `spec` stands for (`null`: no record). */
function checkRecord(spec, stored, what) {
  if (spec === null) {
    assert.equal(stored?.toString(), undefined, `no ${what}`);
  } else if ('json' in spec) {
    assert.ok(stored, `a ${what} is stored`);
    assert.deepEqual(forPeople(JSON.parse(stored.toString('utf8')), spec.json), spec.json, what);
  } else {
    assert.ok(stored, `a ${what} is stored`);
    assert.equal(stored.toString('utf8'), recordBytes(spec).toString('utf8'), what);
  }
}

/** Asserts one step's answer and the record after it. */
function checkStep(expect, answer, stored) {
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
  checkRecord(expect.record, stored, 'record');
}

/**
 * Takes the `flock` on lock `key`'s swap mutex through a file description of its own, as
 * another process would; closing the returned fd lets it go.
 */
function holdMutex(lockDir, key) {
  fs.mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  const fd = fs.openSync(path.join(lockDir, `session-lock-${key}.mutex`), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  assert.ok(tryLockExclusive(fd), 'the step takes the mutex');
  return fd;
}

/** Writes the record `spec` stands for as lock `key`'s. */
function storeRecord(lockDir, key, spec) {
  fs.mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(lockDir, `session-lock-${key}.json`), recordBytes(spec), { mode: 0o600 });
}

/**
 * `event` with each field that `fill` names (a dotted path) set to its generated text: `prefix`,
 * then `repeat` `times` over, then `suffix` (README, "Events").
 */
function filled(event, fill) {
  if (fill === undefined) return event;
  const copy = structuredClone(event);
  for (const [field, spec] of Object.entries(fill)) {
    assert.ok(Number.isSafeInteger(spec.times), `fill ${field}: times is a whole number`);
    const names = field.split('.');
    let at = copy;
    for (const name of names.slice(0, -1)) {
      assert.ok(typeof at === 'object' && at !== null, `fill ${field}: not an object on the way`);
      at[name] ??= {};
      at = at[name];
    }
    at[names.at(-1)] = `${spec.prefix ?? ''}${(spec.repeat ?? '').repeat(spec.times)}${spec.suffix ?? ''}`;
  }
  return copy;
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
        // The processes import answers as the step's context says: it is swapped per step.
        let processes = virtualProcesses({});
        const policy = await loadPolicy(new FsLockStore(lockDir), { status: (pid) => processes.status(pid), isAncestor: (pid) => processes.isAncestor(pid) });
        const context = { ...suite.defaults, ...scenario.context };
        const key = policy.workspaceHash(context.workspace);
        if (scenario.record) storeRecord(lockDir, key, scenario.record);
        for (const [workspace, spec] of Object.entries(scenario.records ?? {})) {
          if (spec !== null) storeRecord(lockDir, policy.workspaceHash(workspace), spec);
        }
        assert.ok(scenario.steps.length > 0, 'a scenario has steps');
        scenario.steps.forEach((step, n) => {
          const event = 'event_text' in step ? step.event_text : JSON.stringify(filled(step.event, step.fill));
          const c = { ...context, ...step.context };
          for (const field of ['decision', 'stdout', 'stderr', 'record']) {
            assert.ok(field in step.expect, `expect.${field} is given`);
          }
          processes = virtualProcesses(c);
          const gitTops = c.git_tops ?? [c.workspace];
          // `mutex_held`: another process holds the lock's swap mutex for the whole step.
          const held = c.mutex_held ? holdMutex(lockDir, key) : undefined;
          let answer;
          try {
            answer = policy.answer(
              Buffer.from(event, 'utf8'),
              invocationOf(c),
              (target) => resolveVirtual(target, gitTops, c.unresolvable),
              c.now_ms,
              c.waited_ms ?? 0,
            );
          } finally {
            if (held !== undefined) fs.closeSync(held);
          }
          try {
            checkStep(step.expect, answer, storedRecord(lockDir, key));
            assert.equal(answer.retryAfterMs, step.expect.retry_after_ms, 'retry_after_ms');
            for (const [workspace, spec] of Object.entries(step.expect.records ?? {})) {
              const stored = storedRecord(lockDir, policy.workspaceHash(workspace));
              checkRecord(spec, stored, `record of ${workspace}`);
            }
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

test('the virtual filesystem resolves as the README says', () => {
  const tops = ['/home/u/repo', '/home/u/repo/sub'];
  assert.deepEqual(resolveVirtual('/home/u/repo/', tops), { realPath: '/home/u/repo', gitTop: '/home/u/repo' });
  assert.deepEqual(resolveVirtual('/home/u/repo/sub/x', tops), { realPath: '/home/u/repo/sub/x', gitTop: '/home/u/repo/sub' });
  assert.deepEqual(resolveVirtual('/home/u/repository', tops), { realPath: '/home/u/repository', gitTop: undefined });
  assert.deepEqual(resolveVirtual('/', tops), { realPath: '/', gitTop: undefined });
  assert.deepEqual(resolveVirtual('/home/u/x/../repo/./a', tops), { realPath: '/home/u/repo/a', gitTop: '/home/u/repo' });
  assert.equal(resolveVirtual('/home/u/locked/a', tops, ['/home/u/locked']), undefined);
});
