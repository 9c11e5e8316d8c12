// What the environment says, read as the Rust host reads it (`host/src/settings.rs`): where
// locks live, their ttl, whose pid to record, the mode, the agent's project directory.

import os from 'node:os';
import path from 'node:path';

/** The ttl of records written when `SESSION_LOCK_TTL_MS` is not set: 5 minutes. */
export const DEFAULT_TTL_MS = 300_000;

const U64_MAX = 2n ** 64n - 1n;
const U32_MAX = 2n ** 32n - 1n;

/** A whole number as Rust's `str::parse::<uN>()` reads it (an optional `+`, digits), or null. */
function parseUnsigned(text, max) {
  if (!/^\+?[0-9]+$/.test(text)) return null;
  const value = BigInt(text);
  return value <= max ? value : null;
}

/**
 * The settings of one run: `{lockDir, ttlMs, mode, warnings}`. `warnings` are lines for stderr
 * about variables that were set but not understood (their defaults apply, so a typo never
 * disables the lock). Throws when no lock directory can be named.
 */
export function readSettings(env = process.env) {
  const warnings = [];
  let lockDir = env.SESSION_LOCK_DIR;
  if (!lockDir) {
    const home = env.HOME || os.homedir();
    if (!home) throw new Error('no SESSION_LOCK_DIR and no home directory to put locks in');
    lockDir = path.join(home, '.claude', 'runtime');
  }
  let ttlMs = DEFAULT_TTL_MS;
  if (env.SESSION_LOCK_TTL_MS !== undefined) {
    const text = env.SESSION_LOCK_TTL_MS;
    const value = parseUnsigned(text.trim(), U64_MAX);
    if (value === null) {
      warnings.push(
        `session-lock: SESSION_LOCK_TTL_MS=${JSON.stringify(text)} is not a whole number of ` +
          `milliseconds; using ${DEFAULT_TTL_MS}`,
      );
    } else {
      ttlMs = value;
    }
  }
  let mode = 'enforce';
  const modeText = env.SESSION_LOCK_MODE;
  if (modeText === 'observe') {
    mode = 'observe';
  } else if (modeText !== undefined && modeText !== '' && modeText !== 'enforce') {
    warnings.push(
      `session-lock: SESSION_LOCK_MODE=${JSON.stringify(modeText)} is neither enforce nor ` +
        'observe; enforcing',
    );
  }
  return { lockDir, ttlMs, mode, warnings };
}

/**
 * The pid recorded in the lock: `CLAUDE_PID` (the agent's own process) if set, else this
 * process's parent (the agent, or the shell it started the hook through).
 */
export function sessionPid(env = process.env) {
  const pid = env.CLAUDE_PID === undefined ? null : parseUnsigned(env.CLAUDE_PID.trim(), U32_MAX);
  return pid === null ? process.ppid : Number(pid);
}

/** The agent's project directory, if it says: `CLAUDE_PROJECT_DIR`. */
export function projectDir(env = process.env) {
  return env.CLAUDE_PROJECT_DIR || undefined;
}
