//! The words people read: the refusal a blocked session gets, a lock's summary, and the
//! pieces both are made of. The one wording of each, for every host.

use crate::record::LockRecord;
use crate::visible::visible;

/// The reason a session is refused: the holder, how long it has held the lock and when it
/// frees, what still works meanwhile, and what the model can do itself to go on now
/// (`way_out`, in its agent's terms: [`WayOut::says`]). A forced release is the person's to
/// decide, so the model is told to ask for it, never shown how.
pub fn block_reason(holder: &LockRecord, now: u64, way_out: &str) -> String {
    format!(
        "parallel session lock held by {} — wait or close that session first (held for {}; it \
         frees when that session's turn ends, at the latest in {}). Read-only commands (git \
         status, git diff, git log, ls, cat, grep) and reading tools still work. To go on now: \
         {way_out}. If that session is gone, ask the person to release it by force.",
        short_holder_name(holder),
        duration(holder.held_for_ms(now)),
        duration(holder.expires_in_ms(now).max(0) as u64),
    )
}

/// How a refused session's agent can keep working now without the lock it was refused: in a
/// git worktree of its own, which has its own lock (its `.git` is a file with a `gitdir:`
/// line, so it is a work tree of its own even inside the main checkout's folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WayOut {
    /// The agent has a tool that moves the session into a new worktree (Claude Code's
    /// `EnterWorktree`).
    EnterWorktreeTool,
    /// The model runs `git worktree add` itself and works in the new worktree: beside the
    /// workspace (`None`), or in the agent's own folder for worktrees inside it (`Some`, as
    /// Gemini CLI's `.gemini/worktrees`, whose file tools write only inside the workspace).
    GitWorktreeAdd(Option<&'static str>),
    /// Nothing more specific is known (no agent, no workspace): a worktree, in general terms.
    AnyWorktree,
}

impl WayOut {
    /// The words for the model, for the session `session_id` refused on `workspace`: what to
    /// do, in its agent's terms. For `git worktree add`, a path and a branch, both named by the
    /// session id (its last characters that are safe in a path and a branch name), so the
    /// command is ready to run and two sessions get two worktrees: beside the workspace on
    /// `session-lock/<tag>`, or in the agent's own folder inside it on `worktree-<tag>`, as the
    /// agent names its own.
    pub fn says(self, session_id: &str, workspace: &str) -> String {
        match self {
            WayOut::EnterWorktreeTool => "call the EnterWorktree tool, which moves this session \
                into its own git worktree with its own lock, and work there"
                .into(),
            WayOut::GitWorktreeAdd(folder) => {
                let tag = worktree_tag(session_id);
                let workspace = workspace.trim_end_matches('/');
                let (path, branch) = match folder {
                    None => (format!("{workspace}-{tag}"), format!("session-lock/{tag}")),
                    Some(folder) => (
                        format!("{workspace}/{folder}/{tag}"),
                        format!("worktree-{tag}"),
                    ),
                };
                format!(
                    "run `git worktree add {} -b {branch}` and work in that new worktree, which \
                     has its own lock",
                    shell_word(&visible(&path))
                )
            }
            WayOut::AnyWorktree => "work in a separate git worktree, which has its own lock".into(),
        }
    }
}

/// The last 8 characters of `session_id` that are safe in a path and a branch name (ASCII
/// letters, digits, `-` and `_`); `session` when it has none. The last, not the first: an id
/// made from the time (Codex's are UUIDv7) starts with the same characters in every session
/// begun in the same minute, so two refused sessions would be offered one worktree; the end
/// of a UUID is random in every version.
fn worktree_tag(session_id: &str) -> String {
    // From the end, so that a huge id costs no copy of itself.
    let mut tag: Vec<char> = session_id
        .chars()
        .rev()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(8)
        .collect();
    tag.reverse();
    let tag: String = tag.into_iter().collect();
    let tag = tag.trim_matches('-').to_owned();
    if tag.is_empty() {
        "session".into()
    } else {
        tag
    }
}

