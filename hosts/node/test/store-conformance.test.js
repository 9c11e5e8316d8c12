// The store-conformance suite (`tests/store-conformance/*.json`, described in its README.md)
// run against the node:fs lock store. The Rust store runs the same files in
// `tests/store_conformance.rs`.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { tryLockExclusive } from '../src/flock.js';
import { FsLockStore, StoreError } from '../src/fs-store.js';
import { REPO_ROOT } from './support.js';

/** The key of every step that names none, and the one the places belong to. */
const KEY = '0123456789ab';

/** How long a step may take before the runner wakes it from a FIFO and calls it blocked. */
const BLOCKED_MS = 2000;

const SUITE_DIR = path.join(REPO_ROOT, 'tests', 'store-conformance');

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'session-lock-store-conformance-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Throws unless `object` has only the `allowed` fields: a misspelt field would check nothing. */
function onlyFields(object, allowed, where) {
  for (const field of Object.keys(object)) {
    assert.ok(allowed.includes(field), `${where}: unknown field ${JSON.stringify(field)}`);
  }
}

/** The bytes of a content value (`null`: none, as `undefined`). */
function bytesOf(content) {
  if (content === null) return undefined;
  onlyFields(content, ['text', 'hex', 'repeat', 'times'], 'content');
  if ('text' in content) return Buffer.from(content.text, 'utf8');
  if ('hex' in content) return Buffer.from(content.hex, 'hex');
  if ('repeat' in content) return Buffer.from(content.repeat.repeat(content.times), 'utf8');
  throw new Error(`not a content value: ${JSON.stringify(content)}`);
}

/** Bytes for a failure message: short ones as text, long ones by length. */
function shown(bytes) {
  if (bytes === undefined) return 'none';
  const buffer = Buffer.from(bytes);
  return buffer.length > 200 ? `${buffer.length} bytes` : JSON.stringify(buffer.toString('latin1'));
}

function assertBytes(actual, expected, what) {
  const same =
    actual === undefined || expected === undefined
      ? actual === expected
      : Buffer.from(actual).equals(Buffer.from(expected));
  assert.ok(same, `${what}: got ${shown(actual)}, want ${shown(expected)}`);
}

const parseMode = (mode) => Number.parseInt(mode, 8);
const showMode = (mode) => (mode & 0o777).toString(8).padStart(4, '0');

/** One case's store, in a fresh folder: its places and the FIFOs its setup made. */
class Ground {
  constructor(root) {
    this.root = root;
    const dir = path.join(root, 'locks');
    this.store = new FsLockStore(dir);
    this.places = {
      dir,
      record: path.join(dir, `session-lock-${KEY}.json`),
      mutex: path.join(dir, `session-lock-${KEY}.mutex`),
      temp: path.join(dir, `.session-lock-${KEY}.tmp`),
      outside: path.join(root, 'outside'),
    };
    this.fifos = [];
    this.held = [];
  }

  /** The path of `at`: a place, or a place followed by `/` and a path below it. */
  resolve(at) {
    const [place, ...below] = at.split('/');
    assert.ok(place in this.places, `unknown place ${JSON.stringify(at)}`);
    return path.join(this.places[place], ...below);
  }

  /** The name of a directory entry as a suite names it: the place it is, or the bare name. */
  nameOf(dir, entry) {
    const full = path.join(dir, entry);
    return Object.keys(this.places).find((place) => this.places[place] === full) ?? entry;
  }

