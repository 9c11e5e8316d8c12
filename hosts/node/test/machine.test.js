// What the Node host gathers on this machine for the component, as the Rust host does
// (`host/src/workspace.rs`, `host/src/processes.rs`): resolved paths and process facts.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, test } from 'node:test';

import { LocalProcesses } from '../src/processes.js';
import { environment, lockDir } from '../src/settings.js';
import { resolvePath } from '../src/workspace.js';
import { Sandbox } from './support.js';

let sandbox;
afterEach(() => sandbox?.remove());

test('a path resolves through symlinks to its real path, and to the git work tree it lies in', () => {
  sandbox = new Sandbox();
  const ws = sandbox.workspace;
  fs.mkdirSync(path.join(ws, 'src'));
  fs.symlinkSync(ws, path.join(sandbox.root, 'link'));
  assert.deepEqual(resolvePath(path.join(sandbox.root, 'link', 'src')), { realPath: path.join(ws, 'src'), gitTop: ws });
  assert.deepEqual(resolvePath(`${ws}/`), { realPath: ws, gitTop: ws });
  assert.deepEqual(resolvePath(sandbox.root), { realPath: sandbox.root, gitTop: undefined });
});

test('a path that does not exist yet resolves through its nearest existing ancestor', () => {
  sandbox = new Sandbox();
  fs.symlinkSync(sandbox.workspace, path.join(sandbox.root, 'link'));
  const missing = path.join(sandbox.root, 'link', 'new', 'dir', 'file.txt');
  assert.deepEqual(resolvePath(missing), {
    realPath: path.join(sandbox.workspace, 'new', 'dir', 'file.txt'),
    gitTop: sandbox.workspace,
  });
  assert.deepEqual(resolvePath(path.join(sandbox.root, 'loose.txt')), {
    realPath: path.join(sandbox.root, 'loose.txt'),
    gitTop: undefined,
  });
});

test('a `.git` file (a linked worktree, a submodule) marks a work tree top as a folder does', () => {
  sandbox = new Sandbox();
  const worktree = path.join(sandbox.workspace, 'nested');
  fs.mkdirSync(worktree);
  fs.writeFileSync(path.join(worktree, '.git'), 'gitdir: ../.git/worktrees/nested\n');
  assert.equal(resolvePath(path.join(worktree, 'a.txt')).gitTop, worktree);
});

test('the missing part of a path applies `..` against what exists, and a dangling symlink is followed', () => {
  sandbox = new Sandbox();
  const other = path.join(sandbox.root, 'other');
  fs.mkdirSync(path.join(other, '.git'), { recursive: true });
  fs.writeFileSync(path.join(other, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  const up = path.join(sandbox.workspace, 'newdir', '..', '..', 'other', 'x.txt');
  assert.deepEqual(resolvePath(up), { realPath: path.join(other, 'x.txt'), gitTop: other });
  fs.symlinkSync('../other/planted.txt', path.join(sandbox.workspace, 'link.txt'));
  assert.deepEqual(resolvePath(path.join(sandbox.workspace, 'link.txt')), {
    realPath: path.join(other, 'planted.txt'),
    gitTop: other,
  });
  fs.symlinkSync(path.join(sandbox.workspace, 'loop2'), path.join(sandbox.workspace, 'loop1'));
  fs.symlinkSync(path.join(sandbox.workspace, 'loop1'), path.join(sandbox.workspace, 'loop2'));
  assert.equal(resolvePath(path.join(sandbox.workspace, 'loop1', 'x')), undefined);
});

test('only a real `.git` starts a work tree: not an empty file, a folder without HEAD, or a FIFO', () => {
  sandbox = new Sandbox();
  const sub = path.join(sandbox.workspace, 'sub');
  fs.mkdirSync(sub);
  const topOf = () => resolvePath(path.join(sub, 'f')).gitTop;
  fs.writeFileSync(path.join(sub, '.git'), '');
  assert.equal(topOf(), sandbox.workspace);
  fs.rmSync(path.join(sub, '.git'));
  fs.mkdirSync(path.join(sub, '.git'));
  assert.equal(topOf(), sandbox.workspace);
  fs.rmdirSync(path.join(sub, '.git'));
  execFileSync('mkfifo', [path.join(sub, '.git')]);
  assert.equal(topOf(), sandbox.workspace);
});

test('a path below a file does not resolve (only a missing path walks up)', () => {
  sandbox = new Sandbox();
  const file = path.join(sandbox.root, 'file');
  fs.writeFileSync(file, '');
  assert.equal(resolvePath(path.join(file, 'below')), undefined);
});

test('this process runs, a reaped child is gone, pid 0 is unknown', { skip: !fs.existsSync('/proc/self/stat') }, () => {
  const processes = new LocalProcesses();
  const me = processes.status(process.pid);
  assert.equal(me.tag, 'running');
  assert.ok(me.val.startTime > 0n);
  assert.equal(me.val.bootId, fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  assert.equal(me.val.pidNamespace, fs.readlinkSync('/proc/self/ns/pid'));
  assert.deepEqual(processes.status(process.pid), me, 'the same identity each time');
  const child = spawnSync('true');
  assert.equal(child.status, 0);
  const gone = processes.status(child.pid);
  assert.equal(gone.tag, 'gone');
  assert.deepEqual(gone.val, { ...me.val, startTime: 0n });
  assert.deepEqual(processes.status(0), { tag: 'unknown' });
});

test('the host reads only where its locks live, and passes the named variables as they are', () => {
  assert.equal(lockDir({ SESSION_LOCK_DIR: '/l', HOME: '/h' }), '/l');
  assert.equal(lockDir({ SESSION_LOCK_DIR: '', HOME: '/h' }), '/h/.claude/runtime');
  assert.throws(() => lockDir({ HOME: '' }), /no SESSION_LOCK_DIR and no home directory/);
  const env = { SESSION_LOCK_TTL_MS: ' soon ', CLAUDE_PID: '', OTHER: 'x' };
  assert.deepEqual(environment(['CLAUDE_PID', 'SESSION_LOCK_MODE', 'SESSION_LOCK_TTL_MS'], env), [
    ['CLAUDE_PID', ''],
    ['SESSION_LOCK_TTL_MS', ' soon '],
  ]);
});
