// Resolving paths on this filesystem, as the Rust host does (`host/src/workspace.rs`):
// symlinks, and the git work tree a path lies in. Which workspace a path belongs to is the
// component's rule; this module only gathers the facts (`hook.resolved-path`).

import fs from 'node:fs';
import path from 'node:path';

/** `child` below `parent`, joined as text (no normalisation of `..`, as Rust's `join`). */
function joined(parent, child) {
  return parent.endsWith('/') ? parent + child : `${parent}/${child}`;
}

/** How many symlinks one path may pass through, as the kernel allows (`ELOOP` beyond). */
const MAX_LINKS = 40;

/**
 * `file` as the kernel would write it: its longest existing prefix with symlinks resolved,
 * then the rest applied to that, `..` lexically against what it resolved to; a dangling
 * symlink is followed to where a write through it would create its target. Throws when no
 * part resolves, on any error but a missing part, and past `MAX_LINKS` links.
 */
export function realPath(file) {
  let current = file;
  for (let hop = 0; hop <= MAX_LINKS; hop += 1) {
    const step = resolveOnce(current);
    if (step.done !== undefined) return step.done;
    current = step.again;
  }
  throw new Error(`${file} passes through more than ${MAX_LINKS} symlinks`);
}

/** One step of `realPath`: `{done}` (the real path) or `{again}` (a path to resolve next). */
function resolveOnce(file) {
  const parts = file.split('/').filter((part) => part !== '' && part !== '.');
  for (let split = parts.length; split >= 0; split -= 1) {
    const prefix = `/${parts.slice(0, split).join('/')}`;
    const rest = parts.slice(split);
    try {
      let resolved = fs.realpathSync.native(prefix);
      let climbed = false;
      for (const part of rest) {
        if (part === '..') {
          resolved = path.dirname(resolved);
          climbed = true;
        } else {
          resolved = joined(resolved, part);
        }
      }
      return climbed ? { again: resolved } : { done: resolved };
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
      let link;
      try {
        link = fs.lstatSync(prefix).isSymbolicLink() ? fs.readlinkSync(prefix) : undefined;
      } catch {
        link = undefined;
      }
      if (link !== undefined) {
        // A symlink whose target does not exist: a write through it creates the target.
        const target = link.startsWith('/') ? link : joined(path.dirname(prefix), link);
        return { again: [target, ...rest].join('/') };
      }
    }
  }
  throw new Error(`no part of ${file} exists`);
}

/** Whether the regular file `.git` at `dotGit` has a `gitdir:` line; read without following a link or blocking. */
function hasGitdirLine(dotGit) {
  let fd;
  try {
    fd = fs.openSync(dotGit, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    if (!fs.fstatSync(fd).isFile()) return false;
    const buffer = Buffer.alloc(4096);
    const text = buffer.subarray(0, fs.readSync(fd, buffer, 0, 4096, 0)).toString('utf8');
    return text.split('\n').some((line) => line.startsWith('gitdir:') && line.slice(7).trim() !== '');
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Whether `dir` holds a real `.git`: a directory (or a link to one) holding `HEAD`, or a
 * regular file with a `gitdir:` line. Anything else named `.git` starts no work tree.
 */
function isWorkTreeTop(dir) {
  const dotGit = path.join(dir, '.git');
  let found;
  try {
    found = fs.lstatSync(dotGit);
  } catch {
    return false;
  }
  if (found.isFile()) return hasGitdirLine(dotGit);
  try {
    const isDir = found.isDirectory() || (found.isSymbolicLink() && fs.statSync(dotGit).isDirectory());
    return isDir && fs.lstatSync(path.join(dotGit, 'HEAD')) !== undefined;
  } catch {
    return false;
  }
}

/** The nearest ancestor of `file` (itself included) that is the top of a git work tree. */
export function gitTop(file) {
  for (let candidate = file; ; candidate = path.dirname(candidate)) {
    if (isWorkTreeTop(candidate)) return candidate;
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
