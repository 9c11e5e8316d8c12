// Writes the policy component that the Rust binary embeds and transpiles it with jco into
// `generated/` (gitignored). Runs before `npm test`; it does the work only when the component or
// jco changed since the last run, so it is cheap when nothing did.
//
// The component comes from SESSION_LOCK_COMPONENT when it names a component file (one built
// apart from the shared target directory, say), else from `$SESSION_LOCK_BIN component` when
// SESSION_LOCK_BIN names a built `session-lock` binary, else from
// `cargo run -p session-lock --bin session-lock -- component`.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { transpile } from '@bytecodealliance/jco';

const here = path.dirname(fileURLToPath(import.meta.url));
const hostDir = path.resolve(here, '..');
const repoRoot = path.resolve(hostDir, '../..');
const outDir = path.join(hostDir, 'generated');
const componentPath = path.join(outDir, 'session-lock-policy.wasm');
const stampPath = path.join(outDir, 'stamp.json');

function writeComponent(target) {
  const given = process.env.SESSION_LOCK_COMPONENT;
  const binary = process.env.SESSION_LOCK_BIN;
  if (given) {
    fs.copyFileSync(given, target);
  } else if (binary) {
    execFileSync(binary, ['component', '-o', target], { stdio: 'inherit' });
  } else {
    execFileSync(
      'cargo',
      ['run', '-q', '-p', 'session-lock', '--bin', 'session-lock', '--', 'component', '-o', target],
      { cwd: repoRoot, stdio: 'inherit' },
    );
  }
}

function jcoVersion() {
  // jco does not export its package.json; find it beside its entry point.
  const entry = createRequire(import.meta.url).resolve('@bytecodealliance/jco');
  let dir = path.dirname(entry);
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}

fs.mkdirSync(outDir, { recursive: true });
const fresh = path.join(outDir, '.component.wasm.new');
writeComponent(fresh);
const component = fs.readFileSync(fresh);
const stamp = {
  component_sha256: createHash('sha256').update(component).digest('hex'),
  jco: jcoVersion(),
};
const previous = fs.existsSync(stampPath) ? fs.readFileSync(stampPath, 'utf8') : '';
if (previous === JSON.stringify(stamp) && fs.existsSync(path.join(outDir, 'policy.js'))) {
  fs.rmSync(fresh);
  console.log(`generated/ is up to date (component ${stamp.component_sha256.slice(0, 12)})`);
} else {
  // `instantiation: sync` exports `instantiate(getCoreModule, imports)`, so every instance gets
  // the lock store it is given (the hook: the filesystem; tests: temporary directories).
  const { files } = await transpile(component, { name: 'policy', instantiation: 'sync', quiet: true });
  for (const [name, bytes] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(outDir, name)), { recursive: true });
    fs.writeFileSync(path.join(outDir, name), bytes);
  }
  fs.renameSync(fresh, componentPath);
  fs.writeFileSync(stampPath, JSON.stringify(stamp));
  console.log(`transpiled the component (${stamp.component_sha256.slice(0, 12)}) with jco ${stamp.jco} into generated/`);
}
