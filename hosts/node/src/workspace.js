// Resolving a directory to the workspace it belongs to, as the Rust host does
// (`host/src/workspace.rs`).

import fs from 'node:fs';
import path from 'node:path';

/**
 * The workspace of `dir`: `dir` with symlinks resolved, then the top of the git work tree it
 * lies in (the nearest ancestor holding `.git`, a folder or a file), if any. Throws an `Error`
 * whose message is one line for stderr.
 */
export function resolveWorkspace(dir) {
  let resolved;
  try {
    resolved = fs.realpathSync.native(dir);
  } catch (error) {
    throw new Error(`cannot resolve workspace ${dir}: ${error.message}`);
  }
  for (let candidate = resolved; ; candidate = path.dirname(candidate)) {
    try {
      fs.lstatSync(path.join(candidate, '.git'));
      return candidate;
    } catch {
      // No `.git` here: try the parent.
    }
    if (path.dirname(candidate) === candidate) return resolved;
  }
}
