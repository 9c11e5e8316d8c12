// `node hosts/node/hook.js` run as an agent runs it: real processes, real events, a real lock
// directory. It answers as `session-lock hook` does: it passes the component the raw variables
// it names, its working directory and its parent, resolves the paths the component names on this
// filesystem, and fails open on its own faults.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, test } from 'node:test';

import { Sandbox, claudeEvent, denyReason, runHook, startHook } from './support.js';

let sandbox;
afterEach(() => sandbox?.remove());

/** Runs the Node hook on `event` in this test's sandbox. */
function nodeHook(event, env = {}, options = {}) {
  return runHook('node', event, { lockDir: sandbox.lockDir, env, ...options });
}

/** Asserts the host's own fail-open answer: exit 0, nothing on stdout, one `session-lock:` line. */
function assertFailsOpen(output, pattern) {
  assert.equal(output.status, 0);
  assert.equal(output.stdout, '');
  assert.match(output.stderr, /^session-lock: [^\n]*; allowing without the lock\n$/);
  assert.match(output.stderr, pattern);
}

/**
 * Asserts the component's fail-open answer: exit 0, no refusal (the agent may be shown a
 * warning), one `session-lock:` line on stderr.
 */
function assertComponentFailsOpen(output, pattern) {
  assert.equal(output.status, 0);
  assert.doesNotMatch(output.stdout, /"(permissionDecision|decision|permission)":"deny"/);
  assert.match(output.stderr, /^session-lock: [^\n]*; allowing without the lock\n$/);
  assert.match(output.stderr, pattern);
}

/** Durations in a deny reason, which depend on when each process read the clock. */
const timeless = (text) => text.replace(/\d+h \d\dm|\d+m \d\ds|\d+s/g, '<duration>');

test('answers exactly as the Rust host does, event for event, with the same records', async () => {
  const answers = {};
  const records = {};
  for (const host of ['node', 'rust']) {
    sandbox = new Sandbox();
    const ws = sandbox.workspace;
    // The session's pid is this test process: alive, so both hosts record the same holder.
    const run = (event, env = {}, options = {}) =>
      runHook(host, event, {
        lockDir: sandbox.lockDir,
        env: { CLAUDE_PID: String(process.pid), ...env },
        ...options,
      });
    const events = [
      claudeEvent('PreToolUse', 'A', 'Write', ws),
      claudeEvent('PreToolUse', 'B', 'Edit', ws),
      claudeEvent('PreToolUse', 'B', 'Read', ws),
      { ...claudeEvent('PreToolUse', 'B', 'Bash', ws), tool_input: { command: 'git status' } },
      { ...claudeEvent('PreToolUse', 'B', 'Bash', sandbox.root), tool_input: { command: 'cd repo && touch x' } },
      { hook_event_name: 'BeforeTool', session_id: 'G', tool_name: 'write_file', cwd: ws },
      { hook_event_name: 'beforeShellExecution', conversation_id: 'C', workspace_roots: [ws] },
      { hook_event_name: 'afterFileEdit', conversation_id: 'C', workspace_roots: [ws] },
      { hook_event_name: 'PreToolUse', tool_name: 'Write', cwd: ws },
      'not json',
      claudeEvent('PostToolUse', 'A', 'Write', ws),
      claudeEvent('Stop', 'B', null, ws),
      claudeEvent('Stop', 'A', null, ws),
    ];
    answers[host] = [];
    records[host] = [];
    for (const event of events) {
      const output = await run(event);
      // A refusal names a worktree beside the workspace: each host's sandbox is its own folder.
      // The folder first: its random name may hold what reads as a duration (`…W12syBl`).
      const stdout = timeless(output.stdout.replaceAll(sandbox.root, '<root>'));
      answers[host].push({ ...output, stdout });
      const record = sandbox.record();
      // Each host's sandbox is its own folder: the workspace a record names is compared as
      // the path inside it.
      const workspace = record?.workspace?.replace(sandbox.root, '<root>');
      records[host].push(record && { ...record, acquired_at: 0, refreshed_at: 0, workspace });
    }
    for (const env of [{ SESSION_LOCK_TTL_MS: 'soon' }, { SESSION_LOCK_MODE: 'strict' }]) {
      answers[host].push(await run(claudeEvent('PreToolUse', 'A', 'Write', ws), env));
      records[host].push(sandbox.record()?.ttl_ms);
    }
    answers[host].push(await run(claudeEvent('PreToolUse', 'A', 'Write', ws), {}, { args: ['--agent', 'cursr'] }));
    sandbox.remove();
  }
  assert.deepEqual(answers.node, answers.rust);
  assert.deepEqual(records.node, records.rust);
  assert.equal(answers.node[1].stdout.includes('"permissionDecision":"deny"'), true, 'B was denied');
  sandbox = undefined;
});

