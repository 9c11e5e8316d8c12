#!/usr/bin/env node
// `node hosts/node/hook.js [--agent claude|codex|gemini|cursor]`: the Node.js host of the
// policy component, a drop-in for `session-lock hook`. A thin I/O shell, as the Rust host is
// (`host/src/hook.rs`): it reads one agent hook event from stdin, passes the component the
// variables it names (`hook.environment-variables`), its working directory and its parent pid,
// resolves on this filesystem the paths the component names (`hook.targets`), and prints the
// component's answer (`hook.handle`) to stdout, stderr and the exit code. The component
// interprets the environment; the host reads only SESSION_LOCK_DIR, where its lock files live
// (the Rust host's format). Every fault fails open. Once the component is loaded, a call it
// could not decide (the deadline, a trap, an event too large to read) is answered in the agent's
// own form with the warning the person sees (`hook.fault-answer`); before that (bad arguments,
// no lock directory, a component that does not load) the answer is exit 0, nothing on stdout,
// one `session-lock:` line on stderr.

import fs from 'node:fs';

import { DEADLINE_MS, hookAnswer } from './src/hook.js';

/** One line for stderr: control characters (a newline in an OS message) become spaces. */
function oneLine(text) {
  return String(text).replace(/[\u0000-\u001f\u007f]/g, ' ');
}

function write(fd, text) {
  if (text) fs.writeSync(fd, text);
}

let answered = false;

/** Claims the right to answer: only the first of the hook and the deadline gets it. */
function claimAnswer() {
  const first = !answered;
  answered = true;
  return first;
}

const started = performance.now();
let due = DEADLINE_MS;
let deadline;

/**
 * What the deadline answers: one stderr line until the component, once loaded, gives its answer
 * in the agent's form (`hook.fault-answer`), which the person sees.
 */
let deadlineAnswer = {
  stdout: '',
  stderr: `session-lock: no answer within ${DEADLINE_MS / 1000}s; allowing without the lock\n`,
};

/** Answers for the hook once the deadline has passed, if it has not answered yet. */
function armDeadline() {
  clearTimeout(deadline);
  deadline = setTimeout(() => {
    if (!claimAnswer()) return;
    try {
      write(1, deadlineAnswer.stdout);
      write(2, deadlineAnswer.stderr);
    } catch {
      // Nowhere left to say it.
    }
    process.exit(0);
  }, Math.max(0, due - (performance.now() - started)));
}

/** Moves the deadline by `ms` the hook is about to sleep waiting for the lock. */
function extendDeadline(ms) {
  due += ms;
  armDeadline();
}

// Armed first, before anything is loaded or read: it must also answer an agent that never
// closes stdin, and the agents' own hook timeouts count from the start too.
armDeadline();

let response;
try {
  response = await hookAnswer(process.argv.slice(2), process.stdin, {
    prepareDeadline: (answer) => {
      deadlineAnswer = answer;
    },
    extendDeadline,
  });
} catch (error) {
  response = {
    stdout: '',
    stderr: `session-lock: ${oneLine(error.message)}; allowing without the lock\n`,
    exitCode: 0,
  };
}
clearTimeout(deadline);
if (claimAnswer()) {
  let exitCode = response.exitCode;
  try {
    write(1, response.stdout);
  } catch {
    response.stderr += 'session-lock: cannot write the answer to stdout\n';
    exitCode = 0;
  }
  try {
    write(2, response.stderr);
  } catch {
    // Nowhere left to say it.
  }
  process.exit(exitCode);
}