  make(item) {
    onlyFields(item, ['at', 'make', 'content', 'mode', 'to'], 'setup');
    const target = this.resolve(item.at);
    const place = item.at.split('/')[0];
    if (place !== 'dir' && place !== 'outside' && !fs.existsSync(this.places.dir)) {
      fs.mkdirSync(this.places.dir, { recursive: true, mode: 0o700 });
    }
    switch (item.make) {
      case 'file':
        fs.writeFileSync(target, bytesOf(item.content ?? { text: '' }));
        fs.chmodSync(target, parseMode(item.mode ?? '0600'));
        break;
      case 'dir':
        fs.mkdirSync(target);
        fs.chmodSync(target, parseMode(item.mode ?? '0700'));
        break;
      case 'fifo':
        execFileSync('mkfifo', ['-m', item.mode ?? '0600', target]);
        this.fifos.push(target);
        break;
      case 'symlink':
        fs.symlinkSync(this.resolve(item.to), target);
        break;
      case 'held': {
        // A file description of its own: its `flock` excludes the store's as another
        // process's would. Kept open until the process ends.
        const fd = fs.openSync(target, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
        assert.ok(tryLockExclusive(fd), 'the setup takes the flock');
        this.held.push(fd);
        break;
      }
      default:
        assert.fail(`unknown setup ${JSON.stringify(item.make)}`);
    }
  }

  check(at, want, where) {
    onlyFields(want, ['is', 'content', 'mode', 'to', 'names'], `${where}: ${at}`);
    const file = this.resolve(at);
    let stat;
    try {
      stat = fs.lstatSync(file);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
    let is = 'missing';
    if (stat?.isFile()) is = 'file';
    else if (stat?.isDirectory()) is = 'dir';
    else if (stat?.isFIFO()) is = 'fifo';
    else if (stat?.isSymbolicLink()) is = 'symlink';
    else if (stat) is = 'something else';
    assert.equal(is, want.is, `${where}: what is at ${at}`);
    if (want.mode !== undefined) assert.equal(showMode(stat.mode), want.mode, `${where}: mode of ${at}`);
    if (want.content !== undefined) {
      assertBytes(fs.readFileSync(file), bytesOf(want.content), `${where}: bytes of ${at}`);
    }
    if (want.to !== undefined) assert.equal(fs.readlinkSync(file), this.resolve(want.to), `${where}: ${at} points to`);
    if (want.names !== undefined) {
      const names = fs.readdirSync(file).map((entry) => this.nameOf(file, entry));
      assert.deepEqual(names.sort(), [...want.names].sort(), `${where}: entries of ${at}`);
    }
  }
}

/**
 * Runs `f` and reports whether it blocked: if it has not returned within BLOCKED_MS, a worker
 * thread opens every FIFO the setup made for reading and writing, which wakes an open waiting
 * for the other end, so that a store that blocks fails the step instead of hanging the suite.
 */
async function guarded(fifos, f) {
  if (fifos.length === 0) return { value: f(), blocked: false };
  const shared = new SharedArrayBuffer(8);
  const flags = new Int32Array(shared);
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const fs = require('node:fs');
     const flags = new Int32Array(workerData.shared);
     if (Atomics.wait(flags, 0, 0, workerData.ms) === 'timed-out') {
       Atomics.store(flags, 1, 1);
       for (const fifo of workerData.fifos) {
         try { fs.closeSync(fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK)); } catch {}
       }
     }`,
    { eval: true, workerData: { shared, ms: BLOCKED_MS, fifos } },
  );
  const exited = once(worker, 'exit');
  try {
    return { value: f(), blocked: false };
  } finally {
    Atomics.store(flags, 0, 1);
    Atomics.notify(flags, 0);
    await exited;
    if (Atomics.load(flags, 1) === 1) assert.fail(`blocked for ${BLOCKED_MS}ms on a FIFO`);
  }
}

/** What a step did, as `{outcome, found}` or `{outcome: 'error', message}`. */
function perform(store, step) {
  const key = step.key ?? KEY;
  try {
    if (step.op === 'read') return { outcome: 'found', found: store.read(key) };
    if (step.op === 'cas') {
      assert.ok('expected' in step && 'replacement' in step, 'cas needs expected and replacement');
      const toStore = (content) => {
        const bytes = bytesOf(content);
        return bytes === undefined ? undefined : new Uint8Array(bytes);
      };
      const outcome = store.compareAndSwap(key, toStore(step.expected), toStore(step.replacement));
      if (outcome.tag === 'swapped') return { outcome: 'swapped' };
      if (outcome.tag === 'conflict') return { outcome: 'conflict', found: outcome.val };
      return assert.fail(`not a swap outcome: ${JSON.stringify(outcome)}`);
    }
    return assert.fail(`unknown op ${JSON.stringify(step.op)}`);
  } catch (error) {
    // Anything but a StoreError would be a trap in the component, not a reported failure.
    if (!(error instanceof StoreError)) throw error;
    assert.equal(error.payload.val, error.message, 'the payload carries the message');
    return { outcome: error.busy ? 'busy' : 'error', message: error.message };
  }
}

async function runCase(scenario, root) {
  onlyFields(scenario, ['name', 'setup', 'steps'], scenario.name);
  const ground = new Ground(root);
  for (const item of scenario.setup ?? []) ground.make(item);
  for (const [index, step] of scenario.steps.entries()) {
    const where = `step ${index + 1} (${step.op})`;
    onlyFields(step, ['op', 'key', 'expected', 'replacement', 'expect'], where);
    const { expect } = step;
    onlyFields(expect, ['outcome', 'found', 'error_contains', 'paths'], where);
    const { value: got } = await guarded(ground.fifos, () => perform(ground.store, step));
    const failed = got.outcome === 'error' || got.outcome === 'busy';
    const detail = failed ? `: ${got.message}` : '';
    assert.equal(got.outcome, expect.outcome, `${where}: outcome${detail}`);
    if (failed) {
      assert.ok(!got.message.includes('\n'), `${where}: the error is one line: ${JSON.stringify(got.message)}`);
      assert.ok(
        got.message.includes(expect.error_contains),
        `${where}: ${JSON.stringify(got.message)} should contain ${JSON.stringify(expect.error_contains)}`,
      );
    } else if (got.outcome !== 'swapped') {
      assert.ok('found' in expect, `${where}: the expectation needs "found"`);
      assertBytes(got.found, bytesOf(expect.found), `${where}: found`);
    }
    for (const [at, want] of Object.entries(expect.paths ?? {})) ground.check(at, want, where);
  }
  for (const fd of ground.held) fs.closeSync(fd);
}

const files = fs
  .readdirSync(SUITE_DIR)
  .filter((name) => name.endsWith('.json'))
  .sort();

test('the suite has files', () => assert.ok(files.length > 0));

let cases = 0;
for (const file of files) {
  const suite = JSON.parse(fs.readFileSync(path.join(SUITE_DIR, file), 'utf8'));
  onlyFields(suite, ['description', 'cases'], file);
  describe(file, () => {
    for (const scenario of suite.cases) {
      cases += 1;
      const root = path.join(scratch, `case-${cases}`);
      test(scenario.name, async () => {
        fs.mkdirSync(root);
        await runCase(scenario, root);
      });
    }
  });
}
