//! Facts about processes on the host's machine: the WIT `processes` import, as a Rust trait.
//! They let a session prove a lock's holder gone; the decision itself is in [`crate::lock`].

/// Who a process is: a pid is reused, a pid with the machine's boot, its pid namespace and the
/// process's start time is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// The machine's boot.
    pub boot_id: String,
    /// The pid namespace the pid is counted in.
    pub pid_namespace: String,
    /// When the process started, in the kernel's ticks since boot.
    pub start_time: u64,
}

impl ProcessIdentity {
    /// Whether both identities count pids in the same place: one machine boot, one namespace.
    pub fn same_place(&self, other: &ProcessIdentity) -> bool {
        self.boot_id == other.boot_id && self.pid_namespace == other.pid_namespace
    }
}

/// What the host knows of one pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessStatus {
    /// A process with this pid runs now.
    Running(ProcessIdentity),
    /// No process has this pid; carries the host's place (`start_time` 0).
    Gone(ProcessIdentity),
    /// The host cannot tell.
    Unknown,
}

/// The host's view of its processes.
pub trait Processes {
    /// The status of process `pid`.
    fn status(&mut self, pid: u32) -> ProcessStatus;

    /// Whether `pid` is an ancestor of the process running the hook; `None` when the host
    /// cannot tell.
    fn is_ancestor(&mut self, pid: u32) -> Option<bool>;
}

/// A host that knows nothing of processes: every lock frees by its ttl only.
pub struct NoProcesses;

impl Processes for NoProcesses {
    fn status(&mut self, _pid: u32) -> ProcessStatus {
        ProcessStatus::Unknown
    }

    fn is_ancestor(&mut self, _pid: u32) -> Option<bool> {
        None
    }
}

/// The pid of the session asking, and whether it is the session's own process: a pid the
/// agent gives (`claimed`, e.g. Claude Code's `CLAUDE_PID`) counts as the session's own only
/// when it is an ancestor of the hook, which the agent's own process is. Otherwise (an
/// inherited, stale or forged variable, or a host that cannot tell) it is still shown to people
/// as the holder's pid, but never recorded as the session's process, so it neither proves the
/// holder gone nor tells two processes of one session id apart.
pub fn session_pid(processes: &mut impl Processes, claimed: (u32, bool)) -> (u32, bool) {
    match claimed {
        (pid, true) => (pid, processes.is_ancestor(pid) == Some(true)),
        unclaimed => unclaimed,
    }
}
