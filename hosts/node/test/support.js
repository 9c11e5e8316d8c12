// Shared by the Node host's tests: the conformance files, sandboxes, and running either host's
// hook command as an agent would.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HOST_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(HOST_DIR, '../..');
export const NODE_HOOK = path.join(HOST_DIR, 'hook.js');

/** The conformance suite: `[{file, suite}]`, sorted by file name. */
export function conformanceSuite() {
  const dir = path.join(REPO_ROOT, 'tests', 'conformance');
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((file) => ({ file, suite: JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) }));
}

let rustBinary;

/**
 * The Rust host's binary: `$SESSION_LOCK_BIN`, else `<cargo target dir>/debug/session-lock`
 * (built by `npm test`'s generate step, which runs it through cargo).
 */
export function rustHook() {
  if (rustBinary) return rustBinary;
  let binary = process.env.SESSION_LOCK_BIN;
  if (!binary) {
    const metadata = execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    binary = path.join(JSON.parse(metadata).target_directory, 'debug', 'session-lock');
  }
  if (!fs.existsSync(binary)) {
    throw new Error(`no Rust host at ${binary}: build it with \`cargo build -p session-lock\``);
  }
  rustBinary = binary;
  return binary;
}

/** A temporary git workspace and a lock directory (not created in advance). */
export class Sandbox {
  constructor() {
    this.root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'session-lock-node-')));
    this.workspace = path.join(this.root, 'repo');
    fs.mkdirSync(path.join(this.workspace, '.git'), { recursive: true });
    // A work tree is a `.git` directory holding `HEAD`, as `git init` makes it.
    fs.writeFileSync(path.join(this.workspace, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    this.lockDir = path.join(this.root, 'locks');
  }

  /** The lock record files in the lock directory, parsed. */
  records() {
    if (!fs.existsSync(this.lockDir)) return [];
    return fs
      .readdirSync(this.lockDir)
      .filter((name) => /^session-lock-[0-9a-f]{12}\.json$/.test(name))
      .map((name) => JSON.parse(fs.readFileSync(path.join(this.lockDir, name), 'utf8')));
  }

  /** The decision log's lines, parsed, oldest first. */
  decisions() {
    const log = path.join(this.lockDir, 'session-lock-decisions.jsonl');
    if (!fs.existsSync(log)) return [];
    return fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line));
  }

  /** The one lock record, or undefined. */
  record() {
    const records = this.records();
    if (records.length > 1) throw new Error(`one workspace, one lock file: ${records.length}`);
    return records[0];
  }

  remove() {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Variables of the calling environment that would change what a hook does. */
const AMBIENT = [
  'CLAUDE_PROJECT_DIR',
  'CLAUDE_PID',
  'GEMINI_PROJECT_DIR',
  'SESSION_LOCK_DIR',
  'SESSION_LOCK_TTL_MS',
  'SESSION_LOCK_MODE',
  'SESSION_LOCK_STORE',
  'SESSION_LOCK_IDENTITY',
  'SESSION_LOCK_ETCD_ENDPOINTS',
  'CLAUDE_PLUGIN_OPTION_ETCD_ENDPOINTS',
];

/** The command line of `host` ('node' or 'rust') running one hook event. */
export function hookCommand(host, args = []) {
  if (host === 'node') return [process.execPath, [NODE_HOOK, ...args]];
  if (host === 'rust') return [rustHook(), ['hook', ...args]];
  throw new Error(`unknown host ${host}`);
}

/**
 * Starts `host`'s hook with `env` over a clean environment pointing at `lockDir`; resolves to
 * `{status, stdout, stderr}` once `event` (a JSON value, or a string sent as it is) has been
 * fed and the process has exited. `feed: false` leaves stdin open and returns `{child, done}`.
 */
export function startHook(host, { lockDir, env = {}, args = [], cwd } = {}) {
  const [command, argv] = hookCommand(host, args);
  const childEnv = { ...process.env };
  for (const name of AMBIENT) delete childEnv[name];
  Object.assign(childEnv, { SESSION_LOCK_DIR: lockDir }, env);
  const child = spawn(command, argv, { env: childEnv, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout = [];
  const stderr = [];
  child.stdout.on('data', (chunk) => stdout.push(chunk));
  child.stderr.on('data', (chunk) => stderr.push(chunk));
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) =>
      resolve({
        status,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
  });
  return { child, done };
}

/** Writes `event` to a started hook's stdin and closes it. */
export function feed(child, event) {
  child.stdin.on('error', () => {});
  child.stdin.end(typeof event === 'string' ? event : JSON.stringify(event));
}

/** Runs `host`'s hook on `event`; resolves to `{status, stdout, stderr}`. */
export function runHook(host, event, options = {}) {
  const { child, done } = startHook(host, options);
  feed(child, event);
  return done;
}

/** A Claude Code hook event in `cwd` (a file tool writes `cwd/notes.md`; Bash runs `npm test`). */
export function claudeEvent(name, sessionId, tool, cwd) {
  const event = {
    session_id: sessionId,
    transcript_path: `/home/u/.claude/projects/p/${sessionId}.jsonl`,
    cwd,
    permission_mode: 'default',
    hook_event_name: name,
  };
  if (tool) {
    event.tool_name = tool;
    event.tool_input =
      tool === 'Bash'
        ? { command: 'npm test', description: 'Run tests' }
        : { file_path: path.join(cwd, 'notes.md'), content: 'hello' };
    event.tool_use_id = 'toolu_01ABC';
  }
  return event;
}

/**
 * The deny reason of a Claude Code answer, or undefined when it allows (exit 0 either way): an
 * empty answer, or one that only warns the person (`systemMessage`, as a fail-open answer does).
 */
export function denyReason(output) {
  if (output.status !== 0) throw new Error(`hook exit code ${output.status}: ${output.stderr}`);
  if (output.stdout === '') return undefined;
  const answer = JSON.parse(output.stdout);
  const specific = answer.hookSpecificOutput;
  if (specific?.permissionDecision === 'deny') return specific.permissionDecisionReason;
  const fields = Object.keys(answer).filter((field) => field !== 'systemMessage');
  if (fields.length > 0) throw new Error(`neither a deny nor an allow: ${output.stdout}`);
  return undefined;
}
