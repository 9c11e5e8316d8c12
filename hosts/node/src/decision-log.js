// The component's `decision-log` import, in the Rust host's format (`host/src/decision_log.rs`),
// so that both hosts can share one log: `<dir>/session-lock-decisions.jsonl`, mode 0600, each
// line (newline included, at most MAX_LINE_BYTES) appended in one `write(2)` on a descriptor
// opened with O_APPEND, so that concurrent hooks never tear or mix lines. Past MAX_LOG_BYTES the
// file is renamed to `session-lock-decisions.1.jsonl` under an exclusive `flock` on the full
// file (a writer that cannot take it leaves the rotation to the one that holds it). Nothing is
// opened until the component appends.

import fs from 'node:fs';
import path from 'node:path';

import { tryLockExclusive } from './flock.js';
import { Refusal, openLockDir, osError } from './lock-dir.js';

/** The most bytes of one line, newline included. */
export const MAX_LINE_BYTES = 4096;

/** The size past which the log is rotated. */
export const MAX_LOG_BYTES = 1 << 20;

/** The log's file name. */
const LOG_FILE = 'session-lock-decisions.jsonl';

/** The one older log kept by rotation. */
const ROTATED_FILE = 'session-lock-decisions.1.jsonl';

/** The decision log in one directory. */
export class DecisionLogFile {
  constructor(dir) {
    this.dir = dir;
  }

  get path() {
    return path.join(this.dir, LOG_FILE);
  }

  get rotatedPath() {
    return path.join(this.dir, ROTATED_FILE);
  }

  /**
   * Opens the log for appending (creating it 0600, never following a symlink) in the lock
   * directory, checked as the store checks it: a directory the hook refuses (another user's,
   * writable by others, relative) gets no log either.
   */
  open(dir) {
    const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    const fd = fs.openSync(dir.file(LOG_FILE), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) {
      fs.closeSync(fd);
      throw new Error(`${this.path} is not a regular file`);
    }
    return { fd, stat };
  }

  /** `decision-log.append`: one line in one write; throws a one-line string when it fails. */
  append(entry) {
    const bytes = Buffer.from(`${entry}\n`);
    if (bytes.length > MAX_LINE_BYTES || entry.includes('\n')) {
      throw `a decision line must be one line below ${MAX_LINE_BYTES} bytes`;
    }
    let dir;
    try {
      dir = openLockDir(this.dir, true);
    } catch (error) {
      throw error instanceof Refusal ? `not logging: ${error.message}` : `cannot open ${this.dir}: ${osError(error)}`;
    }
    try {
      let { fd, stat } = this.open(dir);
      if (stat.size >= MAX_LOG_BYTES && tryLockExclusive(fd)) {
        const now = fs.lstatSync(dir.file(LOG_FILE), { throwIfNoEntry: false });
        if (now && now.ino === stat.ino && now.dev === stat.dev) fs.renameSync(dir.file(LOG_FILE), dir.file(ROTATED_FILE));
        fs.closeSync(fd);
        ({ fd } = this.open(dir));
      }
      try {
        const written = fs.writeSync(fd, bytes);
        if (written !== bytes.length) throw new Error(`the decision log took ${written} of ${bytes.length} bytes`);
      } finally {
        fs.closeSync(fd);
      }
    } catch (error) {
      throw typeof error === 'string' ? error : osError(error);
    } finally {
      dir.close();
    }
  }
}

/** A log that keeps nothing. */
export const NO_LOG = { append() {} };
