// The lock directory, opened only when it is the user's own, as the Rust host opens it
// (`host/src/lock_dir.rs`), with the same refusals in the same words.
//
// Whoever can write in the lock directory, or rename it or any directory above it, can delete a
// lock, plant one that never frees, or move another directory in its place: the lock would then
// hold for nobody. So `openLockDir` walks the path from `/` one directory at a time, each opened
// without following a symlink (O_DIRECTORY | O_NOFOLLOW) and checked on its descriptor (fstat):
//
// - on the way, a directory must belong to root or to the effective user, and be writable by
//   nobody else, unless it has the sticky bit (`/tmp`): there, nobody else can rename or delete
//   what is ours;
// - the lock directory itself must belong to the effective user and be writable by nobody else,
//   and must not be a symlink;
// - a symlink on the way is followed by reading it (it lies in a directory already checked) and
//   walking its target the same way, so every directory the path passes through is checked;
// - a relative path is refused: it would name another directory from every working directory,
//   so every session would have its own lock.
//
// Node's `fs` has no `openat`. Each step opens the next name inside the directory just opened
// through `/proc/self/fd/<fd>/<name>`: the kernel resolves `/proc/self/fd/<fd>` to the open
// directory itself, not to its path again, so that is `openat(fd, name)` by another name; the
// store then works in the directory the same way (`LockDir.file`). Where `/proc/self/fd` does
// not show the directory (not Linux, or `/proc` not mounted) the path text is used instead: the
// checks above guarantee that only the user and root can change what it names.

import fs from 'node:fs';
import path from 'node:path';

/** How many symlinks a path may pass through, as the kernel allows. */
const MAX_SYMLINKS = 40;

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;

/** A directory, never through a symlink (libuv opens every file O_CLOEXEC). */
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;

/** Why a lock directory is not used: one line in `message` (how to fix it is `doctor`'s to say). */
export class Refusal extends Error {}

const octal = (mode) => mode.toString(8).padStart(4, '0');

/** The lock directory, open: file operations inside it go through `file(name)`. */
export class LockDir {
  constructor(fd, dirPath) {
    this.fd = fd;
    this.path = dirPath;
    this.base = openDirBase(fd, dirPath);
  }

  /** The path by which `name` inside the open directory is reached. */
  file(name) {
    return `${this.base}/${name}`;
  }

  /** The path of `name` for people (the directory as it was named). */
  shown(name) {
    return path.join(this.path, name);
  }

  /** The directory itself, as `file` reaches it (for listing it). */
  get listed() {
    return this.base;
  }

  close() {
    fs.closeSync(this.fd);
  }
}

/** `/proc/self/fd/<fd>` when it is the open directory `fd`, else the path that was checked. */
function openDirBase(fd, dirPath) {
  const base = `/proc/self/fd/${fd}`;
  if (!PROC_FD) return dirPath;
  try {
    const seen = fs.statSync(base);
    const open = fs.fstatSync(fd);
    if (seen.isDirectory() && seen.ino === open.ino && seen.dev === open.dev) return base;
  } catch {
    // No /proc here: the checked path names the same directory (see the module's comment).
  }
  return dirPath;
}

/** The names of `file` after its root (`.` and empty parts dropped, `..` kept). */
function names(file) {
  return file.split('/').filter((part) => part !== '' && part !== '.');
}

/** Whether `/proc/self/fd` shows this process's descriptors (Linux with `/proc` mounted). */
const PROC_FD = fs.existsSync('/proc/self/fd');

/** `name` inside the open directory `fd` (see the module's comment), else `at/name`. */
function inside(fd, at, name) {
  return PROC_FD ? `/proc/self/fd/${fd}/${name}` : path.join(at, name);
}

function failed(at, error) {
  return new Refusal(`cannot open the lock directory ${at}: ${osError(error)}`);
}

/** An OS error without the path Node appends (which may be a `/proc/self/fd` path): `EACCES: permission denied`. */
export function osError(error) {
  return String(error.message).split(', ')[0];
}

/** `fd` when the directory it is may lie on the way to the lock directory; else closes it and throws. */
function onTheWay(fd, at, euid) {
  const stat = fs.fstatSync(fd);
  const mode = stat.mode & 0o7777;
  const ownerOk = stat.uid === 0 || stat.uid === euid;
  const othersWrite = (mode & 0o022) !== 0;
  const sticky = (mode & 0o1000) !== 0;
  if (!ownerOk || (othersWrite && !sticky)) {
    fs.closeSync(fd);
    throw new Refusal(
      `${at} (uid ${stat.uid}, mode ${octal(mode)}), above the lock directory, can be changed by others, who could swap the lock directory`,
    );
  }
  return fd;
}

