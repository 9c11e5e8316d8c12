// The Node.js host and the Rust host (`target/debug/session-lock`) on one lock directory: a lock
// taken through either blocks a session going through the other, their swaps exclude each other
// through the same flock, they list the same keys and see the same process identities. (They
// need a Rust binary built with the same WIT as the component generated/ holds.)

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, test } from 'node:test';

import { tryLockExclusive } from '../src/flock.js';
import {
  Sandbox,
  claudeEvent,
  denyReason,
  feed,
  hookCommand,
  runHook,
  rustHook,
  startHook,
} from './support.js';

let sandbox;
afterEach(() => sandbox?.remove());

const OTHER = { node: 'rust', rust: 'node' };

for (const first of ['node', 'rust']) {
  const second = OTHER[first];
  test(`a lock taken through the ${first} host blocks a session going through the ${second} host`, async () => {
    sandbox = new Sandbox();
    const ws = sandbox.workspace;
    const hook = (host, event, pid) =>
      runHook(host, event, { lockDir: sandbox.lockDir, env: { CLAUDE_PID: pid } });

    const taken = await hook(first, claudeEvent('PreToolUse', 'session-A', 'Write', ws), '4101');
    assert.equal(denyReason(taken), undefined, taken.stderr);
    assert.equal(sandbox.record().session_id, 'session-A');

    const blocked = await hook(second, claudeEvent('PreToolUse', 'session-B', 'Edit', ws), '4202');
    assert.match(
      denyReason(blocked) ?? '',
      /^parallel session lock held by session-A \(pid 4101\) — wait or close that session first/,
    );
    const notReleased = await hook(second, claudeEvent('Stop', 'session-B', null, ws), '4202');
    assert.equal(denyReason(notReleased), undefined);
    assert.equal(sandbox.record().session_id, 'session-A', `B's Stop through ${second} leaves A's lock`);

    const released = await hook(first, claudeEvent('Stop', 'session-A', null, ws), '4101');
    assert.equal(denyReason(released), undefined);
    assert.equal(sandbox.record(), undefined);
    const now = await hook(second, claudeEvent('PreToolUse', 'session-B', 'Edit', ws), '4202');
    assert.equal(denyReason(now), undefined);
    assert.equal(sandbox.record().session_id, 'session-B');
  });
}

test('one session may go through both hosts: each refreshes and releases what the other took', async () => {
  sandbox = new Sandbox();
  const ws = sandbox.workspace;
  const env = { CLAUDE_PID: '4101' };
  const hook = (host, event) => runHook(host, event, { lockDir: sandbox.lockDir, env });
  await hook('node', claudeEvent('PreToolUse', 'A', 'Bash', ws));
  const taken = sandbox.record();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(denyReason(await hook('rust', claudeEvent('PostToolUse', 'A', 'Bash', ws))), undefined);
  const refreshed = sandbox.record();
  assert.equal(refreshed.acquired_at, taken.acquired_at);
  assert.ok(refreshed.refreshed_at > taken.refreshed_at, 'the Rust host refreshed the lock');
  assert.equal(denyReason(await hook('rust', claudeEvent('PreToolUse', 'A', 'Write', ws))), undefined);
  assert.equal(denyReason(await hook('node', claudeEvent('Stop', 'A', null, ws))), undefined);
  assert.equal(sandbox.record(), undefined, 'the Node host released it');
});

