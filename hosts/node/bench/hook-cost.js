// The cost of one hook event through each host, whole process included: `node hook.js` beside
// the Rust host's release binary (built with `cargo build --release -p session-lock` when
// missing). Runs alternate between the hosts so both see the same machine load.
//
//   node bench/hook-cost.js [--runs N]
//
// The event is a Claude Code PreToolUse of Write by the session holding the lock: the hot path
// (read the record, decide, swap in the refreshed record).

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const hostDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = path.resolve(hostDir, '../..');

const runsFlag = process.argv.indexOf('--runs');
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 200;
const WARMUP = 10;

function rustRelease() {
  const metadata = execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], {
    cwd: repoRoot,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const binary = path.join(JSON.parse(metadata).target_directory, 'release', 'session-lock');
  if (!fs.existsSync(binary)) {
    console.log(`building ${binary} ...`);
    execFileSync('cargo', ['build', '--release', '-p', 'session-lock', '--bin', 'session-lock'], {
      cwd: repoRoot,
      stdio: 'inherit',
    });
  }
  return binary;
}

const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'session-lock-bench-')));
const workspace = path.join(root, 'repo');
fs.mkdirSync(path.join(workspace, '.git'), { recursive: true });
const event = JSON.stringify({
  session_id: 'bench-session',
  transcript_path: '/home/u/.claude/projects/p/bench-session.jsonl',
  cwd: workspace,
  permission_mode: 'default',
  hook_event_name: 'PreToolUse',
  tool_name: 'Write',
  tool_input: { file_path: path.join(workspace, 'notes.md'), content: 'hello' },
  tool_use_id: 'toolu_01ABC',
});

const hosts = {
  'node hook.js': [process.execPath, [path.join(hostDir, 'hook.js')]],
  'session-lock hook (Rust, release)': [rustRelease(), ['hook']],
  // For scale: what starting Node.js alone costs.
  'node -e "" (no hook)': [process.execPath, ['-e', '']],
};

const env = { ...process.env, CLAUDE_PID: '4101' };
for (const name of ['CLAUDE_PROJECT_DIR', 'SESSION_LOCK_TTL_MS', 'SESSION_LOCK_MODE']) delete env[name];
const timings = Object.fromEntries(Object.keys(hosts).map((name) => [name, []]));

for (let run = 0; run < WARMUP + RUNS; run++) {
  for (const [name, [command, args]] of Object.entries(hosts)) {
    // Each host has its own lock directory, so each run is the holder re-acquiring its lock.
    const lockDir = path.join(root, `locks-${name.split(' ')[0]}`);
    const started = process.hrtime.bigint();
    const result = spawnSync(command, args, { input: event, env: { ...env, SESSION_LOCK_DIR: lockDir } });
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== 0 || result.stdout.length || result.stderr.length) {
      // Both hooks allow a holder silently; anything else is a broken run, not a timing.
      throw new Error(`${name} did not allow silently: ${result.status} ${result.stdout} ${result.stderr}`);
    }
    if (run >= WARMUP) timings[name].push(elapsed);
  }
}
fs.rmSync(root, { recursive: true, force: true });

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
console.log(
  `${RUNS} runs each (after ${WARMUP} warm-up), alternating; node ${process.version}, ` +
    `${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
);
console.log('host                                 median     p10      p90    (ms, whole process)');
const medians = {};
for (const [name, values] of Object.entries(timings)) {
  const sorted = [...values].sort((a, b) => a - b);
  medians[name] = quantile(sorted, 0.5);
  console.log(
    `${name.padEnd(34)} ${medians[name].toFixed(1).padStart(8)} ${quantile(sorted, 0.1)
      .toFixed(1)
      .padStart(8)} ${quantile(sorted, 0.9).toFixed(1).padStart(8)}`,
  );
}
const [node, rust] = Object.values(medians);
console.log(`median ratio node/rust: ${(node / rust).toFixed(1)}x`);
