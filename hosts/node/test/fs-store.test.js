// The node:fs lock store: the Rust host's file format and atomicity (`host/src/fs_store.rs`),
// and its refusals.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { FsLockStore, MAX_RECORD_BYTES, MUTEX_WAIT_MS, StoreError } from '../src/fs-store.js';
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
const text = (data) => (data === undefined ? undefined : Buffer.from(data).toString());
const mode = (file) => fs.statSync(file).mode & 0o777;

/** Throws unless `f` throws a StoreError (what the component reports and fails open on). */
function assertStoreError(f, pattern) {
  assert.throws(f, (error) => {
    assert.ok(error instanceof StoreError, `a StoreError, not ${error}`);
    assert.equal(error.payload, error.message, 'the payload is the message');
    assert.match(error.message, pattern);
    return true;
  });
}

test('a record is published as <dir>/session-lock-<key>.json, 0600, in a 0700 directory it creates', async () => {
  const store = freshStore();
  assert.equal(fs.existsSync(store.dir), false);
  assert.deepEqual(store.compareAndSwap(KEY, undefined, bytes('{"a":1}\n')), { tag: 'swapped' });
  const record = path.join(store.dir, `session-lock-${KEY}.json`);
  assert.equal(fs.readFileSync(record, 'utf8'), '{"a":1}\n');
  assert.equal(mode(record), 0o600);
  assert.equal(mode(store.dir), 0o700);
  assert.equal(mode(path.join(store.dir, `session-lock-${KEY}.mutex`)), 0o600);
  assert.deepEqual(
    fs.readdirSync(store.dir).sort(),
    [`session-lock-${KEY}.json`, `session-lock-${KEY}.mutex`],
    'the record and its mutex; the temporary file was renamed into place',
  );
});

test('compare-and-swap changes the record only when it holds exactly the expected bytes', async () => {
  const store = freshStore();
  assert.equal(store.read(KEY), undefined, 'no record yet');
  assert.deepEqual(store.compareAndSwap(KEY, undefined, bytes('A')), { tag: 'swapped' });
  const lost = store.compareAndSwap(KEY, undefined, bytes('B'));
  assert.equal(lost.tag, 'conflict');
  assert.equal(text(lost.val), 'A', 'a conflict carries what the record holds');
  const stale = store.compareAndSwap(KEY, bytes('A '), bytes('B'));
  assert.equal(text(stale.val), 'A', 'one byte off is a conflict');
  assert.deepEqual(store.compareAndSwap(KEY, bytes('A'), bytes('B')), { tag: 'swapped' });
  assert.equal(text(store.read(KEY)), 'B');
  assert.deepEqual(store.compareAndSwap(KEY, bytes('B'), undefined), { tag: 'swapped' });
  assert.equal(store.read(KEY), undefined, 'undefined as the replacement deletes');
  const gone = store.compareAndSwap(KEY, bytes('B'), undefined);
  assert.deepEqual(gone, { tag: 'conflict', val: undefined }, 'a conflict can say: no record');
  assert.deepEqual(store.compareAndSwap(KEY, undefined, undefined), { tag: 'swapped' });
});

test('keys that are not 12 hexadecimal characters never reach a path', async () => {
  const store = freshStore();
  for (const key of ['0123456789a', '0123456789abc', '../../etc/pa', '0123456789ag', '']) {
    assertStoreError(() => store.read(key), /^refusing lock key .*: not 12 hexadecimal characters$/);
    assertStoreError(() => store.compareAndSwap(key, undefined, bytes('x')), /^refusing lock key/);
  }
  assert.equal(fs.existsSync(store.dir), false, 'nothing was created');
  assert.deepEqual(store.compareAndSwap('ABCDEF012345', undefined, bytes('x')), { tag: 'swapped' });
});

test('a symlink at the record path is refused, not followed', async () => {
  const store = freshStore();
  store.createDir();
  const victim = path.join(store.dir, '..', 'victim');
  fs.writeFileSync(victim, 'precious');
  fs.symlinkSync(victim, store.recordPath(KEY));
  assertStoreError(() => store.read(KEY), /is a symlink; not followed$/);
  assertStoreError(() => store.compareAndSwap(KEY, bytes('precious'), undefined), /symlink/);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious');
  assert.ok(fs.lstatSync(store.recordPath(KEY)).isSymbolicLink(), 'the link is left alone');
});

test('symlinks at the temporary and mutex paths are not followed', async () => {
  const store = freshStore();
  store.createDir();
  const victim = path.join(store.dir, '..', 'victim');
  fs.writeFileSync(victim, 'precious');
  fs.symlinkSync(victim, store.tempPath(KEY));
  assertStoreError(() => store.compareAndSwap(KEY, undefined, bytes('x')), /^cannot write /);
  assert.equal(store.read(KEY), undefined);
  fs.rmSync(store.tempPath(KEY));
  // The failed swap left its mutex file, as every swap does; put a link in its place.
  fs.rmSync(store.mutexPath(KEY));
  fs.symlinkSync(victim, store.mutexPath(KEY));
  assertStoreError(() => store.compareAndSwap(KEY, undefined, bytes('x')), /^cannot open .*\.mutex/);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious');
  assert.equal(store.read(KEY), undefined);
});

test('a FIFO at the record path is refused without blocking', async () => {
  const store = freshStore();
  store.createDir();
  execFileSync('mkfifo', [store.recordPath(KEY)]);
  assertStoreError(() => store.read(KEY), /is not a regular file$/);
});

test('a record of exactly 64 KiB is read, one byte more is refused unread', async () => {
  const store = freshStore();
  store.createDir();
  fs.writeFileSync(store.recordPath(KEY), Buffer.alloc(MAX_RECORD_BYTES, 'x'));
  assert.equal(store.read(KEY).length, MAX_RECORD_BYTES);
  fs.writeFileSync(store.recordPath(KEY), Buffer.alloc(MAX_RECORD_BYTES + 1, 'x'));
  assertStoreError(() => store.read(KEY), /is larger than 65536 bytes$/);
});

test('a lock directory that cannot be created is a store error, and the hook fails open on it', async () => {
  const blocker = path.join(scratch, 'a-file');
  fs.writeFileSync(blocker, '');
  const store = new FsLockStore(path.join(blocker, 'locks'));
  assertStoreError(() => store.compareAndSwap(KEY, undefined, bytes('x')), /^cannot create lock directory /);
  const policy = await loadPolicy(store);
  const event = { session_id: 'A', hook_event_name: 'PreToolUse', tool_name: 'Write', cwd: '/w' };
  const answer = policy.handle(Buffer.from(JSON.stringify(event)), {
    workspace: '/w', pid: 1, nowMs: 1, ttlMs: 1000, mode: 'enforce',
  });
  assert.equal(answer.stdout, '', 'allowed');
  // The component reads first, so the fault it reports is the read's.
  assert.match(answer.stderr, /^session-lock: lock store failed: cannot open .*: ENOTDIR.*; allowing without the lock\n$/);
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
