// The `lock-store` import on the real filesystem, in the format and with the atomicity of the
// Rust host's `host/src/fs_store.rs`, so that both hosts can share one lock directory:
//
// - the directory is used only when it is the user's own (`lock-dir.js`): each call opens it,
//   checked, and works inside what it opened; a refused directory fails every call with the
//   reason and a pointer to `session-lock doctor`;
// - lock `key` lives in `<dir>/session-lock-<key>.json` (the directory is created 0700);
// - a swap runs under an exclusive `flock` on `<dir>/session-lock-<key>.mutex` (0600, never
//   deleted), compares the record with the expected bytes, and publishes the replacement whole:
//   written to `<dir>/.session-lock-<key>.tmp` (0600) and renamed over the record;
// - whatever the writer finds at that temporary path is junk (left by a writer killed mid-write,
//   or planted: a FIFO, a directory, a symlink, a file with other modes); it removes it first,
//   never following a symlink, then creates the file afresh and exclusively, so junk there heals
//   at the next write;
// - readers take no lock: rename makes them see the old record or the new one;
// - the keys of the store are the names `session-lock-<12 hex>.json` in the directory;
// - no path is opened through a symlink (O_NOFOLLOW), a FIFO never blocks (O_NONBLOCK), a
//   record over 64 KiB is refused unread, and a replacement over 64 KiB is refused unwritten.
//
// Every call is synchronous: the component calls its imports synchronously.

import fs from 'node:fs';
import path from 'node:path';

import { tryLockExclusive } from './flock.js';
import { Refusal, openLockDir, osError, refusalLine } from './lock-dir.js';

/** Records larger than this are refused unread: a lock record is about 150 bytes. */
export const MAX_RECORD_BYTES = 64 * 1024;

/** How long a swap waits for another process's swap to finish before it gives up. */
export const MUTEX_WAIT_MS = 500;