test('passes CLAUDE_PID to the component, which records it, else the pid of the process that started the hook', async () => {
  sandbox = new Sandbox();
  await nodeHook(claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace), { CLAUDE_PID: ' 4101 ' });
  assert.equal(sandbox.record().pid, 4101);
  await nodeHook(claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace), { CLAUDE_PID: 'x' });
  assert.equal(sandbox.record().pid, process.pid);
});

test('records the identity of a session process that runs, from /proc', { skip: !fs.existsSync('/proc/self/stat') }, async () => {
  sandbox = new Sandbox();
  await nodeHook(claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace), { CLAUDE_PID: String(process.pid) });
  const { holder } = sandbox.record();
  assert.equal(holder.boot_id, fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  assert.equal(holder.pid_namespace, fs.readlinkSync('/proc/self/ns/pid'));
  assert.ok(holder.start_time > 0);
});

test('resolves the paths the event names: through symlinks, and through the nearest existing ancestor', async () => {
  sandbox = new Sandbox();
  const elsewhere = path.join(sandbox.root, 'elsewhere');
  fs.mkdirSync(elsewhere);
  fs.symlinkSync(sandbox.workspace, path.join(sandbox.root, 'link'));
  const event = claudeEvent('PreToolUse', 'A', 'Write', elsewhere);
  event.tool_input.file_path = path.join(sandbox.root, 'link', 'new', 'dir', 'file.txt');
  const taken = await nodeHook(event);
  assert.equal(taken.stderr, '');
  const blocked = await nodeHook(claudeEvent('PreToolUse', 'B', 'Write', sandbox.workspace));
  assert.match(denyReason(blocked), /held by A /, "A's file lies in the work tree behind the link");
  const free = await nodeHook(claudeEvent('PreToolUse', 'B', 'Write', elsewhere));
  assert.equal(denyReason(free), undefined, 'elsewhere is not locked');
});

test('passes CLAUDE_PROJECT_DIR to the component: it names the session directory of an event without one', async () => {
  sandbox = new Sandbox();
  const elsewhere = path.join(sandbox.root, 'elsewhere');
  fs.mkdirSync(elsewhere);
  const event = { session_id: 'A', hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'npm test' } };
  await nodeHook(event, { CLAUDE_PROJECT_DIR: sandbox.workspace }, { cwd: elsewhere });
  const blocked = await nodeHook(claudeEvent('PreToolUse', 'B', 'Write', sandbox.workspace));
  assert.match(denyReason(blocked), /held by A /, 'A locked the project, not the working directory');
});

test('the working directory names the workspace when the event names none', async () => {
  sandbox = new Sandbox();
  const event = { session_id: 'A', hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { file_path: 'x.txt' } };
  const sub = path.join(sandbox.workspace, 'src');
  fs.mkdirSync(sub);
  await nodeHook(event, {}, { cwd: sub });
  const blocked = await nodeHook(claudeEvent('PreToolUse', 'B', 'Write', sandbox.workspace));
  assert.match(denyReason(blocked), /held by A /);
});

