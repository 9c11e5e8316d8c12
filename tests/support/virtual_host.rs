//! A host on a virtual filesystem, for driving the component's hook without a disk: paths
//! resolve to themselves, in the longest of a few git work trees they lie in. It runs an event
//! as a real host does: `targets`, each resolved, then `handle`.

#![allow(
    dead_code,
    reason = "each test file uses its own part of the shared helpers"
)]

use session_lock::component::{
    Agent, HookContext, HookResponse, Invocation, Policy, ResolvedPath, lock_store, processes,
};

/// 2027-01-15, the time the tests start at: a fixed instant, so records' ages are exact.
pub const NOW: u64 = 1_800_000_000_000;
/// The lock's time to live when the environment sets none.
pub const TTL: u64 = 300_000;
/// The workspace of [`VirtualHost::standard`]; nothing exists there (the component does no
/// I/O).
pub const WORKSPACE: &str = "/home/u/repo";

/// What the virtual host knows.
#[derive(Debug, Clone)]
pub struct VirtualHost {
    /// The tops of the git work trees on the virtual filesystem.
    pub git_tops: Vec<String>,
    /// The hook process's working directory.
    pub cwd: String,
    /// The hook process's parent.
    pub parent_pid: u32,
    /// The time.
    pub now_ms: u64,
    /// The environment the component is given.
    pub environment: Vec<(String, String)>,
    /// The agent, when the host was told.
    pub agent: Option<Agent>,
    /// How long the host has already waited for the event's lock.
    pub waited_ms: u64,
    /// Paths the host cannot resolve (nor any path below them).
    pub unresolvable: Vec<String>,
}

impl VirtualHost {
    /// A host whose one git work tree is `workspace`, working in it, at [`NOW`], with no
    /// settings in its environment.
    pub fn in_workspace(workspace: &str) -> VirtualHost {
        VirtualHost {
            git_tops: vec![workspace.to_owned()],
            cwd: workspace.to_owned(),
            parent_pid: 200,
            now_ms: NOW,
            environment: Vec::new(),
            agent: None,
            waited_ms: 0,
            unresolvable: Vec::new(),
        }
    }

    /// The host most tests use: [`WORKSPACE`] at [`NOW`], the session's parent pid 7, no
    /// settings (so the ttl is [`TTL`]), the agent recognised from the event.
    pub fn standard() -> VirtualHost {
        let mut host = VirtualHost::in_workspace(WORKSPACE);
        host.parent_pid = 7;
        host
    }

    /// The same host with the variable `name` set to `value`.
    pub fn with_env(mut self, name: &str, value: &str) -> VirtualHost {
        self.environment.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A path as the virtual filesystem resolves it: with no symlinks, `.` and `..` apply
    /// lexically, as the kernel would apply them.
    pub fn resolve(&self, path: &str) -> ResolvedPath {
        let real_path = normalized(path);
        let git_top = self
            .git_tops
            .iter()
            .filter(|top| {
                real_path == **top
                    || real_path
                        .strip_prefix(top.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|top| top.len())
            .cloned();
        ResolvedPath {
            real_path,
            git_top,
            checkout_id: None,
        }
    }

    /// A path as the virtual filesystem resolves it, or `None` when it lies in one of
    /// [`VirtualHost::unresolvable`].
    pub fn try_resolve(&self, path: &str) -> Option<ResolvedPath> {
        let resolved = self.resolve(path);
        let blocked = self.unresolvable.iter().any(|dir| {
            resolved.real_path == *dir
                || resolved
                    .real_path
                    .strip_prefix(dir.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        (!blocked).then_some(resolved)
    }

    /// The invocation a real host would pass.
    pub fn invocation(&self) -> Invocation {
        Invocation {
            agent: self.agent,
            environment: self.environment.clone(),
            process_cwd: self.cwd.clone(),
            parent_pid: self.parent_pid,
        }
    }

    /// Runs `event` through the component as a host does.
    pub fn handle<S, P>(&self, policy: &mut Policy<S, P>, event: &[u8]) -> HookResponse
    where
        S: lock_store::Host + Send + 'static,
        P: processes::Host + Send + 'static,
    {
        self.try_handle(policy, event)
            .expect("the component answers")
    }

    /// Runs `event` through the component as a host does; `Err` when the component traps.
    pub fn try_handle<S, P>(
        &self,
        policy: &mut Policy<S, P>,
        event: &[u8],
    ) -> wasmtime::Result<HookResponse>
    where
        S: lock_store::Host + Send + 'static,
        P: processes::Host + Send + 'static,
    {
        let invocation = self.invocation();
        let targets = policy.targets(event, &invocation)?;
        let context = HookContext {
            resolved: targets.iter().map(|t| self.try_resolve(t)).collect(),
            invocation,
            now_ms: self.now_ms,
            waited_ms: self.waited_ms,
        };
        policy.handle(event, &context)
    }
}

/// An absolute path with `.`, `..`, repeated and trailing slashes applied lexically.
fn normalized(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    format!("/{}", parts.join("/"))
}