const { O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/**
 * A `lock-store` failure: a `store-error`, `failed` (a fault) unless `kind` is `busy`
 * (contention: another writer held the mutex past the wait). The component's bindings turn a
 * thrown value with a `payload` into the `err` of the import's `result`, so the component
 * reports a fault and fails open, and answers contention with "retry"; any other thrown
 * `Error` would be a trap.
 */
export class StoreError extends Error {
  constructor(message, kind = 'failed') {
    super(message);
    this.payload = { tag: kind, val: message };
  }

  /** Whether the error is contention rather than a fault. */
  get busy() {
    return this.payload.tag === 'busy';
  }
}

function validKey(key) {
  if (typeof key === 'string' && /^[0-9a-fA-F]{12}$/.test(key)) return key;
  throw new StoreError(`refusing lock key ${JSON.stringify(key)}: not 12 hexadecimal characters`);
}

function sameBytes(a, b) {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** Sleeps the thread (the component waits synchronously). */
function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Reads the record `name` of the open directory `dir` without following a symlink, without
 * blocking on a FIFO, and without reading more than MAX_RECORD_BYTES. `undefined` when there is
 * none.
 */
function readRecord(dir, name) {
  const file = dir.shown(name);
  let fd;
  try {
    fd = fs.openSync(dir.file(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    if (error.code === 'ELOOP') throw new StoreError(`lock path ${file} is a symlink; not followed`);
    throw new StoreError(`cannot open ${file}: ${osError(error)}`);
  }
  try {
    let stat;
    try {
      stat = fs.fstatSync(fd);
    } catch (error) {
      throw new StoreError(`cannot stat ${file}: ${osError(error)}`);
    }
    if (!stat.isFile()) throw new StoreError(`lock path ${file} is not a regular file`);
    const tooLarge = `lock file ${file} is larger than ${MAX_RECORD_BYTES} bytes`;
    if (stat.size > MAX_RECORD_BYTES) throw new StoreError(tooLarge);
    // One byte more than the cap, to notice a file that grew since the stat.
    const buffer = Buffer.allocUnsafe(MAX_RECORD_BYTES + 1);
    let length = 0;
    try {
      for (;;) {
        const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
        if (n === 0) break;
        length += n;
        if (length === buffer.length) break;
      }
    } catch (error) {
      throw new StoreError(`cannot read ${file}: ${osError(error)}`);
    }
    if (length > MAX_RECORD_BYTES) throw new StoreError(tooLarge);
    return new Uint8Array(buffer.subarray(0, length));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes `bytes` to `temp` (under the mutex, so no other writer uses it) and renames it over
 * `name`, mode 0600, both in the open directory `dir`. Whatever sits at `temp` is removed first
 * (see `clear`); the file is then created exclusively, so a symlink or FIFO planted between the
 * two steps makes the write fail at once instead of being followed or blocking. (libuv opens
 * every file O_CLOEXEC.)
 */
function publish(dir, temp, name, bytes) {
  clear(dir, temp);
  try {
    const fd = fs.openSync(dir.file(temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o600);
    try {
      // The mode given to open is masked by the umask; the record must be exactly 0600.
      fs.fchmodSync(fd, 0o600);
      let written = 0;
      while (written < bytes.length) {
        written += fs.writeSync(fd, bytes, written, bytes.length - written);
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(dir.file(temp), dir.file(name));
  } catch (error) {
    throw new StoreError(`cannot write ${dir.shown(name)}: ${osError(error)}`);
  }
}

/**
 * Removes whatever is at `temp` in `dir` without following a symlink: a file, FIFO or symlink
 * is unlinked (a symlink's target is never touched), a directory removed with its contents,
 * the symlinks among them unlinked, not followed.
 */
function clear(dir, temp) {
  try {
    fs.rmSync(dir.file(temp), { recursive: true, force: true });
  } catch (error) {
    throw new StoreError(`cannot remove ${dir.shown(temp)}: ${osError(error)}`);
  }
}

function remove(dir, name) {
  try {
    fs.unlinkSync(dir.file(name));
  } catch (error) {
    if (error.code !== 'ENOENT') throw new StoreError(`cannot remove ${dir.shown(name)}: ${osError(error)}`);
  }
}

/**
 * Takes the exclusive `flock` on the mutex file `name` of `dir`, waiting at most
 * MUTEX_WAIT_MS; returns the fd, whose closing releases the lock (as does the kernel if the
 * process dies).
 */
function lockMutex(dir, name) {
  const file = dir.shown(name);
  let fd;
  try {
    fd = fs.openSync(dir.file(name), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (error) {
    throw new StoreError(`cannot open ${file}: ${osError(error)}`);
  }
  const started = performance.now();
  let pause = 0.05;
  try {
    for (;;) {
      if (tryLockExclusive(fd)) return fd;
      if (performance.now() - started >= MUTEX_WAIT_MS) {
        throw new StoreError(`${file} stayed locked for ${MUTEX_WAIT_MS}ms`, 'busy');
      }
      sleep(pause);
      pause = Math.min(pause * 2, 4);
    }
  } catch (error) {
    fs.closeSync(fd);
    if (error instanceof StoreError) throw error;
    throw new StoreError(`cannot lock ${file}: ${error.message}`);
  }
}

/**
 * Runs `f` on the lock directory `dirPath`, opened and checked (`openLockDir`), then closes it;
 * `f(undefined)` when it does not exist and `create` is false. A refused directory fails the call
 * with the Rust host's line, naming `session-lock doctor`.
 */
export function inLockDir(dirPath, create, f) {
  let dir;
  try {
    dir = openLockDir(dirPath, create);
  } catch (error) {
    if (error instanceof Refusal) throw new StoreError(refusalLine(error));
    throw new StoreError(`cannot open the lock directory ${dirPath}: ${osError(error)}`);
  }
  try {
    return f(dir);
  } finally {
    dir?.close();
  }
}

/** Lock records in one directory: the component's `lock-store` import. */
export class FsLockStore {
  /** A store in `dir` (created, mode 0700, on the first write). */
  constructor(dir) {
    this.dir = dir;
  }

  /** The record file of `key`; keys that are not 12 hex characters are refused. */
  recordPath(key) {
    return path.join(this.dir, `session-lock-${validKey(key)}.json`);
  }

  mutexPath(key) {
    return path.join(this.dir, `session-lock-${validKey(key)}.mutex`);
  }

  tempPath(key) {
    return path.join(this.dir, `.session-lock-${validKey(key)}.tmp`);
  }

  /** `lock-store.read`: the record of `key`, byte for byte, or `undefined`. */
  read(key) {
    const name = `session-lock-${validKey(key)}.json`;
    return inLockDir(this.dir, false, (dir) => dir && readRecord(dir, name));
  }

  /**
   * `lock-store.compare-and-swap`: replaces the record of `key` by `replacement` (`undefined`
   * deletes it) if it holds exactly `expected`, under the mutex. A replacement larger than
   * MAX_RECORD_BYTES is refused: it could never be read back.
   */
  compareAndSwap(key, expected, replacement) {
    const name = `session-lock-${validKey(key)}.json`;
    // A record the next read would refuse (an absurdly long session id) would wedge the lock:
    // nobody, its writer included, could read, release or take it over again.
    if (replacement !== undefined && replacement.length > MAX_RECORD_BYTES) {
      throw new StoreError(
        `refusing to write a lock record of ${replacement.length} bytes: reads stop at ${MAX_RECORD_BYTES}`,
      );
    }
    return inLockDir(this.dir, true, (dir) => {
      const mutex = lockMutex(dir, `session-lock-${key}.mutex`);
      try {
        const current = readRecord(dir, name);
        if (!sameBytes(current, expected)) return { tag: 'conflict', val: current };
        if (replacement !== undefined) publish(dir, `.session-lock-${key}.tmp`, name, replacement);
        else if (current !== undefined) remove(dir, name);
        return { tag: 'swapped' };
      } finally {
        fs.closeSync(mutex);
      }
    });
  }

  /**
   * `lock-store.keys`: the keys of every record in the directory (the names
   * `session-lock-<12 hex>.json`), in no particular order; none when the directory does not
   * exist.
   */
  keys() {
    return inLockDir(this.dir, false, (dir) => {
      if (dir === undefined) return [];
      let names;
      try {
        names = fs.readdirSync(dir.listed);
      } catch (error) {
        throw new StoreError(`cannot list ${this.dir}: ${osError(error)}`);
      }
      const keys = [];
      for (const name of names) {
        const match = /^session-lock-([0-9a-fA-F]{12})\.json$/.exec(name);
        if (match) keys.push(match[1]);
      }
      return keys;
    });
  }

  /** Creates the directory (0700, checked as every call checks it), as the first write would. */
  createDir() {
    inLockDir(this.dir, true, () => {});
  }
}
