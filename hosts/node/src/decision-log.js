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

/** The most bytes of one line, newline included. */
export const MAX_LINE_BYTES = 4096;

/** The size past which the log is rotated. */
export const MAX_LOG_BYTES = 1 << 20;

/** The decision log in one directory. */
export class DecisionLogFile {
  constructor(dir) {
    this.dir = dir;
  }

  get path() {
    return path.join(this.dir, 'session-lock-decisions.jsonl');
  }

  get rotatedPath() {
    return path.join(this.dir, 'session-lock-decisions.1.jsonl');
  }

  /** Opens the log for appending (creating it 0600, never following a symlink). */
  open() {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
    const fd = fs.openSync(this.path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600);
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
    try {
      let { fd, stat } = this.open();
      if (stat.size >= MAX_LOG_BYTES && tryLockExclusive(fd)) {
        const now = fs.lstatSync(this.path, { throwIfNoEntry: false });
        if (now && now.ino === stat.ino && now.dev === stat.dev) fs.renameSync(this.path, this.rotatedPath);
        fs.closeSync(fd);
        ({ fd } = this.open());
      }
      try {
        const written = fs.writeSync(fd, bytes);
        if (written !== bytes.length) throw new Error(`the decision log took ${written} of ${bytes.length} bytes`);
      } finally {
        fs.closeSync(fd);
      }
    } catch (error) {
      throw typeof error === 'string' ? error : String(error.message);
    }
  }
}

/** A log that keeps nothing. */
export const NO_LOG = { append() {} };
