#!/usr/bin/env node
// `node hosts/node/hook.js [--agent claude|codex|gemini|cursor]`: the Node.js host of the
// policy component, a drop-in for `session-lock hook`. A thin I/O shell, as the Rust host is
// (`host/src/hook.rs`): it reads one agent hook event from stdin, passes the component the
// variables it names (`hook.environment-variables`), its working directory and its parent pid,
// resolves on this filesystem the paths the component names (`hook.targets`), and prints the
// component's answer (`hook.handle`) to stdout, stderr and the exit code. The component
// interprets the environment; the host reads only SESSION_LOCK_DIR, where its lock files live
// (the Rust host's format). Every fault of this host fails open: exit 0, nothing on stdout, one
// `session-lock:` line on stderr.

import fs from 'node:fs';

import { DecisionLogFile } from './src/decision-log.js';
import { FsLockStore } from './src/fs-store.js';
import { componentError, loadPolicy } from './src/policy.js';
import { LocalProcesses } from './src/processes.js';
import { environment, lockDir } from './src/settings.js';
import { resolvePath } from './src/workspace.js';

/** Events larger than this are not read whole (Claude Code's `Write` events carry the file). */
export const MAX_EVENT_BYTES = 16 << 20;

/**
 * Whatever happens while waiting (stdin never closing, a slow load), the hook answers within
 * this time, plus however long it slept because the component asked it to wait for the lock.
 * The component call itself is synchronous and cannot be cut short.
 */
export const DEADLINE_MS = 1000;

/**
 * The longest the hook sleeps for a lock, whatever the component asks: a safety net only (the
 * component's own limit is far below it).
 */
export const MAX_WAIT_MS = 900_000;

/** One line for stderr: control characters (a newline in an OS message) become spaces. */
function oneLine(text) {
  return String(text).replace(/[\u0000-\u001f\u007f]/g, ' ');
}

function write(fd, text) {
  if (text) fs.writeSync(fd, text);
}

/**
 * The name `--agent` gives (`--agent NAME` or `--agent=NAME`), as `session-lock hook` takes
 * it; which names are agents is the component's to say (`hook.agent-named`).
 */
function parseAgentName(args) {
  let name;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s);
    if (flag !== '--agent') throw new Error(`unexpected argument ${JSON.stringify(args[i])}`);
    name = inline ?? args[++i];
    if (name === undefined) throw new Error('--agent needs a name');
  }
  return name;
}

/** `f()`, with a trap of the component turned into one line naming it. */
function call(f) {
  try {
    return f();
  } catch (error) {
    throw new Error(`policy component failed: ${error.message}`);
  }
}

/** Reads the whole event, refusing one larger than MAX_EVENT_BYTES. */
async function readEvent(stream) {
  const chunks = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      total += chunk.length;
      if (total > MAX_EVENT_BYTES) {
        stream.destroy();
        throw new Error(`hook event is larger than ${MAX_EVENT_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (total > MAX_EVENT_BYTES) throw error;
    throw new Error(`cannot read the hook event from stdin: ${error.message}`);
  }
  return Buffer.concat(chunks);
}

/** Reads the event, gathers what only the host can know and asks the component. */
async function respond(args) {
  const agentName = parseAgentName(args);
  const event = await readEvent(process.stdin);
  const dir = lockDir();
  let policy;
  try {
    policy = await loadPolicy(new FsLockStore(dir), new LocalProcesses(), new DecisionLogFile(dir));
  } catch (error) {
    throw new Error(`cannot load the policy component: ${error.message}`);
  }
  let agent;
  if (agentName !== undefined) {
    try {
      agent = policy.agentNamed(agentName);
    } catch (error) {
      const why = componentError(error);
      if (typeof why === 'string') throw new Error(why);
      throw new Error(`policy component failed: ${error.message}`);
    }
  }
  const names = call(() => policy.environmentVariables());
  const invocation = {
    agent,
    environment: environment(names),
    processCwd: processCwd(),
    parentPid: process.ppid,
  };
  const resolved = call(() => policy.targets(event, invocation)).map((target) => resolvePath(target));
  const context = { invocation, resolved, nowMs: Date.now(), waitedMs: 0 };
  for (;;) {
    const response = call(() => policy.handle(event, context));
    const pause = response.retryAfterMs;
    if (pause === undefined) return response;
    // The session waits for the lock (`SESSION_LOCK_WAIT_MS`): sleep, then ask again.
    if (context.waitedMs + pause > MAX_WAIT_MS) {
      throw new Error(`the policy asked to wait longer than ${MAX_WAIT_MS / 1000}s`);
    }
    extendDeadline(pause);
    await new Promise((resolve) => setTimeout(resolve, pause));
    context.waitedMs += pause;
    context.nowMs = Date.now();
  }
}

/** The process's working directory (empty when it is gone). */
function processCwd() {
  try {
    return process.cwd();
  } catch {
    return '';
  }
}

let answered = false;

/** Claims the right to answer: only the first of the hook and the deadline gets it. */
function claimAnswer() {
  const first = !answered;
  answered = true;
  return first;
}

const started = performance.now();
let due = DEADLINE_MS;
let deadline;

/** Answers for the hook once the deadline has passed, if it has not answered yet. */
function armDeadline() {
  clearTimeout(deadline);
  deadline = setTimeout(() => {
    if (!claimAnswer()) return;
    write(2, `session-lock: no answer within ${DEADLINE_MS / 1000}s; allowing without the lock\n`);
    process.exit(0);
  }, Math.max(0, due - (performance.now() - started)));
}

/** Moves the deadline by `ms` the hook is about to sleep waiting for the lock. */
function extendDeadline(ms) {
  due += ms;
  armDeadline();
}

armDeadline();

let response;
try {
  response = await respond(process.argv.slice(2));
} catch (error) {
  response = {
    stdout: '',
    stderr: `session-lock: ${oneLine(error.message)}; allowing without the lock\n`,
    exitCode: 0,
  };
}
clearTimeout(deadline);
if (claimAnswer()) {
  let exitCode = response.exitCode;
  try {
    write(1, response.stdout);
  } catch {
    response.stderr += 'session-lock: cannot write the answer to stdout\n';
    exitCode = 0;
  }
  try {
    write(2, response.stderr);
  } catch {
    // Nowhere left to say it.
  }
  process.exit(exitCode);
}