for (const first of ['node', 'rust']) {
  const second = OTHER[first];
  test(`a session process recorded through the ${first} host is alive to the ${second} host until it ends`, { skip: !fs.existsSync('/proc/self/stat') }, async () => {
    sandbox = new Sandbox();
    const ws = sandbox.workspace;
    // The holder is the agent: its hook runs as its child (CLAUDE_PID is trusted only when it
    // is an ancestor of the hook), then it lives on as the same process until killed.
    const eventFile = path.join(sandbox.root, 'event.json');
    const answered = path.join(sandbox.root, 'answered');
    fs.writeFileSync(eventFile, JSON.stringify(claudeEvent('PreToolUse', 'session-A', 'Write', ws)));
    const [command, argv] = hookCommand(first);
    const script = 'CLAUDE_PID=$$ "$0" "$@" < "$EVENT" > "$ANSWERED.tmp" && mv "$ANSWERED.tmp" "$ANSWERED"; exec sleep 30';
    const holder = spawn('sh', ['-c', script, command, ...argv], {
      stdio: 'ignore',
      env: { ...process.env, SESSION_LOCK_DIR: sandbox.lockDir, EVENT: eventFile, ANSWERED: answered },
    });
    const ended = new Promise((resolve) => holder.on('exit', resolve));
    try {
      const hook = (host, event, pid) =>
        runHook(host, event, { lockDir: sandbox.lockDir, env: { CLAUDE_PID: String(pid) } });
      for (let waited = 0; !fs.existsSync(answered); waited += 20) {
        assert.ok(waited < 10000, 'the holder\'s hook answered');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(denyReason({ status: 0, stdout: fs.readFileSync(answered, 'utf8') }), undefined);
      assert.ok(sandbox.record().holder, `the ${first} host recorded the holder's identity`);
      const blocked = await hook(second, claudeEvent('PreToolUse', 'session-B', 'Write', ws), process.pid);
      assert.match(denyReason(blocked) ?? '', /^parallel session lock held by session-A /, 'the same identity: alive');
    } finally {
      holder.kill();
    }
    await ended;
    const now = await runHook(second, claudeEvent('PreToolUse', 'session-B', 'Write', ws), {
      lockDir: sandbox.lockDir,
      env: { CLAUDE_PID: String(process.pid) },
    });
    assert.equal(denyReason(now), undefined, `the holder is gone: taken over at once (${now.stderr})`);
    assert.equal(sandbox.record().session_id, 'session-B');
  });

  test(`a Stop through the ${second} host releases what the session took through the ${first} host in every workspace`, async () => {
    sandbox = new Sandbox();
    const other = path.join(sandbox.root, 'other');
    fs.mkdirSync(path.join(other, '.git'), { recursive: true });
    fs.writeFileSync(path.join(other, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    const hook = (host, event) => runHook(host, event, { lockDir: sandbox.lockDir });
    assert.equal(denyReason(await hook(first, claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace))), undefined);
    assert.equal(denyReason(await hook(first, claudeEvent('PreToolUse', 'A', 'Write', other))), undefined);
    assert.equal(denyReason(await hook(first, claudeEvent('PreToolUse', 'B', 'Write', sandbox.root))), undefined);
    assert.equal(sandbox.records().length, 3);
    const stopped = await hook(second, claudeEvent('Stop', 'A', null, sandbox.workspace));
    assert.equal(stopped.stderr, '');
    assert.deepEqual(sandbox.records().map((r) => r.session_id), ['B']);
  });
}

test('both hosts name a workspace, its subdirectories and a symlink to it by one lock hash', async () => {
  sandbox = new Sandbox();
  const sub = path.join(sandbox.workspace, 'src', 'deep');
  fs.mkdirSync(sub, { recursive: true });
  const link = path.join(sandbox.root, 'link');
  fs.symlinkSync(sandbox.workspace, link);
  const rustHash = (dir) => execFileSync(rustHook(), ['hash', dir], { encoding: 'utf8' }).trim();
  const expected = rustHash(sandbox.workspace);
  assert.match(expected, /^[0-9a-f]{12}$/);
  for (const [host, dir] of [['node', sub], ['rust', link], ['node', link]]) {
    const output = await runHook(host, claudeEvent('PreToolUse', `in-${host}`, 'Write', dir), {
      lockDir: sandbox.lockDir,
    });
    assert.equal(output.stderr, '');
    const names = fs.readdirSync(sandbox.lockDir).filter((n) => n.endsWith('.json'));
    assert.deepEqual(names, [`session-lock-${expected}.json`], `${host} in ${dir}`);
    fs.rmSync(path.join(sandbox.lockDir, names[0]));
  }
  assert.equal(rustHash(sub), expected);
});

test('of sessions racing through both hosts for a free lock, exactly one wins', async () => {
  const PER_HOST = 6;
  sandbox = new Sandbox();
  // Every process is started and waiting on stdin before any gets its event.
  const racers = [];
  for (let n = 0; n < PER_HOST; n++) {
    for (const host of ['node', 'rust']) {
      racers.push({ id: `${host}-${n}`, ...startHook(host, { lockDir: sandbox.lockDir }) });
    }
  }
  // Let the racers start and wait on stdin (well within the hooks' 1 s deadline, which runs
  // from their start).
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const racer of racers) {
    feed(racer.child, claudeEvent('PreToolUse', racer.id, 'Bash', sandbox.workspace));
  }
  const outputs = await Promise.all(racers.map((r) => r.done));
  const winners = racers.filter((r, i) => denyReason(outputs[i]) === undefined).map((r) => r.id);
  assert.equal(winners.length, 1, `winners: ${winners} ${outputs.map((o) => o.stderr).join('')}`);
  assert.equal(sandbox.record().session_id, winners[0]);
  for (const [i, output] of outputs.entries()) {
    if (racers[i].id === winners[0]) continue;
    assert.match(denyReason(output), new RegExp(`^parallel session lock held by ${winners[0]} `));
  }
});

test("the Rust host's swap waits on the mutex the Node host holds, and refuses with retry", async () => {
  sandbox = new Sandbox();
  const key = execFileSync(rustHook(), ['hash', sandbox.workspace], { encoding: 'utf8' }).trim();
  fs.mkdirSync(sandbox.lockDir, { mode: 0o700 });
  const mutex = fs.openSync(path.join(sandbox.lockDir, `session-lock-${key}.mutex`), 'w', 0o600);
  try {
    assert.equal(tryLockExclusive(mutex), true);
    const started = performance.now();
    const output = await runHook('rust', claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace), {
      lockDir: sandbox.lockDir,
    });
    assert.ok(performance.now() - started >= 500, 'the Rust host waited for the mutex');
    assert.equal(output.status, 0);
    // Contention, not a fault: the call is refused with "retry", never let through.
    assert.match(denyReason(output), /^parallel session lock is being taken or changed by another session right now/);
    assert.match(output.stderr, /^session-lock: lock store busy: .*\.mutex stayed locked for 500ms; refused: retry\n$/);
    assert.equal(sandbox.record(), undefined, 'nothing written under a held mutex');
  } finally {
    fs.closeSync(mutex);
  }
  const output = await runHook('rust', claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace), {
    lockDir: sandbox.lockDir,
  });
  assert.equal(output.stderr, '');
  assert.equal(sandbox.record().session_id, 'A', 'closing the fd released the mutex');
});
