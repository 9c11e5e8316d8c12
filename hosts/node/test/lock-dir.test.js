// The lock directory must be the user's own, as in the Rust host (`tests/filesystem.rs`,
// `the_lock_directory_is_the_users_own`): anything else is refused visibly (the agent's warning
// and stderr, naming `session-lock doctor`), the call let through, and nothing written there.
// Each case also runs the Rust host on the same directory: both give the same answer.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, test } from 'node:test';

import { DecisionLogFile } from '../src/decision-log.js';
import { openLockDir } from '../src/lock-dir.js';
import { Sandbox, claudeEvent, runHook } from './support.js';

let sandbox;
afterEach(() => sandbox?.remove());

/** Another user's uid. */
const SOMEONE = 1234;

const isRoot = process.geteuid() === 0;

/** A directory at `file`, mode `mode` exactly (parents made 0700). */
function dirAt(file, mode) {
  fs.mkdirSync(file, { recursive: true, mode: 0o700 });
  fs.chmodSync(file, mode);
  return file;
}

function entriesIn(dir) {
  try {
    return fs.readdirSync(dir).length;
  } catch {
    return 0;
  }
}

/** `host`'s hook with SESSION_LOCK_DIR=dir on a PreToolUse Write of A in the sandbox's repo. */
function hookWith(host, dir, options = {}) {
  return runHook(host, claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace), { lockDir: dir, ...options });
}

/** Runs both hosts on `dir`; returns the Node host's answer after checking they agree. */
async function bothHosts(dir, options) {
  const node = await hookWith('node', dir, options);
  const rust = await hookWith('rust', dir, options);
  assert.deepEqual(node, rust, 'the same answer from both hosts');
  return node;
}

/** The call was let through with a warning the person sees, naming `why` and doctor. */
function assertRefused(output, why) {
  assert.equal(output.status, 0);
  const shown = JSON.parse(output.stdout).systemMessage;
  assert.ok(typeof shown === 'string', `a warning the person sees: ${output.stdout}`);
  assert.ok(shown.includes(why), `${JSON.stringify(why)} not in ${shown}`);
  assert.ok(shown.includes('session-lock doctor'), shown);
  assert.equal(output.stderr, `${shown}\n`);
}

/** The call was allowed without a word. */
function assertAllowed(output) {
  assert.deepEqual(output, { status: 0, stdout: '', stderr: '' });
}

test('a directory of another user is refused', { skip: !isRoot && 'needs root to give a directory away' }, async () => {
  sandbox = new Sandbox();
  const theirs = dirAt(path.join(sandbox.root, 'theirs'), 0o700);
  fs.chownSync(theirs, SOMEONE, SOMEONE);
  assertRefused(await bothHosts(theirs), 'belongs to uid 1234');
  assert.equal(entriesIn(theirs), 0);
});

test('a directory its group or everyone can write is refused', async () => {
  sandbox = new Sandbox();
  for (const mode of [0o770, 0o777, 0o1777, 0o720]) {
    const open = dirAt(path.join(sandbox.root, `open-${mode.toString(8)}`), mode);
    assertRefused(await bothHosts(open), `mode ${mode.toString(8).padStart(4, '0')}`);
    assert.equal(entriesIn(open), 0, mode.toString(8));
  }
});

test('a parent others can change is refused, but a sticky one like /tmp is not', async () => {
  sandbox = new Sandbox();
  const open = dirAt(path.join(sandbox.root, 'open'), 0o777);
  const locks = dirAt(path.join(open, 'locks'), 0o700);
  assertRefused(await bothHosts(locks), 'above the lock directory');
  assert.equal(entriesIn(locks), 0);

  const sticky = dirAt(path.join(sandbox.root, 'sticky'), 0o1777);
  const inSticky = dirAt(path.join(sticky, 'locks'), 0o700);
  assertAllowed(await hookWith('node', inSticky));
  assert.equal(entriesIn(inSticky), 3, 'the record, its mutex and the decision log');

  if (isRoot) {
    const theirs = dirAt(path.join(sandbox.root, 'their-parent'), 0o755);
    const below = dirAt(path.join(theirs, 'locks'), 0o700);
    fs.chownSync(theirs, SOMEONE, SOMEONE);
    assertRefused(await bothHosts(below), '(uid 1234, mode 0755), above the lock directory');
    assert.equal(entriesIn(below), 0);
  }
});