/// `text` as one POSIX shell word: as it is when it holds only characters no shell acts on,
/// else in single quotes (a `'` inside written `'\''`).
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The reason a session is refused when its lock store was busy: another session is taking or
/// changing the lock at this very moment, so the call can neither be let through nor pinned
/// on a holder. The model can act on it by retrying. (The store's own words, which name host
/// paths, go to stderr.)
pub const BUSY_REASON: &str = "parallel session lock is being taken or changed by another \
    session right now — nothing was changed; retry this call in a moment.";

/// The refusal of a call that may change any workspace (`why`, e.g. "`cd $X` goes to a
/// directory not shown"), so needed every lock, one of which another session holds (`reason`).
pub fn anywhere_reason(why: &str, reason: &str) -> String {
    format!(
        "this command may change any workspace ({}), so it needs every lock; write the \
         directories it works in literally to need only theirs. {reason}",
        printable(why)
    )
}

/// What the model is told when its session starts, or the person prompts, while another
/// session holds the workspace: who, since when, when it frees at the latest, what still
/// works, and how to go on (`way_out`, in its agent's terms, as a refusal words it:
/// [`WayOut::says`]).
pub fn held_context(holder: &LockRecord, now: u64, way_out: &str) -> String {
    format!(
        "session-lock: this workspace is locked by another session, {} — it took the lock {} \
         ago and frees it when its turn ends, at the latest in {}. Until then any edit or \
         mutating shell command here is refused; reading works (Read, Grep, Glob, and \
         read-only commands such as git status, git diff, git log, ls, cat, grep). To change \
         files now, {way_out}; otherwise plan read-only work, or tell the person the \
         workspace is taken.",
        holder_name(holder),
        duration(holder.held_for_ms(now)),
        duration(holder.expires_in_ms(now).max(0) as u64),
    )
}

/// The person's line for the same: `session-lock: workspace held by session-A (pid 4101),
/// frees in 3m 55s at the latest`.
pub fn held_notice(holder: &LockRecord, now: u64) -> String {
    format!(
        "session-lock: workspace held by {}, frees in {} at the latest; edits here are \
         refused until then",
        holder_name(holder),
        duration(holder.expires_in_ms(now).max(0) as u64),
    )
}

/// A lock for people: `session-A (pid 4101), held for 2m 05s, expires in 2m 55s`.
pub fn summary(holder: &LockRecord, now: u64) -> String {
    let held = duration(holder.held_for_ms(now));
    let left = holder.expires_in_ms(now);
    let timing = if holder.is_stale(now) {
        format!("stale for {}", duration(left.unsigned_abs()))
    } else {
        format!("expires in {}", duration(left.max(0) as u64))
    };
    format!("{}, held for {held}, {timing}", holder_name(holder))
}

/// `session-A (pid 4101)`.
fn holder_name(holder: &LockRecord) -> String {
    format!("{} (pid {})", printable(&holder.session_id), holder.pid)
}

/// `…6a4c3b21 (pid 4101)`: the holder as the blocked session's model reads it. An id longer
/// than 12 characters (every agent's ids are UUIDs) is cut to its last 8: enough to tell
/// holders apart, too few to speak for the holder (its events carry the whole id). The last,
/// not the first: Codex's ids are UUIDv7, whose first 8 characters are the time of day to
/// about a minute, the same for sessions begun together; a UUID's last 8 are random.
fn short_holder_name(holder: &LockRecord) -> String {
    const LONGEST_WHOLE: usize = 12;
    const SHOWN_CHARS: usize = 8;
    let id = &holder.session_id;
    let id = match id.chars().nth(LONGEST_WHOLE) {
        Some(_) => {
            let kept = id.chars().count() - SHOWN_CHARS;
            format!("…{}", id.chars().skip(kept).collect::<String>())
        }
        None => id.clone(),
    };
    format!("{} (pid {})", printable(&id), holder.pid)
}

