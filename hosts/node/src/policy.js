// The policy component, transpiled by jco into `generated/` (see scripts/generate.js), loaded
// over a lock store and a view of the machine's processes of the caller's choosing.

import fs from 'node:fs';

import { NO_LOG } from './decision-log.js';
import { LocalProcesses } from './processes.js';

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
 * Instantiates the component over `store`, an object with the `lock-store` functions
 * `read(key)`, `compareAndSwap(key, expected, replacement)` and `keys()`, and `processes`, an
 * object with the `processes` function `status(pid)` (this machine's `/proc` by default), and
 * `decisionLog`, an object with the `decision-log` function `append(entry)` (by default the
 * lines are dropped).
 * Fails when the bindings were not generated.
 */
export async function loadPolicy(store, processes = new LocalProcesses(), decisionLog = NO_LOG) {
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
      keys: () => store.keys(),
    },
    'session-lock:policy/processes': {
      status: (pid) => processes.status(pid),
      // A view of processes without it cannot tell.
      isAncestor: (pid) => processes.isAncestor?.(pid),
    },
    'session-lock:policy/decision-log': {
      append: (entry) => decisionLog.append(entry),
    },
  };
  const { hook, policy, setup } = bindings.instantiate(coreModule, imports);
  return new Policy(hook, policy, setup);
}

/**
 * An error the component returned (the `err` of a `result`), as opposed to a trap: jco throws
 * both, and only the first carries a `payload`.
 */
export function componentError(error) {
  return Object.prototype.hasOwnProperty.call(error ?? {}, 'payload') ? error.payload : undefined;
}

/** The component's exports, with plain numbers where the WIT says u64. */
export class Policy {
  constructor(hook, policy, setup) {
    this.hook = hook;
    this.policy = policy;
    this.setup = setup;
  }

  /**
   * `hook.agent-named`: the agent a person names (`claude`, `codex`, `gemini`, `cursor`). Throws
   * an Error whose `payload` is the component's one line (it lists the names) for any other.
   */
  agentNamed(name) {
    return this.hook.agentNamed(name);
  }

  /** `hook.environment-variables`: the variables the component reads. */
  environmentVariables() {
    return this.hook.environmentVariables();
  }

  /**
   * `hook.targets`: the absolute paths to resolve for `event` (bytes), given the `invocation`
   * (`{agent, environment, processCwd, parentPid}`).
   */
  targets(event, invocation) {
    return this.hook.targets(event, invocation);
  }

  /**
   * `hook.handle`: one event (bytes) and `{invocation, resolved, nowMs, waitedMs}` in (times as
   * numbers; `waitedMs` 0 when omitted), `{stdout, stderr, exitCode, retryAfterMs}` out
   * (`retryAfterMs` a number, or undefined when the answer is final).
   */
  handle(event, context) {
    const response = this.hook.handle(event, {
      ...context,
      nowMs: BigInt(context.nowMs),
      waitedMs: BigInt(context.waitedMs ?? 0),
    });
    const retry = response.retryAfterMs;
    return { ...response, retryAfterMs: retry === undefined ? undefined : Number(retry) };
  }

  /**
   * One event as a host runs it, once: `targets`, each resolved with `resolve(path)` (a
   * `resolved-path`, or undefined), then `handle` at `nowMs`, having waited `waitedMs`.
   */
  answer(event, invocation, resolve, nowMs, waitedMs = 0) {
    const resolved = this.targets(event, invocation).map((target) => resolve(target));
    return this.handle(event, { invocation, resolved, nowMs, waitedMs });
  }

  /**
   * `hook.fault-answer`: the answer for an event that could not be decided (`reason`, for
   * people: `no answer within 1s`), in `agent`'s form (Claude Code's when undefined), with the
   * warning the person sees; `{stdout, stderr, exitCode}`.
   */
  faultAnswer(agent, reason) {
    return this.hook.faultAnswer(agent, reason);
  }

  /**
   * `hook.fault-entry`: the decision-log line of a `faultAnswer` the host gave at `nowMs` after
   * a trap or an event it could not read (never the deadline's).
   */
  faultEntry(agent, reason, nowMs) {
    return this.hook.faultEntry(agent, reason, nowMs);
  }

  /** `hook.explain`: `{readOnly, why}` for a shell command line. */
  explain(command) {
    return this.hook.explain(command);
  }

  /** `policy.workspace-hash`: the lock key of a resolved workspace path. */
  workspaceHash(workspace) {
    return this.policy.workspaceHash(workspace);
  }
}