/** `fd` when the directory it is may be the lock directory; else closes it and throws. */
function theLockDir(fd, at, euid) {
  const stat = fs.fstatSync(fd);
  const mode = stat.mode & 0o7777;
  if (stat.uid !== euid) {
    fs.closeSync(fd);
    throw new Refusal(`the lock directory ${at} belongs to uid ${stat.uid}, not to you (uid ${euid})`);
  }
  if ((mode & 0o022) !== 0) {
    fs.closeSync(fd);
    throw new Refusal(`the lock directory ${at} has mode ${octal(mode)}: others can write in it`);
  }
  return fd;
}

/**
 * Opens the lock directory `dirPath` after checking it and every directory on the way (see the
 * module's comment): a `LockDir`, to be closed by the caller. `undefined`: it does not exist and
 * `create` is false. With `create`, missing directories are created, mode 0700 whatever the
 * umask. Throws a `Refusal` when the directory is not the user's own or cannot be opened.
 */
export function openLockDir(dirPath, create) {
  if (!path.isAbsolute(dirPath)) {
    throw new Refusal(`the lock directory ${dirPath} is a relative path, which names another directory from every working directory`);
  }
  const euid = process.geteuid();
  const openRoot = () => {
    let fd;
    try {
      fd = fs.openSync('/', DIR_FLAGS);
    } catch (error) {
      throw failed('/', error);
    }
    return onTheWay(fd, '/', euid);
  };
  let here = openRoot();
  let at = '/';
  const left = names(dirPath);
  const walked = left.length;
  let links = 0;
  // Replaces `here` by `next` (closing the old descriptor), checked as what it is.
  const step = (open, nextAt, last) => {
    let fd;
    try {
      fd = open();
    } finally {
      fs.closeSync(here);
      here = undefined;
    }
    here = last ? theLockDir(fd, nextAt, euid) : onTheWay(fd, nextAt, euid);
    at = nextAt;
  };
  try {
    while (left.length > 0) {
      const name = left.shift();
      const last = left.length === 0;
      if (name === '..') {
        // The parent of a checked directory: reached by the kernel, checked again.
        const parent = path.dirname(at);
        const from = here;
        step(() => {
          try {
            return fs.openSync(inside(from, at, '..'), DIR_FLAGS);
          } catch (error) {
            throw failed(parent, error);
          }
        }, parent, last);
        continue;
      }
      const next = path.join(at, name);
      const target = inside(here, at, name);
      let fd;
      try {
        fd = fs.openSync(target, DIR_FLAGS);
      } catch (error) {
        if (error.code === 'ELOOP' || error.code === 'ENOTDIR') {
          let link;
          try {
            link = fs.lstatSync(target).isSymbolicLink() ? fs.readlinkSync(target) : undefined;
          } catch (lstatError) {
            throw failed(next, lstatError);
          }
          if (link === undefined) {
            throw new Refusal(`${next} is not a directory`);
          }
          if (last) {
            throw new Refusal(`the lock directory ${next} is a symlink`);
          }
          links += 1;
          if (links > MAX_SYMLINKS) {
            throw new Refusal(`${dirPath} passes through too many symlinks`);
          }
          left.unshift(...names(link));
          if (link.startsWith('/')) {
            fs.closeSync(here);
            here = undefined;
            here = openRoot();
            at = '/';
          }
          continue;
        }
        if (error.code === 'ENOENT' && create) {
          try {
            fs.mkdirSync(target, 0o700);
          } catch (mkdirError) {
            if (mkdirError.code !== 'EEXIST') throw failed(next, mkdirError);
          }
          // Opened and checked as any other: created by someone else in between, it is judged
          // as theirs. The mode is set exactly, since mkdir's is masked by the umask.
          try {
            fd = fs.openSync(target, DIR_FLAGS);
            if (fs.fstatSync(fd).uid === euid) fs.fchmodSync(fd, 0o700);
          } catch (openError) {
            if (fd !== undefined) fs.closeSync(fd);
            throw failed(next, openError);
          }
        } else if (error.code === 'ENOENT') {
          return undefined;
        } else {
          throw failed(next, error);
        }
      }
      const opened = fd;
      step(() => opened, next, last);
    }
    // Every walk that ends has checked its last directory as the lock directory, but for `/`
    // itself, which had no name to walk.
    if (walked === 0) here = theLockDir(here, at, euid);
    const dir = new LockDir(here, dirPath);
    here = undefined;
    return dir;
  } finally {
    if (here !== undefined) fs.closeSync(here);
  }
}

/**
 * The one line a store or log call fails with when the directory is refused (the Rust host's
 * words): what is wrong, and where to learn how to fix it.
 */
export function refusalLine(refusal) {
  return `not using the lock directory: ${refusal.message}; \`session-lock doctor\` says how to fix it`;
}