/// A session id as shown to people: long ids cut, and what a terminal would act on written out
/// ([`visible`]), so a hostile record cannot break the one-line answer or flood the agent.
pub fn printable(session_id: &str) -> String {
    const MAX_CHARS: usize = 128;
    visible(&cut(session_id, MAX_CHARS))
}

/// At most `max` characters of `text`, with `…` where it was cut: a text from a record, an
/// event or the environment has no length of its own that a one-line answer could bear.
pub fn cut(text: &str, max: usize) -> String {
    let mut kept: String = text.chars().take(max).collect();
    if text.chars().nth(max).is_some() {
        kept.push('…');
    }
    kept
}

/// A line for stderr or a warning: what a terminal would act on (a newline in an OS message)
/// written out ([`visible`]), so it stays one line.
pub fn one_line(text: &str) -> String {
    visible(text)
}

/// A duration for people: `45s`, `4m 05s`, `2h 03m`.
pub fn duration(ms: u64) -> String {
    let seconds = ms / 1000;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3600, seconds / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(999), "0s");
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(245_000), "4m 05s");
        assert_eq!(duration(7_380_000), "2h 03m");
    }

    #[test]
    fn printable_ids_are_one_short_line() {
        assert_eq!(printable("a\nb\u{202e}"), r"a\nb\u{202e}");
        let long = "x".repeat(500);
        assert_eq!(printable(&long).chars().count(), 129);
    }

    #[test]
    fn a_held_workspace_is_told_who_until_when_and_how_to_go_on() {
        let holder = LockRecord::new("A", 4101, 1_000, 300_000, None);
        let context = held_context(&holder, 66_000, &any_worktree());
        assert!(context.contains("A (pid 4101)"), "{context}");
        assert!(context.contains("1m 05s ago"), "{context}");
        assert!(context.contains("at the latest in 3m 55s"), "{context}");
        assert!(context.contains("git worktree"), "{context}");
        // The way on in the agent's terms, the words its refusal uses.
        let claude = WayOut::EnterWorktreeTool.says("B", "/r");
        let context = held_context(&holder, 66_000, &claude);
        assert!(
            context.contains("To change files now, call the EnterWorktree tool"),
            "{context}"
        );
        let codex = WayOut::GitWorktreeAdd(None).says("B", "/r");
        let context = held_context(&holder, 66_000, &codex);
        assert!(
            context.contains("To change files now, run `git worktree add /r-B -b session-lock/B`"),
            "{context}"
        );
        assert!(block_reason(&holder, 66_000, &codex).contains(&codex));
        let notice = held_notice(&holder, 66_000);
        assert!(notice.contains("frees in 3m 55s at the latest"), "{notice}");
    }

    /// The way out, in generic words, as `policy.decide` gives it.
    fn any_worktree() -> String {
        WayOut::AnyWorktree.says("B", "/w")
    }

    #[test]
    fn a_refusal_says_what_still_works_and_what_to_do() {
        let holder = LockRecord::new("A", 4101, 1_000, 300_000, None);
        let reason = block_reason(&holder, 66_000, &any_worktree());
        assert!(reason.starts_with(
            "parallel session lock held by A (pid 4101) — wait or close that session first"
        ));
        assert!(reason.contains("held for 1m 05s"));
        assert!(reason.contains("frees when that session's turn ends, at the latest in 3m 55s"));
        assert!(reason.contains("read-only") || reason.contains("Read-only"));
        assert!(reason.contains("ask the person to release it by force"));
        assert!(!reason.contains("--force"));
        assert!(reason.contains("worktree"));
    }

    #[test]
    fn a_refusal_shows_only_a_short_holder_id() {
        let holder = LockRecord::new(
            "3f9c2b1e-7a0d-4c1e-9b2f-5d8e6a4c3b21",
            41873,
            0,
            300_000,
            None,
        );
        let reason = block_reason(&holder, 1_000, &any_worktree());
        assert!(
            reason.starts_with("parallel session lock held by …6a4c3b21 (pid 41873)"),
            "{reason}"
        );
        assert!(!reason.contains("3f9c2b1e") && !reason.contains("7a0d"));
        // An id of a dozen characters or fewer is no secret to keep: it is shown whole.
        let short = LockRecord::new("session-A", 1, 0, 300_000, None);
        assert!(block_reason(&short, 0, &any_worktree()).contains("held by session-A (pid 1)"));
        // Two Codex sessions begun the same minute (UUIDv7: the time first) are told apart.
        let first = LockRecord::new("019ad2f1-7c3e-7a10-8b2c-1f0e9d8c7b6a", 1, 0, 300_000, None);
        let second = LockRecord::new("019ad2f1-7c40-7f22-9c3d-2a1b0c9d8e7f", 1, 0, 300_000, None);
        assert_ne!(short_holder_name(&first), short_holder_name(&second));
        // People (`session-lock status`) still see the whole id.
        assert!(summary(&holder, 1_000).contains("3f9c2b1e-7a0d-4c1e-9b2f-5d8e6a4c3b21"));
    }

    #[test]
    fn the_way_out_is_in_the_agents_terms() {
        let holder = LockRecord::new("A", 4101, 1_000, 300_000, None);
        let claude = WayOut::EnterWorktreeTool.says("B", "/home/u/repo");
        let reason = block_reason(&holder, 66_000, &claude);
        assert!(
            reason.contains("To go on now: call the EnterWorktree tool"),
            "{reason}"
        );
        assert!(
            reason.ends_with("If that session is gone, ask the person to release it by force.")
        );
        let id = "3f9c2b1e-7a0d-4c1e-9b2f-5d8e6a4c3b21";
        assert_eq!(
            WayOut::GitWorktreeAdd(None).says(id, "/home/u/repo"),
            "run `git worktree add /home/u/repo-6a4c3b21 -b session-lock/6a4c3b21` and work in \
             that new worktree, which has its own lock"
        );
        // Two Codex sessions begun the same minute (UUIDv7: the time first) get two worktrees.
        let first = WayOut::GitWorktreeAdd(None).says("019ae0b1-7c2e-7d4f-8a9b-0c1d2e3f4a5b", "/r");
        let second =
            WayOut::GitWorktreeAdd(None).says("019ae0b1-9f00-7e21-b3c4-d5e6f7a8b9c0", "/r");
        assert_ne!(first, second);
    }

    #[test]
    fn a_worktree_in_the_agents_own_folder_is_inside_the_workspace_on_its_branch_form() {
        let id = "3f9c2b1e-7a0d-4c1e-9b2f-5d8e6a4c3b21";
        assert_eq!(
            WayOut::GitWorktreeAdd(Some(".gemini/worktrees")).says(id, "/home/u/repo/"),
            "run `git worktree add /home/u/repo/.gemini/worktrees/6a4c3b21 -b \
             worktree-6a4c3b21` and work in that new worktree, which has its own lock"
        );
    }

    #[test]
    fn a_git_worktree_command_is_one_safe_shell_word_per_part() {
        let says = WayOut::GitWorktreeAdd(None).says("$(rm -rf ~)/x'y", "/home/u/my repo/");
        assert!(
            says.starts_with(
                "run `git worktree add '/home/u/my repo-rm-rfxy' -b session-lock/rm-rfxy`"
            ),
            "{says}"
        );
        let says = WayOut::GitWorktreeAdd(None).says("\u{202e}", "/it's\n");
        assert!(
            says.starts_with(
                r"run `git worktree add '/it'\''s\n-session' -b session-lock/session`"
            ),
            "{says}"
        );
    }
}
