#!/usr/bin/env node
// `node hosts/node/hook.js [--agent claude|codex|gemini|cursor]`: the Node.js host of the
// policy component, a drop-in for `session-lock hook`. One agent hook event on stdin through the
// component; its answer to stdout, stderr and the exit code. The same environment variables
// (SESSION_LOCK_DIR, SESSION_LOCK_TTL_MS, SESSION_LOCK_MODE, CLAUDE_PID, CLAUDE_PROJECT_DIR),
// the same workspace resolution and the same lock files as the Rust host. Every fault of this
// host fails open: exit 0, nothing on stdout, one `session-lock:` line on stderr.

import fs from 'node:fs';

import { FsLockStore } from './src/fs-store.js';
import { loadPolicy } from './src/policy.js';
import { projectDir, readSettings, sessionPid } from './src/settings.js';
import { resolveWorkspace } from './src/workspace.js';

/** Events larger than this are not read whole (Claude Code's `Write` events carry the file). */
export const MAX_EVENT_BYTES = 16 << 20;

/**
 * Whatever happens while waiting (stdin never closing, a slow load), the hook answers within
 * this time. The component call itself is synchronous and cannot be cut short.
 */
export const DEADLINE_MS = 1000;

const AGENTS = { claude: 'claude-code', codex: 'codex', gemini: 'gemini', cursor: 'cursor' };

/** One line for stderr: control characters (a newline in an OS message) become spaces. */
function oneLine(text) {
  return String(text).replace(/[\u0000-\u001f\u007f]/g, ' ');
}

function write(fd, text) {
  if (text) fs.writeSync(fd, text);
}

/** The `--agent` option, as `session-lock hook` takes it. */
function parseAgent(args) {
  let agent;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s);
    if (flag !== '--agent') throw new Error(`unexpected argument ${JSON.stringify(args[i])}`);
    const name = inline ?? args[++i];
    agent = AGENTS[name];
    if (!agent) {
      throw new Error(`--agent takes one of ${Object.keys(AGENTS).join(', ')}, not ${JSON.stringify(name)}`);
    }
  }
  return agent;
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

/** Reads the event, gathers the context and asks the component. */
async function respond(args) {
  const agent = parseAgent(args);
  const event = await readEvent(process.stdin);
  const settings = readSettings();
  let policy;
  try {
    policy = await loadPolicy(new FsLockStore(settings.lockDir));
  } catch (error) {
    throw new Error(`cannot load the policy component: ${error.message}`);
  }
  let processCwd = '';
  try {
    processCwd = process.cwd();
  } catch {
    // A deleted working directory: the event or the project directory must name one.
  }
  let dir;
  try {
    dir = policy.workspaceDir(event, projectDir(), processCwd);
  } catch (error) {
    throw new Error(`policy component failed: ${error.message}`);
  }
  const workspace = resolveWorkspace(dir);
  let response;
  try {
    response = policy.handle(event, {
      workspace,
      pid: sessionPid(),
      nowMs: Date.now(),
      ttlMs: settings.ttlMs,
      agent,
      mode: settings.mode,
    });
  } catch (error) {
    throw new Error(`policy component failed: ${error.message}`);
  }
  const warnings = settings.warnings.map((w) => `${w}\n`).join('');
  return { ...response, stderr: warnings + response.stderr };
}

let answered = false;

/** Claims the right to answer: only the first of the hook and the deadline gets it. */
function claimAnswer() {
  const first = !answered;
  answered = true;
  return first;
}

const deadline = setTimeout(() => {
  if (!claimAnswer()) return;
  write(2, `session-lock: no answer within ${DEADLINE_MS / 1000}s; allowing without the lock\n`);
  process.exit(0);
}, DEADLINE_MS);

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
