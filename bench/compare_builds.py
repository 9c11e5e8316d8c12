"""Two builds of `session-lock hook` and /bin/true, whole process, alternating, medians (ms).

Usage: python3 bench/compare_builds.py OLD_BINARY NEW_BINARY ROUNDS

Each binary is copied to a temporary directory and the page cache dropped (as root), then every
round runs the same events through each, in alternating order, on a lock state set up untimed.
It measures what a change of the hook costs, where `cargo bench -p session-lock-bench` measures
one build against its native baseline."""
import json, os, shutil, statistics, subprocess, sys, tempfile, time
old, new, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
root = tempfile.mkdtemp()
repo = os.path.join(root, "repo"); os.makedirs(os.path.join(repo, ".git"))
bins = {}
for name, path in (("old", old), ("new", new), ("true", "/bin/true")):
    dst = os.path.join(root, name); shutil.copy(path, dst); os.chmod(dst, 0o755); bins[name] = dst
subprocess.run(["sync"])
try:
    open("/proc/sys/vm/drop_caches", "w").write("1\n")
except OSError as e:
    print("could not drop caches:", e)
def event(session, name, tool=None):
    e = {"session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": repo, "permission_mode": "default", "hook_event_name": name}
    if tool:
        e.update(tool_name=tool, tool_input={"file_path": os.path.join(repo, "notes.md"), "content": "hello"}, tool_use_id="toolu_1")
    return json.dumps(e).encode()
cases = {
    "PreToolUse Write, own lock": (event("A", "PreToolUse", "Write"), "A"),
    "PreToolUse Write, blocked": (event("B", "PreToolUse", "Write"), "A"),
    "PostToolUse Write": (event("A", "PostToolUse", "Write"), "A"),
    "Stop": (event("A", "Stop"), None),
}
times = {(c, b): [] for c in cases for b in bins}
for r in range(rounds):
    for case, (ev, holder) in cases.items():
        for b in (("old", "new", "true") if r % 2 == 0 else ("true", "new", "old")):
            locks = os.path.join(root, "locks-" + b)
            shutil.rmtree(locks, ignore_errors=True)
            env = {"PATH": "/usr/bin:/bin", "HOME": root, "SESSION_LOCK_DIR": locks}
            if holder:
                subprocess.run([bins[b], "hook"] if b != "true" else [bins[b]], input=event(holder, "PreToolUse", "Write"), env=env, capture_output=True)
            t = time.perf_counter()
            p = subprocess.run([bins[b], "hook"] if b != "true" else [bins[b]], input=ev, env=env, capture_output=True)
            times[(case, b)].append((time.perf_counter() - t) * 1000)
            if b != "true" and p.stderr:
                print(b, case, p.stderr.decode()[:200]); sys.exit(1)
print(f"{'case':34} {'/bin/true':>9} {'old':>7} {'new':>7} {'new/old':>8} {'new/true':>9}")
for case in cases:
    m = {b: statistics.median(times[(case, b)]) for b in bins}
    print(f"{case:34} {m['true']:9.3f} {m['old']:7.3f} {m['new']:7.3f} {m['new']/m['old']:8.2f} {m['new']/m['true']:9.2f}")
