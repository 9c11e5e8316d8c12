#!/usr/bin/env node
// `session-lock` as npm installs it: runs the native binary of the platform package npm chose
// (an optionalDependency with os/cpu set), passing arguments, standard streams, the exit code
// and a fatal signal through. No install script: npm only unpacks. Hooks never run this file:
// `session-lock install` copies the native binary and registers the copy, so no tool call pays
// for a Node.js start-up.
'use strict';

const path = require('path');
const { spawnSync } = require('child_process');

const manifest = require('../package.json');
const platform = `${process.platform}-${process.arch}`;
const supported = Object.keys(manifest.optionalDependencies || {}).map((name) =>
  name.replace(/^session-lock-/, ''),
);
const cargoRoute =
  'rustup target add wasm32-unknown-unknown && cargo install --locked --git <the session-lock repository> session-lock';

function fail(line) {
  process.stderr.write(`session-lock: ${line}\n`);
  process.exit(1);
}

if (!supported.includes(platform)) {
  fail(
    `no prebuilt binary for ${platform} (prebuilt: ${supported.join(', ')}); build it with Rust instead: ${cargoRoute}`,
  );
}

let binary;
try {
  binary = require.resolve(`session-lock-${platform}/bin/session-lock`);
} catch {
  fail(
    `the package session-lock-${platform} that holds the binary is not installed (optional dependencies omitted?); reinstall with \`npm install -g session-lock\``,
  );
}

const run = spawnSync(binary, process.argv.slice(2), { stdio: 'inherit' });
if (run.error) {
  fail(`cannot run ${path.normalize(binary)}: ${run.error.message}`);
}
if (run.signal) {
  process.kill(process.pid, run.signal);
}
process.exit(run.status === null ? 1 : run.status);
