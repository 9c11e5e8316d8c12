// The node:fs lock store beyond the store-conformance suite (`tests/store-conformance/`, run by
// `store-conformance.test.js`, which covers its file format, swaps and refusals): listing keys,
// a lock directory that cannot be created, and the swap mutex held by another process.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { FsLockStore, MUTEX_WAIT_MS, StoreError } from '../src/fs-store.js';
import { loadPolicy } from '../src/policy.js';

const KEY = '0123456789ab';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'session-lock-store-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

let dirs = 0;
/** A store in a fresh, not yet created directory. */
function freshStore() {
  dirs += 1;
  return new FsLockStore(path.join(scratch, `case-${dirs}`, 'locks'));
}

const bytes = (text) => new Uint8Array(Buffer.from(text));

/**
 * Throws unless `f` throws a StoreError of `kind` (`failed`: what the component reports and
 * fails open on; `busy`: contention, which it answers with "retry").
 */
function assertStoreError(f, pattern, kind = 'failed') {
  assert.throws(f, (error) => {
    assert.ok(error instanceof StoreError, `a StoreError, not ${error}`);
    assert.deepEqual(error.payload, { tag: kind, val: error.message }, `${kind}, carrying the message`);
    assert.match(error.message, pattern);
    return true;
  });
}

test('keys lists the records in the directory, and nothing else; a missing directory has none', () => {
  const store = freshStore();
  assert.deepEqual(store.keys(), [], 'no directory yet');
  store.createDir();
  assert.deepEqual(store.keys(), []);
  for (const key of [KEY, 'ABCDEF012345', 'fedcba987654']) {
    assert.deepEqual(store.compareAndSwap(key, undefined, bytes(`record of ${key}`)), { tag: 'swapped' });
  }
  // Whatever else lies in the directory is not a record: mutexes, temporary files, strangers.
  for (const name of [
    '.session-lock-0123456789ab.tmp',
    'session-lock-0123456789a.json',
    'session-lock-0123456789abc.json',
    'session-lock-0123456789ag.json',
    'session-lock-0123456789ab.json.bak',
    'other.json',
  ]) {
    fs.writeFileSync(path.join(store.dir, name), '');
  }
  assert.deepEqual(store.keys().sort(), ['0123456789ab', 'ABCDEF012345', 'fedcba987654'].sort());
  assert.deepEqual(store.compareAndSwap(KEY, bytes(`record of ${KEY}`), undefined), { tag: 'swapped' });
  assert.deepEqual(store.keys().sort(), ['ABCDEF012345', 'fedcba987654']);
});

test('keys of a lock path that is not a directory is a store error naming doctor', () => {
  const blocker = path.join(scratch, 'not-a-dir');
  fs.writeFileSync(blocker, '');
  assertStoreError(
    () => new FsLockStore(blocker).keys(),
    /^not using the lock directory: .*not-a-dir is not a directory; `session-lock doctor` says how to fix it$/,
  );
});

test('a lock directory that cannot be created is a store error, and the hook fails open on it', async () => {
  const blocker = path.join(scratch, 'a-file');
  fs.writeFileSync(blocker, '');
  const store = new FsLockStore(path.join(blocker, 'locks'));
  assertStoreError(() => store.compareAndSwap(KEY, undefined, bytes('x')), /^not using the lock directory: .*a-file is not a directory;/);
  const policy = await loadPolicy(store);
  const event = { session_id: 'A', hook_event_name: 'PreToolUse', tool_name: 'Write', cwd: '/w' };
  const invocation = { environment: [], processCwd: '/w', parentPid: 1 };
  const answer = policy.answer(
    Buffer.from(JSON.stringify(event)),
    invocation,
    (target) => ({ realPath: target, gitTop: '/w' }),
    1,
  );
  assert.equal(answer.exitCode, 0);
  assert.ok(!answer.stdout.includes('deny'), `allowed: ${answer.stdout}`);
  // The component reads first, so the fault it reports is the read's.
  assert.match(answer.stderr, /^session-lock: lock store failed: not using the lock directory: .*a-file is not a directory; .*; allowing without the lock\n$/);
});

/**
 * Holds an exclusive flock(2) on `file` from another process (util-linux `flock`) for `ms`;
 * resolves once it holds it, to `{released}`: a promise of the child's exit code.
 */
async function holdWithFlockCommand(file, ms) {
  const child = spawn('flock', ['--exclusive', file, '-c', `echo held; sleep ${ms / 1000}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.stdout.once('data', resolve);
  });
  return { released: new Promise((resolve) => child.on('close', resolve)) };
}

test("another process's flock on the mutex makes a swap wait, then give up changing nothing", async () => {
  const store = freshStore();
  store.createDir();
  const { released } = await holdWithFlockCommand(store.mutexPath(KEY), 900);
  const started = performance.now();
  assertStoreError(
    () => store.compareAndSwap(KEY, undefined, bytes('x')),
    new RegExp(`\\.mutex stayed locked for ${MUTEX_WAIT_MS}ms$`),
    'busy',
  );
  assert.ok(performance.now() - started >= MUTEX_WAIT_MS, 'it waited');
  assert.equal(store.read(KEY), undefined, 'nothing written');
  assert.equal(await released, 0);
  assert.deepEqual(store.compareAndSwap(KEY, undefined, bytes('x')), { tag: 'swapped' }, 'free again');
});

test('a swap waits for a mutex that is released within the wait', async () => {
  const store = freshStore();
  store.createDir();
  const { released } = await holdWithFlockCommand(store.mutexPath(KEY), 200);
  const started = performance.now();
  assert.deepEqual(store.compareAndSwap(KEY, undefined, bytes('x')), { tag: 'swapped' });
  assert.ok(performance.now() - started >= 100, 'it waited for the holder');
  assert.equal(await released, 0);
});
