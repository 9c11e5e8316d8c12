"""`session-lock hook` among many lock records of other sessions: warm and cold page cache.

Usage: python3 bench/many_records.py BINARY COUNT [ROUNDS]

Writes COUNT fresh records of other sessions (other workspaces) into a new lock directory, then
times, through BINARY (a release build), a holder's `Write` (its own record only), a `Stop`
(which lists every record to find the session's), and a Bash `cd $X && rm f` (which needs
every lock, so is refused at the first one held), medians of ROUNDS (default 5) with a warm
cache; then `Stop` with the page cache dropped (as root), saying whether the session's own
lock was let go within the hook's deadline."""
import hashlib, json, os, shutil, statistics, subprocess, sys, tempfile, time

binary, count = sys.argv[1], int(sys.argv[2])
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
root = tempfile.mkdtemp()
locks, repo = os.path.join(root, "locks"), os.path.join(root, "repo")
os.makedirs(os.path.join(repo, ".git"))
os.makedirs(locks, mode=0o700)
now = int(time.time() * 1000)
for i in range(count):
    workspace = f"/w/{i}"
    key = hashlib.md5(workspace.encode()).hexdigest()[:12]
    record = {"schema_version": 1, "session_id": f"other-{i}", "pid": 999999, "acquired_at": now,
              "refreshed_at": now, "ttl_ms": 300000, "workspace": workspace, "agent": "codex"}
    path = os.path.join(locks, f"session-lock-{key}.json")
    with open(path, "w") as f:
        json.dump(record, f)
    os.chmod(path, 0o600)
own = os.path.join(locks, f"session-lock-{hashlib.md5(repo.encode()).hexdigest()[:12]}.json")
env = {"PATH": "/usr/bin:/bin", "HOME": root, "SESSION_LOCK_DIR": locks}


def event(name, tool=None, command=None):
    e = {"session_id": "A", "transcript_path": "/tmp/t.jsonl", "cwd": repo,
         "permission_mode": "default", "hook_event_name": name}
    if tool == "Write":
        e.update(tool_name="Write", tool_input={"file_path": repo + "/a.md", "content": "x"})
    if tool == "Bash":
        e.update(tool_name="Bash", tool_input={"command": command})
    return json.dumps(e).encode()


def run(e):
    start = time.perf_counter()
    done = subprocess.run([binary, "hook"], input=e, env=env, capture_output=True)
    return (time.perf_counter() - start) * 1000, done


take = event("PreToolUse", "Write")
cases = [("Write, own lock", take), ("Stop", event("Stop")),
         ("Bash `cd $X && rm f`", event("PreToolUse", "Bash", "cd $X && rm f"))]
for label, e in cases:
    times = []
    for _ in range(rounds):
        run(take)
        ms, done = run(e)
        times.append(ms)
    said = done.stderr.decode().strip()[:80]
    print(f"{count:>7} records, warm  {label:24} median {statistics.median(times):7.1f} ms"
          f"  max {max(times):7.1f} ms  {said}")
try:
    for _ in range(min(rounds, 3)):
        run(take)
        subprocess.run(["sync"])
        open("/proc/sys/vm/drop_caches", "w").write("3\n")
        ms, done = run(event("Stop"))
        said = done.stderr.decode().strip()[:80]
        print(f"{count:>7} records, cold  {'Stop':24} {ms:7.1f} ms  own lock let go: "
              f"{not os.path.exists(own)}  {said}")
except OSError as e:
    print("cold cache not measured (dropping the page cache needs root):", e)
shutil.rmtree(root)
