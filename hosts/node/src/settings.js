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

/**
 * Throws, with one line, when the environment asks for what only the Rust host has: a lock store
 * other than files (`SESSION_LOCK_STORE=etcd`, or the Claude Code plugin's `etcd_endpoints`
 * option) or checkouts named by id (`SESSION_LOCK_IDENTITY=checkout`). Used silently, the files
 * of this machine would not exclude the sessions of another, and one checkout seen at two paths
 * would have two locks. A value neither host knows is refused in the Rust host's words.
 */
export function checkSupported(env = process.env) {
  const store = env.SESSION_LOCK_STORE ?? '';
  const pluginEtcd = store === '' && !!env.CLAUDE_PLUGIN_OPTION_ETCD_ENDPOINTS && env.SESSION_LOCK_ETCD_ENDPOINTS === undefined;
  if (store === 'etcd' || pluginEtcd) {
    throw new Error('the Node.js host has no etcd store (SESSION_LOCK_STORE=etcd): use `session-lock hook`');
  }
  if (store !== '' && store !== 'files') {
    throw new Error(`SESSION_LOCK_STORE=${JSON.stringify(store)} is not a lock store (files or etcd)`);
  }
  const identity = env.SESSION_LOCK_IDENTITY ?? '';
  if (identity === 'checkout') {
    throw new Error('the Node.js host names checkouts by path only (SESSION_LOCK_IDENTITY=checkout): use `session-lock hook`');
  }
  if (identity !== '' && identity !== 'path') {
    throw new Error(`SESSION_LOCK_IDENTITY=${JSON.stringify(identity)} is not a way to name checkouts (path or checkout)`);
  }
}
