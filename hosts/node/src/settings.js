// What the environment tells the host, read as the Rust host reads it (`host/src/settings.rs`):
// where lock records live, and the raw values of the variables the component reads. The
// component interprets those values (the ttl, the mode, each agent's own variables) and warns
// about the ones it does not understand; the host passes them on untouched.

import os from 'node:os';
import path from 'node:path';

/**
 * Where lock records live: `SESSION_LOCK_DIR`, else `~/.claude/runtime`. Throws only when no
 * directory can be named.
 */
export function lockDir(env = process.env) {
  if (env.SESSION_LOCK_DIR) return env.SESSION_LOCK_DIR;
  let home = env.HOME;
  if (home === undefined) {
    try {
      home = os.homedir();
    } catch {
      home = '';
    }
  }
  if (!home) throw new Error('no SESSION_LOCK_DIR and no home directory to put locks in');
  return path.join(home, '.claude', 'runtime');
}

/**
 * The variables of `names` that are set, as `[name, value]` pairs (`invocation.environment`).
 * A variable set to the empty string is set: the component decides what that means.
 */
export function environment(names, env = process.env) {
  return names.filter((name) => env[name] !== undefined).map((name) => [name, env[name]]);
}
