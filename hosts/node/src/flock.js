// Exclusive `flock(2)` for Node.js, which has none of its own: libc's `flock` called through
// koffi (prebuilt for each platform, no compiler needed). It is the very call the Rust host
// makes (`std::fs::File::try_lock` is `flock(fd, LOCK_EX | LOCK_NB)` on Linux and macOS), so
// both hosts exclude each other on the same mutex file.

import { createRequire } from 'node:module';
import os from 'node:os';

/** `flock` operations, equal on Linux and macOS. */
const LOCK_EX = 2;
const LOCK_NB = 4;

const { EWOULDBLOCK, EAGAIN, EINTR } = os.constants.errno;

let libc;

/**
 * libc's `flock`, loaded on first use: koffi takes ~20 ms to load, and an event that swaps
 * nothing (a refusal, a read-only tool) never needs it. `require` loads it synchronously, as
 * the component's synchronous store calls need.
 */
function load() {
  if (!libc) {
    const koffi = createRequire(import.meta.url)('koffi');
    const name = process.platform === 'darwin' ? 'libSystem.B.dylib' : 'libc.so.6';
    libc = { flock: koffi.load(name).func('int flock(int fd, int operation)'), errno: koffi.errno };
  }
  return libc;
}

/**
 * Tries once to take an exclusive `flock` on `fd` without waiting: `true` when taken, `false`
 * when another open file description holds it. Throws an `Error` whose `code` is the errno name
 * for any other failure. Closing `fd` releases the lock.
 */
export function tryLockExclusive(fd) {
  const { flock, errno } = load();
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
    const code = errno();
    if (code === EWOULDBLOCK || code === EAGAIN) return false;
    if (code === EINTR) continue;
    const name = Object.keys(os.constants.errno).find((k) => os.constants.errno[k] === code);
    const error = new Error(`flock failed: ${name ?? `errno ${code}`}`);
    error.code = name;
    throw error;
  }
}
