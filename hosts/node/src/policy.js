// The policy component, transpiled by jco into `generated/` (see scripts/generate.js), loaded
// with a lock store of the caller's choosing.

import fs from 'node:fs';

/** Where `npm run generate` puts the transpiled component. */
export const GENERATED_DIR = new URL('../generated/', import.meta.url);

/** Compiled core modules, shared by every instance in this process. */
const modules = new Map();

function coreModule(name) {
  let module = modules.get(name);
  if (!module) {
    module = new WebAssembly.Module(fs.readFileSync(new URL(name, GENERATED_DIR)));
    modules.set(name, module);
  }
  return module;
}

/**
 * Instantiates the component over `store`, an object with the `lock-store` functions `read(key)`
 * and `compareAndSwap(key, expected, replacement)`. Fails when the bindings were not generated.
 */
export async function loadPolicy(store) {
  let bindings;
  try {
    bindings = await import(new URL('policy.js', GENERATED_DIR).href);
  } catch (error) {
    throw new Error(
      `the transpiled component is missing (run \`npm run generate\` in hosts/node): ${error.message}`,
    );
  }
  const imports = {
    'session-lock:policy/lock-store': {
      read: (key) => store.read(key),
      compareAndSwap: (key, expected, replacement) => store.compareAndSwap(key, expected, replacement),
    },
  };
  const { hook, policy } = bindings.instantiate(coreModule, imports);
  return new Policy(hook, policy);
}

/** The component's exports, with plain numbers where the WIT says u64. */
export class Policy {
  constructor(hook, policy) {
    this.hook = hook;
    this.policy = policy;
  }

  /**
   * `hook.handle`: one event (bytes) and the host's context in, `{stdout, stderr, exitCode}`
   * out. `context` has `workspace`, `pid`, `nowMs`, `ttlMs`, `agent` (optional: `claude-code`,
   * `codex`, `gemini`, `cursor`) and `mode` (`enforce` or `observe`).
   */
  handle(event, context) {
    return this.hook.handle(event, {
      workspace: context.workspace,
      pid: context.pid,
      nowMs: BigInt(context.nowMs),
      ttlMs: BigInt(context.ttlMs),
      agent: context.agent ?? undefined,
      mode: context.mode,
    });
  }

  /** `hook.workspace-dir`: which directory names the event's workspace, before resolution. */
  workspaceDir(event, projectDir, processCwd) {
    return this.hook.workspaceDir(event, projectDir ?? undefined, processCwd);
  }

  /** `policy.workspace-hash`: the lock key of a resolved workspace path. */
  workspaceHash(workspace) {
    return this.policy.workspaceHash(workspace);
  }
}
