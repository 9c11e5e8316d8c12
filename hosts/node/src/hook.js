// One hook event through the component, as the Rust host's `host/src/hook.rs` runs it: the
// component loaded first (so the deadline can answer in the agent's form from then on), then the
// event read, the paths it names resolved on this filesystem, and the answer asked for. A call
// the component could not decide (a trap, an event over MAX_EVENT_BYTES, stdin that cannot be
// read) is answered by a fresh instance's `hook.fault-answer`: in the agent's form, with the
// warning the person sees, and logged as a fail-open (`hook.fault-entry`). `hook.js` is the
// process around it (the deadline, the printing).

import { DecisionLogFile } from './decision-log.js';
import { FsLockStore } from './fs-store.js';
import { componentError, loadPolicy } from './policy.js';
import { LocalProcesses } from './processes.js';
import { checkSupported, environment, lockDir } from './settings.js';
import { UnusableStore } from './unusable-store.js';
import { resolvePath } from './workspace.js';

/** Events larger than this are not read whole (Claude Code's `Write` events carry the file). */
export const MAX_EVENT_BYTES = 16 << 20;

/**
 * Whatever happens while waiting (stdin never closing, a slow load), the hook answers within
 * this time, plus however long it slept because the component asked it to wait for the lock.
 * The component call itself is synchronous and cannot be cut short.
 */
export const DEADLINE_MS = 1000;

/** What the deadline answers for (the reason given to `hook.fault-answer`). */
export const DEADLINE_REASON = `no answer within ${DEADLINE_MS / 1000}s`;

/**
 * The longest the hook sleeps for a lock, whatever the component asks: a safety net only (the
 * component's own limit is far below it).
 */
export const MAX_WAIT_MS = 900_000;

/**
 * The component over this machine's lock directory `dir`, its processes and its decision log;
 * over a store failing with `unusable` instead when the environment names a store this host
 * cannot use.
 */
export function loadOnThisMachine(dir, unusable) {
  const store = unusable === undefined ? new FsLockStore(dir) : new UnusableStore(unusable);
  return loadPolicy(store, new LocalProcesses(), new DecisionLogFile(dir));
}

/** Why the environment names a store this host cannot use, or `undefined`. */
function unusableStore() {
  try {
    checkSupported();
    return undefined;
  } catch (error) {
    return error.message;
  }
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

/** The process's working directory (empty when it is gone). */
function processCwd() {
  try {
    return process.cwd();
  } catch {
    return '';
  }
}

/**
 * Answers the event on `stdin` for the command line `args`: `{stdout, stderr, exitCode}`.
 *
 * - `load(dir, unusable)`: the component over the lock directory `dir` (this machine's, by
 *   default), or over a store failing with `unusable` when that says why the environment names a
 *   store this host cannot use (so that the component fails open for it, visibly);
 * - `prepareDeadline(response)`: called once the component is loaded, with what the deadline
 *   must answer from then on (the agent's form, with the warning);
 * - `extendDeadline(ms)`: called before the hook sleeps `ms` waiting for the lock.
 *
 * Throws an Error of one line when even the component's answer for a fault cannot be had (bad
 * arguments, no lock directory, a component that does not load): the caller fails open with it.
 */
export async function hookAnswer(args, stdin, { load = loadOnThisMachine, prepareDeadline = () => {}, extendDeadline = () => {} } = {}) {
  const agentName = parseAgentName(args);
  const dir = lockDir();
  const unusable = unusableStore();
  let policy;
  try {
    policy = await load(dir, unusable);
  } catch (error) {
    throw new Error(`cannot load the policy component: ${error.message}`);
  }
  let agent;
  if (agentName !== undefined) {
    try {
      agent = policy.agentNamed(agentName);
    } catch (error) {
      const why = componentError(error);
      // A registration naming no agent (`--agent` misspelt in settings edited by hand): said
      // where the person sees it, as the Rust host does, not on stderr alone.
      if (typeof why === 'string') return undecided(() => load(dir, unusable), dir, undefined, why);
      throw new Error(`policy component failed: ${error.message}`);
    }
  }
  prepareDeadline(call(() => policy.faultAnswer(agent, DEADLINE_REASON)));
  try {
    const event = await readEvent(stdin);
    return await decide(policy, event, agent, extendDeadline);
  } catch (error) {
    return undecided(() => load(dir, unusable), dir, agent, error.message);
  }
}

/** The component's answer to `event`, asked again for as long as it says to wait. */
async function decide(policy, event, agent, extendDeadline) {
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

/**
 * The component's answer for a call it could not decide (`why`), from a fresh instance (the one
 * that failed may be in any state), and its fail-open in the decision log (`hook.fault-entry`);
 * throws `why` when even the answer cannot be had.
 */
async function undecided(load, dir, agent, why) {
  let fresh;
  let answer;
  try {
    fresh = await load();
    answer = fresh.faultAnswer(agent, why);
  } catch {
    throw new Error(why);
  }
  try {
    new DecisionLogFile(dir).append(fresh.faultEntry(agent, why, Date.now()));
  } catch {
    // As for the component's own lines: logging never changes the answer.
  }
  return answer;
}
