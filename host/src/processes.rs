//! The `processes` import on Linux's `/proc`: the facts that prove a lock's holder gone.
//! Anywhere `/proc` says nothing, the answer is `unknown`, and locks free by their ttl only.

use std::fs;
use std::io;

use crate::component::processes::{self, ProcessIdentity, ProcessStatus};

/// This machine's processes, as `/proc` shows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalProcesses;

impl processes::Host for LocalProcesses {
    fn status(&mut self, pid: u32) -> ProcessStatus {
        let Some((boot_id, pid_namespace)) = place() else {
            return ProcessStatus::Unknown;
        };
        if pid == 0 {
            return ProcessStatus::Unknown;
        }
        match start_time(pid) {
            Ok(Some(start_time)) => ProcessStatus::Running(ProcessIdentity {
                boot_id,
                pid_namespace,
                start_time,
            }),
            Ok(None) => ProcessStatus::Gone(ProcessIdentity {
                boot_id,
                pid_namespace,
                start_time: 0,
            }),
            Err(_) => ProcessStatus::Unknown,
        }
    }

    fn is_ancestor(&mut self, pid: u32) -> Option<bool> {
        is_ancestor_of(pid, std::process::id())
    }
}

/// How many generations up [`is_ancestor_of`] looks before it gives up (a loop of parents is
/// not possible, but a host that lies must not spin).
const MAX_GENERATIONS: usize = 256;

/// Whether `pid` is an ancestor of process `of`, by the parents `/proc/<pid>/stat` names
/// (field 4); `None` when `/proc` cannot tell.
fn is_ancestor_of(pid: u32, of: u32) -> Option<bool> {
    let mut current = of;
    for _ in 0..MAX_GENERATIONS {
        let parent = parent_of(current).ok()??;
        if parent == pid {
            return Some(true);
        }
        if parent == 0 {
            return Some(false);
        }
        current = parent;
    }
    None
}

/// The parent of process `pid` (0 for the namespace's first process); `None` when no such
/// process runs.
fn parent_of(pid: u32) -> io::Result<Option<u32>> {
    Ok(stat_fields(pid)?.and_then(|fields| fields.get(1).and_then(|p| p.parse().ok())))
}

/// The fields of `/proc/<pid>/stat` after the command name, from field 3 (the state) on;
/// `None` when no such process runs.
fn stat_fields(pid: u32) -> io::Result<Option<Vec<String>>> {
    let stat = match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself:
    // the fields after it start after the last `)`.
    let after_name = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| io::Error::other("no command name in /proc/<pid>/stat"))?;
    Ok(Some(
        after_name.split_whitespace().map(str::to_owned).collect(),
    ))
}

/// The machine's boot and this process's pid namespace: where pids are counted.
fn place() -> Option<(String, String)> {
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = fs::read_link("/proc/self/ns/pid").ok()?;
    Some((
        boot_id.trim().to_owned(),
        namespace.to_string_lossy().into_owned(),
    ))
}

/// When process `pid` started (field 22 of `/proc/<pid>/stat`, in clock ticks since boot);
/// `None` when no such process runs (a zombie has ended: only its parent has not looked yet).
fn start_time(pid: u32) -> io::Result<Option<u64>> {
    let Some(fields) = stat_fields(pid)? else {
        return Ok(None);
    };
    // fields[0] is field 3 (the state), so field 22 is fields[19].
    if matches!(fields.first().map(String::as_str), Some("Z" | "X")) {
        return Ok(None);
    }
    fields
        .get(19)
        .and_then(|t| t.parse().ok())
        .map(Some)
        .ok_or_else(|| io::Error::other("no start time in /proc/<pid>/stat"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use processes::Host;

    #[test]
    fn this_process_runs_and_a_reaped_child_is_gone() {
        let me = std::process::id();
        let ProcessStatus::Running(identity) = LocalProcesses.status(me) else {
            panic!("this process is not seen running");
        };
        assert!(identity.start_time > 0);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(matches!(LocalProcesses.status(pid), ProcessStatus::Gone(_)));
    }

    #[test]
    fn the_parent_is_an_ancestor_and_a_sibling_is_not() {
        let parent = std::os::unix::process::parent_id();
        assert_eq!(LocalProcesses.is_ancestor(parent), Some(true));
        assert_eq!(
            LocalProcesses.is_ancestor(1),
            Some(true),
            "init is everyone's"
        );
        let mut sibling = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert_eq!(LocalProcesses.is_ancestor(sibling.id()), Some(false));
        assert_eq!(
            LocalProcesses.is_ancestor(std::process::id()),
            Some(false),
            "not its own"
        );
        sibling.kill().unwrap();
        sibling.wait().unwrap();
    }
}