test("a Stop releases the session's locks in every workspace of the lock directory", async () => {
  sandbox = new Sandbox();
  const other = path.join(sandbox.root, 'other');
  fs.mkdirSync(path.join(other, '.git'), { recursive: true });
  fs.writeFileSync(path.join(other, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  await nodeHook(claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace));
  await nodeHook(claudeEvent('PreToolUse', 'A', 'Write', other));
  await nodeHook(claudeEvent('PreToolUse', 'B', 'Write', path.join(sandbox.root)));
  assert.deepEqual(sandbox.records().map((r) => r.session_id).sort(), ['A', 'A', 'B']);
  const stopped = await nodeHook(claudeEvent('Stop', 'A', null, sandbox.workspace));
  assert.equal(stopped.stderr, '');
  assert.deepEqual(sandbox.records().map((r) => r.session_id), ['B'], "B's lock is not A's to release");
});

test('SESSION_LOCK_TTL_MS is passed as it is: the component sets the ttl, or warns and uses 5 minutes', async () => {
  sandbox = new Sandbox();
  const event = claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace);
  const set = await nodeHook(event, { SESSION_LOCK_TTL_MS: '1234' });
  assert.equal(set.stderr, '');
  assert.equal(sandbox.record().ttl_ms, 1234);
  const bad = await nodeHook(event, { SESSION_LOCK_TTL_MS: '-5' });
  assert.equal(
    bad.stderr,
    'session-lock: SESSION_LOCK_TTL_MS="-5" is not a whole number of milliseconds; using 300000\n',
  );
  assert.equal(sandbox.record().ttl_ms, 300000);
});

test('SESSION_LOCK_MODE=observe never denies, and says what it would have done', async () => {
  sandbox = new Sandbox();
  await nodeHook(claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace));
  const observed = await nodeHook(claudeEvent('PreToolUse', 'B', 'Write', sandbox.workspace), {
    SESSION_LOCK_MODE: 'observe',
  });
  assert.equal(denyReason(observed), undefined);
  assert.match(observed.stderr, /^session-lock: observe: would deny B: parallel session lock held by A /);
  assert.equal(sandbox.record().session_id, 'A');
});

test('--agent forces the protocol; the component names the agents', async () => {
  sandbox = new Sandbox();
  const event = { session_id: 'A', hook_event_name: 'PreToolUse', tool_name: 'apply_patch', cwd: sandbox.workspace };
  assert.equal((await nodeHook(event)).stdout, '');
  assert.equal(sandbox.record(), undefined, "apply_patch is not one of Claude Code's tools");
  const forced = await nodeHook(event, {}, { args: ['--agent', 'codex'] });
  assert.equal(forced.stderr, '');
  assert.equal(sandbox.record().session_id, 'A');
  // A name no agent has is said where the person sees it, in the Rust host's bytes.
  const bad = await nodeHook(event, {}, { args: ['--agent=cursr'] });
  assertComponentFailsOpen(bad, /^session-lock: unknown agent "cursr": expected one of .*claude.*;/);
  assert.equal(JSON.parse(bad.stdout).systemMessage, bad.stderr.trimEnd());
  assert.deepEqual(bad, await runHook('rust', event, { lockDir: sandbox.lockDir, args: ['--agent=cursr'] }));
  assertFailsOpen(await nodeHook(event, {}, { args: ['--agnet', 'codex'] }), /unexpected argument "--agnet"/);
  assertFailsOpen(await nodeHook(event, {}, { args: ['--agent'] }), /--agent needs a name/);
});

test('its own faults before the component is loaded fail open with one line on stderr', async () => {
  sandbox = new Sandbox();
  // (Once it is loaded, the component answers for them in the agent's form: undecided.test.js.)
  assertFailsOpen(
    await runHook('node', claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace), {
      lockDir: '',
      env: { HOME: '' },
    }),
    /^session-lock: no SESSION_LOCK_DIR and no home directory to put locks in;/,
  );
});

