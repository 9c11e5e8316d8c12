// Resolving paths on this filesystem, as the Rust host does (`host/src/workspace.rs`):
// symlinks, and the git work tree a path lies in. Which workspace a path belongs to is the
// component's rule; this module only gathers the facts (`hook.resolved-path`).

import fs from 'node:fs';
import path from 'node:path';

/** `child` below `parent`, joined as text (no normalisation of `..`, as Rust's `join`). */
function joined(parent, child) {
  return parent.endsWith('/') ? parent + child : `${parent}/${child}`;
}

/**
 * `file` with symlinks resolved, through its nearest existing ancestor: a path that does not
 * exist yet resolves to its nearest existing ancestor's real path with the rest appended.
 * Throws when no ancestor resolves (only a missing path walks up; any other error stops).
 */
export function realPath(file) {
  let existing = file;
  const missing = [];
  for (;;) {
    try {
      const real = fs.realpathSync.native(existing);
      return missing.reduceRight((resolved, name) => joined(resolved, name), real);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
      const parent = path.dirname(existing);
      const name = path.basename(existing);
      if (parent === existing || name === '' || name === '..') throw error;
      missing.push(name);
      existing = parent;
    }
  }
}

/** The nearest ancestor of `file` (itself included) holding `.git` (a folder or a file). */
export function gitTop(file) {
  for (let candidate = file; ; candidate = path.dirname(candidate)) {
    try {
      fs.lstatSync(path.join(candidate, '.git'));
      return candidate;
    } catch {
      // No `.git` here: try the parent.
    }
    if (path.dirname(candidate) === candidate) return undefined;
  }
}

/**
 * What the component needs to know of a path an event touches (`hook.resolved-path`):
 * `{realPath, gitTop}` (`gitTop` undefined outside any work tree); `undefined` when not even
 * `/` resolves.
 */
export function resolvePath(file) {
  let real;
  try {
    real = realPath(file);
  } catch {
    return undefined;
  }
  return { realPath: real, gitTop: gitTop(real) };
}
