// The `processes` import on Linux's `/proc`, as the Rust host reads it
// (`host/src/processes.rs`): the facts that prove a lock's holder gone. Anywhere `/proc` says
// nothing, the answer is `unknown`, and locks free by their ttl only. Never throws: the import
// returns a variant, so a thrown error would be a trap in the component.

import fs from 'node:fs';

/** The machine's boot and this process's pid namespace: where pids are counted, or null. */
function place() {
  try {
    const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidNamespace = fs.readlinkSync('/proc/self/ns/pid');
    return { bootId, pidNamespace };
  } catch {
    return null;
  }
}

/**
 * When process `pid` started (field 22 of `/proc/<pid>/stat`, in clock ticks since boot), as a
 * bigint; `null` when no such process runs (a zombie has ended: only its parent has not looked
 * yet). Throws when `/proc` cannot tell.
 */
function startTime(pid) {
  let stat;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch (error) {
    if (error.code === 'ENOENT') return null;
    throw error;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself:
  // the fields after it start after the last `)`.
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('no command name in /proc/<pid>/stat');
  const fields = stat.slice(close + 1).split(/\s+/).filter((field) => field !== '');
  // fields[0] is field 3 (the state), so field 22 is fields[19].
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  const text = fields[19];
  if (text === undefined || !/^\+?[0-9]+$/.test(text) || BigInt(text) >= 2n ** 64n) {
    throw new Error('no start time in /proc/<pid>/stat');
  }
  return BigInt(text);
}

/** This machine's processes, as `/proc` shows them: the component's `processes` import. */
export class LocalProcesses {
  /**
   * `processes.status`: `{tag: 'running', val: identity}`, `{tag: 'gone', val: identity}`
   * (start time 0) or `{tag: 'unknown'}`.
   */
  status(pid) {
    const where = place();
    if (where === null || pid === 0) return { tag: 'unknown' };
    let start;
    try {
      start = startTime(pid);
    } catch {
      return { tag: 'unknown' };
    }
    if (start === null) return { tag: 'gone', val: { ...where, startTime: 0n } };
    return { tag: 'running', val: { ...where, startTime: start } };
  }

  /**
   * `processes.is-ancestor`: whether `pid` is an ancestor of this process, by the parents
   * `/proc/<pid>/stat` names (field 4); undefined (`none`) when `/proc` cannot tell.
   */
  isAncestor(pid) {
    let current = process.pid;
    for (let generation = 0; generation < 256; generation += 1) {
      let stat;
      try {
        stat = fs.readFileSync(`/proc/${current}/stat`, 'latin1');
      } catch {
        return undefined;
      }
      const close = stat.lastIndexOf(')');
      const parent = close < 0 ? NaN : Number(stat.slice(close + 1).split(/\s+/).filter((f) => f !== '')[1]);
      if (!Number.isSafeInteger(parent)) return undefined;
      if (parent === pid) return true;
      if (parent === 0) return false;
      current = parent;
    }
    return undefined;
  }
}