test('a store this host cannot use fails open where the person sees it, as the Rust host does', async () => {
  sandbox = new Sandbox();
  // What only the Rust host has is refused, not silently replaced by this machine's files, and
  // each guarded call is a fail-open the agent shows (not a line on stderr alone).
  const event = claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace);
  const read = claudeEvent('PreToolUse', 'A', 'Read', sandbox.workspace);
  const cases = [
    [{ SESSION_LOCK_STORE: 'etcd' }, /^session-lock: lock store failed: the Node.js host has no etcd store/],
    [{ CLAUDE_PLUGIN_OPTION_ETCD_ENDPOINTS: 'https://etcd:2379' }, /^session-lock: lock store failed: the Node.js host has no etcd store/],
    [{ SESSION_LOCK_STORE: 'file' }, /^session-lock: lock store failed: SESSION_LOCK_STORE="file" is not a lock store \(files or etcd\);/],
    [{ SESSION_LOCK_IDENTITY: 'checkout' }, /^session-lock: lock store failed: the Node.js host names checkouts by path only/],
    [{ SESSION_LOCK_IDENTITY: 'id' }, /is not a way to name checkouts \(path or checkout\);/],
  ];
  for (const [env, pattern] of cases) {
    const output = await nodeHook(event, env);
    assertComponentFailsOpen(output, pattern);
    assert.equal(JSON.parse(output.stdout).systemMessage, output.stderr.trimEnd(), 'shown to the person');
    assert.equal((await nodeHook(read, env)).stdout, '', 'reading goes on without a word');
  }
  assert.equal(sandbox.record(), undefined);
  assert.deepEqual(
    sandbox.decisions().map(({ decision }) => decision),
    cases.map(() => 'fail-open'),
  );
  // The same answer from the Rust host for a store neither knows.
  const env = { SESSION_LOCK_STORE: 'file' };
  const [node, rust] = await Promise.all(['node', 'rust'].map((host) => runHook(host, event, { lockDir: sandbox.lockDir, env })));
  assert.deepEqual(node, rust);
  assert.equal((await nodeHook(event, { SESSION_LOCK_STORE: 'files', SESSION_LOCK_IDENTITY: 'path' })).stderr, '');
  assert.equal(sandbox.record().session_id, 'A');
});

test("the store's faults reach the component, which fails open", async () => {
  sandbox = new Sandbox();
  fs.writeFileSync(path.join(sandbox.root, 'file'), '');
  assertComponentFailsOpen(
    await runHook('node', claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace), {
      lockDir: path.join(sandbox.root, 'file', 'locks'),
    }),
    /^session-lock: lock store failed: /,
  );
  assertComponentFailsOpen(
    await runHook('node', claudeEvent('Stop', 'A', null, sandbox.workspace), {
      lockDir: path.join(sandbox.root, 'file'),
    }),
    /^session-lock: lock store failed: not using the lock directory: .*file is not a directory; `session-lock doctor` says how to fix it;/,
  );
});

test('an unreadable lock record fails open and is kept', async () => {
  sandbox = new Sandbox();
  await nodeHook(claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace));
  const [name] = fs.readdirSync(sandbox.lockDir).filter((n) => n.endsWith('.json'));
  fs.writeFileSync(path.join(sandbox.lockDir, name), 'garbage');
  assertComponentFailsOpen(
    await nodeHook(claudeEvent('PreToolUse', 'B', 'Write', sandbox.workspace)),
    /^session-lock: lock record is not valid schema-1 JSON/,
  );
  assert.equal(fs.readFileSync(path.join(sandbox.lockDir, name), 'utf8'), 'garbage');
});

test('SESSION_LOCK_WAIT_MS: a blocked call sleeps as the component asks, past the 1 s deadline, and takes the lock once freed', async () => {
  sandbox = new Sandbox();
  const ws = sandbox.workspace;
  await nodeHook(claudeEvent('PreToolUse', 'A', 'Write', ws));
  const started = performance.now();
  const waiting = nodeHook(claudeEvent('PreToolUse', 'B', 'Write', ws), { SESSION_LOCK_WAIT_MS: '5000' });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await nodeHook(claudeEvent('Stop', 'A', null, ws));
  const output = await waiting;
  assert.ok(performance.now() - started >= 1500, 'B waited');
  assert.equal(output.stderr, '');
  assert.equal(denyReason(output), undefined);
  assert.equal(sandbox.record().session_id, 'B');
  const refused = await nodeHook(claudeEvent('PreToolUse', 'C', 'Write', ws), { SESSION_LOCK_WAIT_MS: '1500' });
  assert.match(denyReason(refused) ?? '', /^parallel session lock held by B /, 'refused before its wait ran out');
  assert.equal(refused.stderr, '');
});

test('answers within the deadline when stdin never closes, with the warning the person sees', async () => {
  sandbox = new Sandbox();
  const started = performance.now();
  const { child, done } = startHook('node', { lockDir: sandbox.lockDir });
  const output = await done;
  child.stdin.destroy();
  assert.ok(performance.now() - started < 3000);
  assertComponentFailsOpen(output, /^session-lock: no answer within 1s;/);
  assert.deepEqual(JSON.parse(output.stdout), { systemMessage: output.stderr.trimEnd() });
});
