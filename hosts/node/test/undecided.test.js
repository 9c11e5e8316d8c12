// A guarded call the Node hook cannot decide is never silent, as in the Rust host
// (`tests/undecided.rs`): the deadline, an event too large to read, and a trap of the component
// are answered in the agent's own form with the warning the person sees (`hook.fault-answer`),
// not with an exit-0 answer whose only word is on stderr. Both hosts give the same bytes.

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { afterEach, test } from 'node:test';

import { hookAnswer, loadOnThisMachine } from '../src/hook.js';
import { loadPolicy } from '../src/policy.js';
import { Sandbox, claudeEvent, startHook } from './support.js';

let sandbox;
afterEach(() => sandbox?.remove());

/** The deadline's warning, as the person sees it. */
const DEADLINE_WARNING = 'session-lock: no answer within 1s; allowing without the lock';

/** What each agent is shown when the hook could not decide (`warning`): its own form. */
function agentsForm(agent, warning) {
  if (agent === 'cursor') return { permission: 'allow', user_message: warning };
  return { systemMessage: warning };
}

/** Runs `host`'s hook with `--agent agent` and stdin left open until the process ends. */
async function neverClosingStdin(host, agent) {
  const started = performance.now();
  const { child, done } = startHook(host, { lockDir: sandbox.lockDir, args: ['--agent', agent] });
  const output = await done;
  child.stdin.destroy();
  return { ...output, took: performance.now() - started };
}

for (const agent of ['claude', 'codex', 'gemini', 'cursor']) {
  test(`the deadline answers ${agent} in its own form, with the warning, as the Rust host does`, async () => {
    sandbox = new Sandbox();
    const [node, rust] = await Promise.all([neverClosingStdin('node', agent), neverClosingStdin('rust', agent)]);
    assert.ok(node.took < 3000, `took ${node.took}ms`);
    assert.equal(node.status, 0);
    assert.deepEqual(JSON.parse(node.stdout), agentsForm(agent, DEADLINE_WARNING));
    assert.equal(node.stderr, `${DEADLINE_WARNING}\n`);
    assert.deepEqual({ ...node, took: 0 }, { ...rust, took: 0 }, 'the same answer from both hosts');
    assert.equal(sandbox.record(), undefined);
  });
}

test('an event over 16 MiB is answered with the visible warning, as the Rust host does', async () => {
  sandbox = new Sandbox();
  const warning = 'session-lock: hook event is larger than 16777216 bytes; allowing without the lock';
  const event = claudeEvent('PreToolUse', 'A', 'Write', sandbox.workspace);
  event.tool_input.content = 'a'.repeat(17 << 20);
  const text = JSON.stringify(event);
  for (const agent of ['claude', 'cursor']) {
    const answers = {};
    for (const host of ['node', 'rust']) {
      const { child, done } = startHook(host, { lockDir: sandbox.lockDir, args: ['--agent', agent] });
      // The hook stops reading past 16 MiB: the rest of the write may fail.
      child.stdin.on('error', () => {});
      child.stdin.end(text);
      answers[host] = await done;
    }
    assert.equal(answers.node.status, 0);
    assert.deepEqual(JSON.parse(answers.node.stdout), agentsForm(agent, warning));
    assert.equal(answers.node.stderr, `${warning}\n`);
    assert.deepEqual(answers.node, answers.rust, `${agent}: the same answer from both hosts`);
  }
  assert.equal(sandbox.record(), undefined);
  // Each host logged each fail-open, in the component's words.
  const why = 'hook event is larger than 16777216 bytes';
  assert.deepEqual(
    sandbox.decisions().map(({ decision, agent, why: reason, message }) => ({ decision, agent, why: reason, message })),
    ['claude', 'claude', 'cursor', 'cursor'].map((agent) => ({
      decision: 'fail-open',
      agent,
      why,
      message: `a session (${agent}) was let through without the lock: ${why}`,
    })),
  );
});

test('a trap of the component is answered by a fresh instance in the agent\'s form, with the warning', async () => {
  sandbox = new Sandbox();
  // A Codex PreToolUse of `apply_patch`: a guarded call, which reads the store.
  const event = Buffer.from(
    JSON.stringify({ session_id: 'A', hook_event_name: 'PreToolUse', tool_name: 'apply_patch', cwd: sandbox.workspace }),
  );
  // The first instance's store throws a plain Error, which jco does not turn into the import's
  // `err`: it unwinds through the component, as a trap does. Every later instance is sound.
  let loads = 0;
  const load = (dir) => {
    loads += 1;
    if (loads > 1) return loadOnThisMachine(dir);
    const blowUp = () => {
      throw new Error('the store blew up');
    };
    return loadPolicy({ read: blowUp, compareAndSwap: blowUp, keys: blowUp });
  };
  const prepared = [];
  const previous = process.env.SESSION_LOCK_DIR;
  process.env.SESSION_LOCK_DIR = sandbox.lockDir;
  let answer;
  try {
    answer = await hookAnswer(['--agent', 'codex'], Readable.from([event]), {
      load,
      prepareDeadline: (response) => prepared.push(response),
    });
  } finally {
    if (previous === undefined) delete process.env.SESSION_LOCK_DIR;
    else process.env.SESSION_LOCK_DIR = previous;
  }
  const warning = 'session-lock: policy component failed: the store blew up; allowing without the lock';
  assert.equal(loads, 2, 'a fresh instance answered');
  assert.equal(answer.exitCode, 0);
  assert.deepEqual(JSON.parse(answer.stdout), agentsForm('codex', warning));
  assert.equal(answer.stderr, `${warning}\n`);
  assert.deepEqual(
    prepared.map((response) => JSON.parse(response.stdout)),
    [agentsForm('codex', DEADLINE_WARNING)],
    'the deadline was given its answer in the agent\'s form before the event was read',
  );
  assert.equal(sandbox.record(), undefined);
  assert.deepEqual(
    sandbox.decisions().map(({ decision, why }) => ({ decision, why })),
    [{ decision: 'fail-open', why: 'policy component failed: the store blew up' }],
    'the trap is in the decision log',
  );
});