test('a symlinked lock directory is refused, and a link on the way is checked where it leads', async () => {
  sandbox = new Sandbox();
  const real = dirAt(path.join(sandbox.root, 'real-locks'), 0o700);
  const link = path.join(sandbox.root, 'link-locks');
  fs.symlinkSync(real, link);
  assertRefused(await bothHosts(link), 'is a symlink');
  assert.equal(entriesIn(real), 0);

  // A link to a parent is followed, and where it leads is checked like any parent.
  const parent = dirAt(path.join(sandbox.root, 'parent'), 0o700);
  const locks = dirAt(path.join(parent, 'locks'), 0o700);
  fs.symlinkSync(parent, path.join(sandbox.root, 'to-parent'));
  assertAllowed(await hookWith('node', path.join(sandbox.root, 'to-parent', 'locks')));
  assert.equal(entriesIn(locks), 3);
  // A relative link too, and `..` on the way.
  fs.symlinkSync('parent', path.join(sandbox.root, 'relative-parent'));
  assertAllowed(await hookWith('node', path.join(sandbox.root, 'relative-parent', '..', 'parent', 'locks')));

  const open = dirAt(path.join(sandbox.root, 'open-parent'), 0o777);
  const inside = dirAt(path.join(open, 'locks'), 0o700);
  fs.symlinkSync(open, path.join(sandbox.root, 'to-open'));
  assertRefused(await bothHosts(path.join(sandbox.root, 'to-open', 'locks')), 'above the lock directory');
  assert.equal(entriesIn(inside), 0);
});

test('a relative lock directory is refused, and nothing is created', async () => {
  sandbox = new Sandbox();
  const output = await bothHosts('locks', { cwd: sandbox.root });
  assertRefused(output, 'relative path');
  assert.equal(fs.existsSync(path.join(sandbox.root, 'locks')), false);
});

test('a directory created under umask 000 is 0700, and its records work', async () => {
  sandbox = new Sandbox();
  const deep = path.join(sandbox.root, 'new', 'locks');
  const previous = process.umask(0);
  let output;
  try {
    // The child inherits the umask.
    output = await hookWith('node', deep);
  } finally {
    process.umask(previous);
  }
  assertAllowed(output);
  assert.equal(fs.statSync(path.join(sandbox.root, 'new')).mode & 0o7777, 0o700);
  assert.equal(fs.statSync(deep).mode & 0o7777, 0o700);
  assert.equal(fs.readdirSync(deep).filter((name) => name.endsWith('.json')).length, 1);
  assertAllowed(await hookWith('node', deep));
});

test('the decision log is kept only in a directory the hook would use, and never creates a refused one', () => {
  sandbox = new Sandbox();
  const open = dirAt(path.join(sandbox.root, 'open'), 0o777);
  assert.throws(
    () => new DecisionLogFile(path.join(open, 'locks')).append('{"decision":"taken"}'),
    (error) => typeof error === 'string' && /^not logging: .*above the lock directory/.test(error),
  );
  assert.equal(fs.existsSync(path.join(open, 'locks')), false);
  assert.throws(
    () => new DecisionLogFile('relative').append('{}'),
    (error) => typeof error === 'string' && error.startsWith('not logging: the lock directory relative is a relative path'),
  );
  const own = path.join(sandbox.root, 'own');
  new DecisionLogFile(own).append('{"decision":"taken"}');
  assert.equal(fs.readFileSync(path.join(own, 'session-lock-decisions.jsonl'), 'utf8'), '{"decision":"taken"}\n');
});

test('the store works inside the directory it checked, whatever is renamed into its path later', () => {
  sandbox = new Sandbox();
  const locks = dirAt(path.join(sandbox.root, 'locks'), 0o700);
  const dir = openLockDir(locks, false);
  try {
    // Swapped after the check: the descriptor still names the directory that was checked.
    fs.renameSync(locks, path.join(sandbox.root, 'checked'));
    dirAt(locks, 0o700);
    fs.writeFileSync(dir.file('here'), '');
    assert.equal(fs.existsSync(path.join(sandbox.root, 'checked', 'here')), true);
    assert.equal(fs.existsSync(path.join(locks, 'here')), false);
  } finally {
    dir.close();
  }
});
