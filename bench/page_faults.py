"""Where one hook run of a build takes its page faults: counts per section of the binary.

Usage: python3 bench/page_faults.py BINARY [RUNS]

Runs the holder's PreToolUse Write (the lock already held) RUNS times (default 3) under
`perf record -e page-faults -d` (Debian's linux-perf), and prints, per run, the faults in each
section of BINARY (`readelf -S`), on the stack, and elsewhere (the heap right after the binary
shows as `after the binary`). It explains a difference `bench/compare_builds.py` measures: a
fresh process pays for every page it touches."""
import json, os, re, subprocess, sys, tempfile
from collections import Counter

binary = os.path.abspath(sys.argv[1])
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
root = tempfile.mkdtemp()
repo = os.path.join(root, "repo")
os.makedirs(os.path.join(repo, ".git"))
event = json.dumps({
    "session_id": "A", "transcript_path": "/tmp/t.jsonl", "cwd": repo,
    "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Write",
    "tool_input": {"file_path": os.path.join(repo, "notes.md"), "content": "hello"},
    "tool_use_id": "toolu_1",
}).encode()
env = {"PATH": "/usr/bin:/bin", "HOME": root, "SESSION_LOCK_DIR": os.path.join(root, "locks")}
subprocess.run([binary, "hook"], input=event, env=env, capture_output=True, check=True)

sections = []
for line in subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True).stdout.splitlines():
    m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
    if m and int(m.group(2), 16):
        sections.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16)))
end = max(start + size for _, start, size in sections)

for run in range(runs):
    data = os.path.join(root, "perf.data")
    subprocess.run(["perf", "record", "-q", "-e", "page-faults", "-c", "1", "-d", "-o", data,
                    binary, "hook"], input=event, env=env, capture_output=True, check=True)
    script = subprocess.run(["perf", "script", "-i", data, "--show-mmap-events", "-F", "addr"],
                            capture_output=True, text=True).stdout
    base, counts = None, Counter()
    for line in script.splitlines():
        if "MMAP" in line:
            # The binary's first mapping, at file offset 0: its load address.
            m = re.search(r"\[(0x[0-9a-f]+)\(0x[0-9a-f]+\) @ (0x[0-9a-f]+|0) .*\]: \S+ (\S+)$", line)
            if m and base is None and m.group(3) == binary and int(m.group(2), 16) == 0:
                base = int(m.group(1), 16)
            continue
        try:
            address = int(line.split()[0], 16)
        except (IndexError, ValueError):
            continue
        offset = address - base if base is not None else -1
        name = next((s for s, start, size in sections if start <= offset < start + size), None)
        if name is None:
            if 0 <= offset < end + (64 << 20):
                name = "after the binary"
            else:
                name = "stack" if address >= 0x7f0000000000 else "elsewhere"
        counts[name] += 1
    print(f"run {run + 1}: {sum(counts.values())} faults:",
          ", ".join(f"{name} {n}" for name, n in counts.most_common()))
