//! The real binary on a hostile filesystem: every odd thing that can sit at the lock's paths,
//! a lock directory it may not write, a full disk, a swap mutex held forever, an event that
//! never ends; and the sandbox: what the component may import, the modes of what the host
//! creates, and session ids that look like paths. Each case has one defined outcome: the lock
//! works, or the hook fails open (exit 0, nothing on stdout) with one `session-lock:` line.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use arena::{Arena, now_ms};
use events::{Answer, answer, stderr_text};

const BINARY: &str = env!("CARGO_BIN_EXE_session-lock");

/// How long any one hook may take here before the test calls it hung.
const HUNG: Duration = Duration::from_secs(5);

fn arena() -> Arena {
    Arena::new(BINARY, &["hook"])
}

fn run(arena: &Arena, command: &mut Command, event: &[u8]) -> (Output, Duration) {
    arena.run_within(command, event, HUNG)
}

/// The hook allowed without the lock and said why in one line containing `why` (and, when the
/// component answered a guarded call, in a warning for the person too).
fn assert_fails_open(output: &Output, why: &str) {
    match answer(output) {
        Answer::FailedOpen(shown) => {
            assert!(
                shown.contains(why),
                "expected {why:?} in the warning {shown:?}"
            )
        }
        other => assert_eq!(other, Answer::Allow, "{}", stderr_text(output)),
    }
    let err = stderr_text(output);
    assert!(err.starts_with("session-lock: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(why), "expected {why:?} in {err}");
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

mod odd_things_at_the_lock_path {
    use super::*;

    #[test]
    fn a_symlink_is_not_followed_and_its_target_is_untouched() {
        let arena = arena();
        fs::create_dir_all(&arena.lock_dir).unwrap();
        let victim = arena.root().join("victim");
        fs::write(&victim, "precious").unwrap();
        symlink(&victim, arena.record_path()).unwrap();
        let dangling = arena.root().join("never-created");
        for event in [
            arena.pre_tool_use("A"),
            arena.claude_event("PostToolUse", "A", Some("Write")),
            arena.claude_event("Stop", "A", None),
        ] {
            let (output, _) = run(&arena, &mut arena.command(), &event);
            assert_fails_open(&output, "is a symlink; not followed");
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_link(arena.record_path()).unwrap(), victim);

        fs::remove_file(arena.record_path()).unwrap();
        symlink(&dangling, arena.record_path()).unwrap();
        let (output, _) = run(&arena, &mut arena.command(), &arena.pre_tool_use("A"));
        assert_fails_open(&output, "is a symlink; not followed");
        assert!(
            !dangling.exists(),
            "a dangling symlink's target is not created"
        );
    }

    #[test]
    fn a_directory_fails_open_and_stays() {
        let arena = arena();
        fs::create_dir_all(arena.record_path().join("inside")).unwrap();
        let (output, _) = run(&arena, &mut arena.command(), &arena.pre_tool_use("A"));
        assert_fails_open(&output, "is not a regular file");
        assert!(arena.record_path().join("inside").is_dir());
    }

    #[test]
    fn a_fifo_fails_open_at_once_without_waiting_for_a_writer() {
        let arena = arena();
        fs::create_dir_all(&arena.lock_dir).unwrap();
        mkfifo(&arena.record_path());
        let (output, _) = run(&arena, &mut arena.command(), &arena.pre_tool_use("A"));
        // Had the read waited for a writer, the 1 s deadline would have answered instead.
        assert_fails_open(&output, "is not a regular file");
        assert!(is_fifo(&arena.record_path()));
    }

    /// Junk at the temporary path heals: the next writer removes it and writes afresh. (Every
    /// kind of junk, against the store alone, is in `tests/store-conformance/temp-path.json`.)
    #[test]
    fn a_symlink_at_the_temporary_path_is_removed_and_its_target_untouched() {
        let arena = arena();
        fs::create_dir_all(&arena.lock_dir).unwrap();
        let victim = arena.root().join("victim");
        fs::write(&victim, "precious").unwrap();
        symlink(&victim, arena.temp_path()).unwrap();
        let (output, _) = run(&arena, &mut arena.command(), &arena.pre_tool_use("A"));
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
        assert!(output.stderr.is_empty(), "{}", stderr_text(&output));
        assert_eq!(arena.holder().as_deref(), Some("A"), "the lock was taken");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(mode(&arena.record_path()), 0o600);
        assert!(
            fs::symlink_metadata(arena.temp_path()).is_err(),
            "the link is gone"
        );
    }

    #[test]
    fn a_fifo_at_the_temporary_path_is_removed_without_waiting_for_a_reader() {
        let arena = arena();
        fs::create_dir_all(&arena.lock_dir).unwrap();
        mkfifo(&arena.temp_path());
        let (output, _) = run(&arena, &mut arena.command(), &arena.pre_tool_use("A"));
        // Had the write waited for a reader, the 1 s deadline would have answered instead.
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
        assert!(output.stderr.is_empty(), "{}", stderr_text(&output));
        assert_eq!(arena.holder().as_deref(), Some("A"), "the lock was taken");
        assert!(
            fs::symlink_metadata(arena.temp_path()).is_err(),
            "the FIFO is gone"
        );
    }

    fn mkfifo(path: &Path) {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    }

    fn is_fifo(path: &Path) -> bool {
        use std::os::unix::fs::FileTypeExt;
        fs::symlink_metadata(path).unwrap().file_type().is_fifo()
    }
}

/// Permission checks do not apply to root, and these tests run as root in CI. So where a case
/// needs them, root runs the hook as `nobody` (uid and gid 65534) on a copy of the binary in
/// the arena, which it hands over to `nobody`; anyone else runs it as themselves.
mod permissions {
    use super::*;

    pub(super) fn is_root() -> bool {
        // SAFETY: geteuid cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    const NOBODY: u32 = 65534;

    /// The hook command as a user to whom permissions apply.
    fn unprivileged(arena: &Arena) -> Command {
        if !is_root() {
            return arena.command();
        }
        let copy = arena.root().join("session-lock");
        if !copy.exists() {
            fs::copy(BINARY, &copy).unwrap();
            fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::create_dir_all(&arena.lock_dir).unwrap();
        for entry in walk(arena.root()) {
            std::os::unix::fs::lchown(&entry, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        fs::set_permissions(arena.root(), fs::Permissions::from_mode(0o755)).unwrap();
        let mut command = arena.command_of(&copy);
        command.uid(NOBODY).gid(NOBODY);
        command
    }

    #[test]
    fn an_unreadable_lock_file_fails_open_and_root_reads_it_anyway() {
        let arena = arena();
        arena.write_record("B", now_ms(), 300_000);
        let mut command = unprivileged(&arena);
        fs::set_permissions(arena.record_path(), fs::Permissions::from_mode(0o000)).unwrap();
        let (output, _) = run(&arena, &mut command, &arena.pre_tool_use("A"));
        assert_fails_open(&output, "Permission denied");
        if is_root() {
            // Root uses only a lock directory of its own: given back to root, root reads it.
            for entry in walk(arena.root()) {
                std::os::unix::fs::lchown(&entry, Some(0), Some(0)).unwrap();
            }
            let (output, _) = run(&arena, &mut arena.command(), &arena.pre_tool_use("A"));
            assert_eq!(answer(&output), Answer::Deny("B".into()), "root reads it");
        }
        assert_eq!(arena.holder().as_deref(), Some("B"));
    }

    #[test]
    fn a_read_only_lock_directory_still_blocks_but_cannot_be_taken() {
        let arena = arena();
        let mut command = unprivileged(&arena);
        fs::set_permissions(&arena.lock_dir, fs::Permissions::from_mode(0o500)).unwrap();
        let (output, _) = run(&arena, &mut command, &arena.pre_tool_use("A"));
        assert_fails_open(&output, "Permission denied");
        assert_eq!(arena.record_bytes(), None);

        fs::set_permissions(&arena.lock_dir, fs::Permissions::from_mode(0o700)).unwrap();
        arena.write_record("B", now_ms(), 300_000);
        let mut command = unprivileged(&arena);
        fs::set_permissions(&arena.lock_dir, fs::Permissions::from_mode(0o500)).unwrap();
        let (output, _) = run(&arena, &mut command, &arena.pre_tool_use("A"));
        assert_eq!(
            answer(&output),
            Answer::Deny("B".into()),
            "reading is enough to refuse: {}",
            stderr_text(&output)
        );
    }
}

mod the_lock_directory {
    use super::*;

    #[test]
    fn a_missing_directory_is_created_private_with_its_parents() {
        let arena = arena();
        let deep = arena.root().join("a/b/c");
        let mut command = arena.command();
        command.env("SESSION_LOCK_DIR", &deep);
        let (output, _) = run(&arena, &mut command, &arena.pre_tool_use("A"));
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
        assert!(output.stderr.is_empty(), "{}", stderr_text(&output));
        assert!(
            deep.join(format!("session-lock-{}.json", arena.key))
                .is_file()
        );
        for dir in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&arena.root().join(dir)), 0o700, "{dir}");
        }
    }

    #[test]
    fn records_are_0600_and_the_directory_0700_whatever_the_umask() {
        let arena = arena();
        let with_umask_0 = || {
            let mut command = arena.command();
            // SAFETY: umask is async-signal-safe.
            unsafe {
                command.pre_exec(|| {
                    libc::umask(0);
                    Ok(())
                })
            };
            command
        };
        for event in [
            arena.pre_tool_use("A"),
            arena.claude_event("PostToolUse", "A", Some("Write")),
        ] {
            let (output, _) = run(&arena, &mut with_umask_0(), &event);
            assert!(output.stderr.is_empty(), "{}", stderr_text(&output));
        }
        // A temporary file such as a writer killed mid-write leaves, removed by the next, which
        // writes its own afresh.
        fs::write(arena.temp_path(), "half").unwrap();
        fs::set_permissions(arena.temp_path(), fs::Permissions::from_mode(0o644)).unwrap();
        // A's re-acquire moments after its last write writes nothing (the refresh is not due),
        // so the next writer is B, after A's Stop.
        for event in [
            arena.claude_event("Stop", "A", None),
            arena.pre_tool_use("B"),
        ] {
            let (output, _) = run(&arena, &mut with_umask_0(), &event);
            assert!(output.stderr.is_empty(), "{}", stderr_text(&output));
        }
        assert_eq!(mode(&arena.lock_dir), 0o700);
        let names = arena.lock_dir_names();
        // The record, its mutex and the decision log.
        assert_eq!(names.len(), 3, "{names:?}");
        for name in names {
            assert_eq!(mode(&arena.lock_dir.join(&name)), 0o600, "{name}");
        }
    }
}

/// A full disk: a tmpfs of one page (4 KiB) mounted over the lock directory, in a mount
/// namespace of this test's thread alone (the hooks it starts inherit it; nothing else on the
/// machine sees it). Needs `CAP_SYS_ADMIN`, which CI's root has.
struct TinyDisk {
    dir: std::ffi::CString,
}

impl TinyDisk {
    fn mount(dir: &Path) -> io::Result<TinyDisk> {
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let dir = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        let check = |rc: i32| {
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // SAFETY: valid NUL-terminated strings; unshare affects this thread only.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            // Mounts made here must not propagate back to the machine's namespace.
            check(libc::mount(
                std::ptr::null(),
                c("/").as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                c("tmpfs").as_ptr(),
                dir.as_ptr(),
                c("tmpfs").as_ptr(),
                0,
                c("size=4k,mode=0700").as_ptr().cast(),
            ))?;
        }
        Ok(TinyDisk { dir })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(self.dir.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn a_full_disk_fails_open_keeps_the_record_whole_and_still_blocks_and_releases() {
    let arena = arena();
    fs::create_dir_all(&arena.lock_dir).unwrap();
    let disk = match TinyDisk::mount(&arena.lock_dir) {
        Ok(disk) => disk,
        // SAFETY: geteuid cannot fail.
        Err(e) if unsafe { libc::geteuid() } != 0 => {
            println!("full disk not simulated: no rights to mount a tmpfs ({e})");
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
            return;
        }
        Err(e) => panic!("cannot mount a tmpfs as root: {e}"),
    };
    // A ttl of 2 s: a refresh is written once a tenth of it (200 ms) has passed since the last
    // write, and the lock stays fresh through the test.
    let hook = |event: &[u8]| {
        let mut command = arena.command();
        command.env("SESSION_LOCK_TTL_MS", "2000");
        run(&arena, &mut command, event).0
    };
    let refresh = arena.claude_event("PostToolUse", "A", Some("Write"));

    // The record takes the disk's one page.
    assert_eq!(answer(&hook(&arena.pre_tool_use("A"))), Answer::Allow);
    let record = arena.record_bytes().expect("A holds the lock");
    std::thread::sleep(Duration::from_millis(250));

    // Now no temporary file can be written: the refresh fails open, the record stays whole.
    assert_fails_open(&hook(&refresh), "No space left on device");
    assert_eq!(arena.record_bytes(), Some(record));
    assert_eq!(mode(&arena.temp_path()), 0o600);
    // Refusing needs no write, nor does releasing.
    assert_eq!(
        answer(&hook(&arena.pre_tool_use("B"))),
        Answer::Deny("A".into())
    );
    let stop = hook(&arena.claude_event("Stop", "A", None));
    assert!(stop.stderr.is_empty(), "{}", stderr_text(&stop));
    assert_eq!(arena.record_bytes(), None);
    // The released page lets the next session in, over the empty temporary file. The decision
    // log shares the disk and took that page when it logged the release (a known cost, in
    // docs/reliability.md): it is removed, as a person freeing the disk would.
    let _ = std::fs::remove_file(arena.lock_dir.join("session-lock-decisions.jsonl"));
    let b = hook(&arena.pre_tool_use("B"));
    assert!(b.stderr.is_empty(), "{}", stderr_text(&b));
    assert_eq!(arena.holder().as_deref(), Some("B"));
    drop(disk);
}

mod deadline {
    use super::*;

    /// Holds the exclusive `flock` on the swap mutex, as a writer stuck forever would.
    fn hold_the_mutex(arena: &Arena) -> fs::File {
        fs::create_dir_all(&arena.lock_dir).unwrap();
        let mutex = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(arena.mutex_path())
            .unwrap();
        mutex.lock().unwrap();
        mutex
    }

    #[test]
    fn a_swap_mutex_held_forever_is_refused_as_contention_well_within_the_deadline() {
        let arena = arena();
        let _held = hold_the_mutex(&arena);
        let (output, took) = run(&arena, &mut arena.command(), &arena.pre_tool_use("A"));
        // Contention, not a fault: letting the call through could let two sessions in.
        assert_eq!(answer(&output), Answer::Busy, "{}", stderr_text(&output));
        let err = stderr_text(&output);
        assert!(err.contains("stayed locked for 500ms"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        assert_eq!(arena.record_bytes(), None);
        println!("mutex held forever: answered in {took:?}");

        // Refusing needs no swap: another's fresh lock is still enforced.
        arena.write_record("B", now_ms(), 300_000);
        let (output, took) = run(&arena, &mut arena.command(), &arena.pre_tool_use("A"));
        assert_eq!(answer(&output), Answer::Deny("B".into()));
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }

    #[test]
    fn an_event_that_never_ends_is_answered_by_the_deadline() {
        let arena = arena();
        let started = Instant::now();
        let mut child = arena.spawn(&[]);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"{\"session_id\":\"A\",").unwrap();
        // stdin stays open: the event never ends.
        let output = arena::wait_within(child, HUNG);
        let took = started.elapsed();
        drop(stdin);
        assert_fails_open(&output, "no answer within 1s");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        println!("endless event: answered in {took:?}");
    }
}

mod sandbox {
    use super::*;
    use session_lock::component::runtime;
    use wasmtime::component::types::ComponentItem;

    #[test]
    fn the_components_only_imports_are_the_lock_store_and_process_facts() {
        let (engine, component) = runtime().unwrap();
        let mut imports = Vec::new();
        for (name, item) in component.component_type().imports(engine) {
            let ComponentItem::ComponentInstance(instance) = item.ty else {
                panic!("{name} is not an interface");
            };
            for (export, item) in instance.exports(engine) {
                if let ComponentItem::ComponentFunc(_) = item.ty {
                    imports.push(format!("{name}#{export}"));
                }
            }
        }
        assert_eq!(
            imports,
            [
                "session-lock:policy/lock-store@0.3.0#read",
                "session-lock:policy/lock-store@0.3.0#compare-and-swap",
                "session-lock:policy/lock-store@0.3.0#keys",
                "session-lock:policy/processes@0.3.0#status",
                "session-lock:policy/processes@0.3.0#is-ancestor",
                "session-lock:policy/decision-log@0.3.0#append",
            ]
        );
    }

    #[test]
    fn session_ids_that_look_like_paths_reach_no_path() {
        let arena = arena();
        let cwd = arena.root().join("a/b/c");
        fs::create_dir_all(&cwd).unwrap();
        let before = walk(arena.root());
        let absolute = arena.root().join("planted-absolute");
        let ids = [
            "../planted".to_owned(),
            "../../planted".to_owned(),
            "../../../../../../../../tmp/planted".to_owned(),
            absolute.to_str().unwrap().to_owned(),
            "sub/dir/planted".to_owned(),
            "..".to_owned(),
            ".".to_owned(),
            "nul\u{0}byte".to_owned(),
            "~/planted".to_owned(),
            format!("session-lock-{}.json", arena.key),
        ];
        // Each hook runs in a directory of its own under the arena, so that an id taken as a
        // path relative to the working directory would land where the walk below finds it.
        let in_cwd = || {
            let mut command = arena.command();
            command.current_dir(&cwd);
            command
        };
        for id in &ids {
            let (output, _) = run(&arena, &mut in_cwd(), &arena.pre_tool_use(id));
            assert_eq!(
                answer(&output),
                Answer::Allow,
                "{id:?}: {}",
                stderr_text(&output)
            );
            assert_eq!(arena.holder().as_ref(), Some(id), "the id is kept verbatim");
            let stop = arena.claude_event("Stop", id, None);
            let (output, _) = run(&arena, &mut in_cwd(), &stop);
            assert!(output.stderr.is_empty(), "{id:?}: {}", stderr_text(&output));
            assert_eq!(arena.holder(), None, "{id:?} released");
        }
        let mut created: Vec<PathBuf> = walk(arena.root())
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        created.sort();
        assert_eq!(
            created,
            {
                let mut expected = vec![
                    arena.lock_dir.clone(),
                    arena.lock_dir.join("session-lock-decisions.jsonl"),
                    arena.mutex_path(),
                ];
                expected.sort();
                expected
            },
            "only the lock directory, the decision log and the hashed mutex are new"
        );
        assert!(!Path::new("/tmp/planted").exists());
    }
}

/// Every path under `root` (not following symlinks), `root` itself included.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut paths = vec![root.to_path_buf()];
    let mut next = 0;
    while next < paths.len() {
        let path = paths[next].clone();
        next += 1;
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                paths.push(entry.unwrap().path());
            }
        }
    }
    paths
}

/// The lock directory must be the user's own: anything else is refused visibly (the agent's
/// warning and stderr, naming `session-lock doctor`), the call let through, and nothing
/// written there.
mod the_lock_directory_is_the_users_own {
    use super::permissions::is_root;
    use super::*;
    use std::os::unix::fs::chown;

    /// Another user's uid.
    const SOMEONE: u32 = 1234;

    /// The hook with `SESSION_LOCK_DIR=dir`, on a PreToolUse of A.
    fn hook_with(arena: &Arena, dir: &Path) -> Output {
        let mut command = arena.command();
        command.env("SESSION_LOCK_DIR", dir);
        run(arena, &mut command, &arena.pre_tool_use("A")).0
    }

    /// The call was let through with a warning the person sees, naming `why` and doctor.
    fn assert_refused(output: &Output, why: &str) {
        match answer(output) {
            Answer::FailedOpen(shown) => {
                assert!(shown.contains(why), "{why:?} not in {shown:?}");
                assert!(shown.contains("session-lock doctor"), "{shown}");
            }
            other => panic!("not a visible warning: {other:?}: {}", stderr_text(output)),
        }
        assert_fails_open(output, why);
    }

    /// A private directory at `path`, mode `mode`.
    fn dir_at(path: &Path, mode: u32) -> PathBuf {
        fs::create_dir_all(path).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
        path.to_path_buf()
    }

    fn records_in(dir: &Path) -> usize {
        fs::read_dir(dir).map_or(0, |entries| entries.count())
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        if !is_root() {
            eprintln!("skipped: needs root to give a directory away");
            return;
        }
        let arena = arena();
        let theirs = dir_at(&arena.root().join("theirs"), 0o700);
        chown(&theirs, Some(SOMEONE), Some(SOMEONE)).unwrap();
        let output = hook_with(&arena, &theirs);
        assert_refused(&output, "belongs to uid 1234");
        assert_eq!(records_in(&theirs), 0);
    }

    #[test]
    fn a_directory_its_group_or_everyone_can_write_is_refused() {
        let arena = arena();
        for mode in [0o770, 0o777, 0o1777, 0o720] {
            let open = dir_at(&arena.root().join(format!("open-{mode:o}")), mode);
            let output = hook_with(&arena, &open);
            assert_refused(&output, &format!("mode {mode:04o}"));
            assert_eq!(records_in(&open), 0, "{mode:o}");
        }
    }

    #[test]
    fn a_parent_others_can_change_is_refused_but_a_sticky_one_like_tmp_is_not() {
        let arena = arena();
        let open = dir_at(&arena.root().join("open"), 0o777);
        let locks = dir_at(&open.join("locks"), 0o700);
        let output = hook_with(&arena, &locks);
        assert_refused(&output, "above the lock directory");
        assert_eq!(records_in(&locks), 0);

        let sticky = dir_at(&arena.root().join("sticky"), 0o1777);
        let locks = dir_at(&sticky.join("locks"), 0o700);
        let output = hook_with(&arena, &locks);
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
        assert_eq!(
            records_in(&locks),
            3,
            "the record, its mutex and the decision log"
        );

        if is_root() {
            let theirs = dir_at(&arena.root().join("their-parent"), 0o755);
            let locks = dir_at(&theirs.join("locks"), 0o700);
            chown(&theirs, Some(SOMEONE), Some(SOMEONE)).unwrap();
            let output = hook_with(&arena, &locks);
            assert_refused(&output, "(uid 1234, mode 0755), above the lock directory");
            assert_eq!(records_in(&locks), 0);
        }
    }

    #[test]
    fn a_symlinked_lock_directory_is_refused_and_a_link_on_the_way_is_checked_where_it_leads() {
        let arena = arena();
        let real = dir_at(&arena.root().join("real-locks"), 0o700);
        let link = arena.root().join("link-locks");
        symlink(&real, &link).unwrap();
        let output = hook_with(&arena, &link);
        assert_refused(&output, "is a symlink");
        assert_eq!(records_in(&real), 0);

        // A link to a parent is followed, and where it leads is checked like any parent.
        let parent = dir_at(&arena.root().join("parent"), 0o700);
        let locks = dir_at(&parent.join("locks"), 0o700);
        symlink(&parent, arena.root().join("to-parent")).unwrap();
        let output = hook_with(&arena, &arena.root().join("to-parent/locks"));
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
        assert_eq!(records_in(&locks), 3);

        let open = dir_at(&arena.root().join("open-parent"), 0o777);
        let inside = dir_at(&open.join("locks"), 0o700);
        symlink(&open, arena.root().join("to-open")).unwrap();
        let output = hook_with(&arena, &arena.root().join("to-open/locks"));
        assert_refused(&output, "above the lock directory");
        assert_eq!(records_in(&inside), 0);
    }

    #[test]
    fn a_relative_lock_directory_is_refused() {
        let arena = arena();
        let mut command = arena.command();
        command
            .env("SESSION_LOCK_DIR", "locks")
            .current_dir(arena.root());
        let (output, _) = run(&arena, &mut command, &arena.pre_tool_use("A"));
        assert_refused(&output, "relative path");
        assert!(!arena.root().join("locks").exists());
    }

    #[test]
    fn a_directory_created_under_umask_000_is_0700_and_its_records_work() {
        let arena = arena();
        let deep = arena.root().join("new/locks");
        let mut command = arena.command();
        command.env("SESSION_LOCK_DIR", &deep);
        // SAFETY: umask is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0);
                Ok(())
            })
        };
        let (output, _) = run(&arena, &mut command, &arena.pre_tool_use("A"));
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
        assert_eq!(mode(&arena.root().join("new")), 0o700);
        assert_eq!(mode(&deep), 0o700);
        let output = hook_with(&arena, &deep);
        assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
    }
}
