//! The real Gemini CLI client with session-lock's hooks installed as `session-lock install
//! --agent gemini` writes them, against a scripted stand-in for the Gemini API on loopback.
//!
//! The client is the npm package pinned in `tests/gemini-cli/`, run with the `node` on
//! `PATH`. Where it is not installed each test prints `skipping: …` and passes, except under
//! `CI=true`, where it fails. Each session is `gemini -p PROMPT --approval-mode yolo` with a
//! fresh home whose settings choose the API-key login, and `GOOGLE_GEMINI_BASE_URL` naming the
//! stand-in.
//!
//! Gemini CLI runs settings hooks only in a trusted folder: the test trusts the workspace in
//! `~/.gemini/trustedFolders.json`, as the client's own trust dialog stores it. session-lock
//! itself never writes that file.
//!
//! The extension in `plugins/gemini/` is installed through the client (`gemini extensions
//! install`, answering its questions as a person does), with the binary where `install` keeps
//! it and no settings hooks at all, and locks in a trusted and in an untrusted folder. The
//! repository's root, as a clone holds it, installs as the same extension. `doctor` reports an
//! installed or linked extension as the registered hook, and one the client turned off in the
//! workspace as off, checked against what the client itself lists.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/claude_client.rs"]
mod claude_client;
#[path = "support/events.rs"]
mod events;
#[path = "support/gemini_api.rs"]
mod gemini_api;
#[path = "support/loopback_http.rs"]
mod loopback_http;
#[path = "support/real_clients.rs"]
mod real_clients;
#[path = "support/sandbox.rs"]
mod sandbox;
#[path = "support/scripted_model.rs"]
mod scripted_model;
#[path = "support/two_sessions.rs"]
mod two_sessions;

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use gemini_api::GeminiApi;
use real_clients::{Client, gemini};
use scripted_model::Call;
use serde_json::{Value, json};
use two_sessions::{Ground, HELD_BY, Sessions};

/// What Gemini CLI puts before a hook's reason in the tool's result.
const BLOCKED: &str = "Tool execution blocked: ";

#[test]
fn user_scope_a_second_session_is_refused_until_the_first_ends_its_turn() {
    let Some(client) = gemini() else { return };
    second_session_is_refused_until_the_first_ends_its_turn(client, Scope::User);
}

#[test]
fn project_scope_a_second_session_is_refused_until_the_first_ends_its_turn() {
    let Some(client) = gemini() else { return };
    second_session_is_refused_until_the_first_ends_its_turn(client, Scope::Project);
}

#[test]
fn the_extension_locks_in_a_trusted_folder() {
    let Some(client) = gemini() else { return };
    let sessions = extension_sessions(client, Folder::Trusted);
    second_session_is_refused_while_the_first_holds(&sessions);
}

/// A session starting while another holds the workspace is told before it plans: its first
/// request to the model carries the context its `SessionStart` and `BeforeAgent` hooks added
/// (Gemini CLI wraps each in `<hook_context>`), naming the holder and the worktree to add; it
/// still reads. A session starting in a free workspace is told nothing.
#[test]
fn a_session_starting_in_a_held_workspace_is_told_before_it_plans() {
    let Some(client) = gemini() else { return };
    let sessions = sessions(client, Scope::User);
    let workspace = sessions.ground.workspace();
    let holding = hold_with_a_write(&sessions);
    const TOLD: &str = "<hook_context>session-lock: this workspace is locked by another session";
    let told = sessions.ask("told", Call::Shell("git status --short".into()));
    assert!(!told.contains(HELD_BY), "git status ran: {told}");
    let requests = sessions.model.requests_holding("[session-lock-e2e:told]");
    let first = requests.first().expect("the session asked the model");
    // Once from SessionStart (before the prompt), once from BeforeAgent (after it).
    assert_eq!(first.matches(TOLD).count(), 2, "{first}");
    assert!(first.contains(&way_on_prefix(&workspace)), "{first}");
    assert!(first.contains(" -b worktree-"), "{first}");
    holding.end_turn();

    sessions.ask("free", Call::Shell("git status --short".into()));
    let requests = sessions.model.requests_holding("[session-lock-e2e:free]");
    assert!(!requests.is_empty(), "the session asked the model");
    assert!(
        requests.iter().all(|body| !body.contains("session-lock:")),
        "{requests:?}"
    );
}

/// A session refused while another holds the workspace runs the `git worktree add` its
/// refusal names, word for word, through the client's own shell tool: it is let through and
/// makes the worktree inside the workspace, in Gemini CLI's own `.gemini/worktrees/`, the only
/// place its file tools write. There `write_file` is let through, as is a shell command the
/// tool runs in the worktree (`dir_path`) or one that `cd`s there first; the same command in
/// the held workspace is still refused, and so is a write there.
#[test]
fn a_refused_session_goes_on_in_the_worktree_its_refusal_names() {
    let Some(client) = gemini() else { return };
    let sessions = sessions(client, Scope::User);
    let workspace = sessions.ground.workspace();
    let holding = hold_with_a_write(&sessions);
    let told = sessions.ask("refused", write_file(workspace.join("refused.txt")));
    holding.assert_refused(&told);
    let command = told.split('`').nth(1).expect("the refusal names a command");
    assert!(command.starts_with(&way_on_prefix(&workspace)), "{told}");

    let told = sessions.ask("worktree", Call::Shell(command.into()));
    assert!(!told.contains(HELD_BY), "the way on ran: {told}");
    let new = PathBuf::from(command.split(' ').nth(3).unwrap());
    assert!(new.join(".git").is_file(), "a worktree of its own: {told}");

    let notes = new.join("notes.txt");
    let told = sessions.ask("there", write_file(notes.clone()));
    assert!(!told.contains(HELD_BY), "the write ran: {told}");
    assert_eq!(fs::read_to_string(&notes).unwrap(), WRITTEN);

    let shell = "echo shell > shell.txt";
    let told = sessions.ask(
        "shell-there",
        Call::ShellIn {
            command: shell.into(),
            dir: new.clone(),
        },
    );
    assert!(!told.contains(HELD_BY), "the command ran: {told}");
    assert_eq!(
        fs::read_to_string(new.join("shell.txt")).unwrap(),
        "shell\n"
    );

    let cd_there = format!("cd {} && echo cd > cd.txt", new.display());
    let told = sessions.ask("cd-there", Call::Shell(cd_there));
    assert!(!told.contains(HELD_BY), "the command ran: {told}");
    assert_eq!(fs::read_to_string(new.join("cd.txt")).unwrap(), "cd\n");

    let told = sessions.ask("shell-held", Call::Shell(shell.into()));
    holding.assert_refused(&told);
    assert!(!workspace.join("shell.txt").exists(), "nothing written");
    let told = sessions.ask("held", write_file(workspace.join("held.txt")));
    holding.assert_refused(&told);
    assert!(!workspace.join("held.txt").exists(), "nothing written");
    holding.end_turn();
}

/// What [`write_file`] writes.
const WRITTEN: &str = "written\n";

/// A `write_file` of [`WRITTEN`] to `path`.
fn write_file(path: PathBuf) -> Call {
    Call::WriteFile {
        path,
        content: WRITTEN.into(),
    }
}

/// A session that holds the workspace, its turn kept open: it wrote `holder.txt`.
fn hold_with_a_write(sessions: &Sessions<GeminiApi>) -> two_sessions::Holding<'_, GeminiApi> {
    sessions.hold(
        "holder",
        write_file(sessions.ground.workspace().join("holder.txt")),
    )
}

/// How the way on a refusal names begins: a worktree inside `workspace`, in Gemini CLI's own
/// folder for them.
fn way_on_prefix(workspace: &Path) -> String {
    format!(
        "git worktree add {}/.gemini/worktrees/",
        workspace.display()
    )
}

/// Gemini CLI 0.61.0 does not run headless (`-p`) in an untrusted folder at all: it exits
/// before asking the model anything, so no tool runs there unlocked. (Interactive, it asks
/// whether to trust the folder; that session is not driven here, see docs/install.md.)
#[test]
fn in_an_untrusted_folder_the_headless_client_runs_nothing() {
    let Some(client) = gemini() else { return };
    let sessions = extension_sessions(client, Folder::Untrusted);
    let written = sessions.ground.workspace().join("untrusted.txt");
    let running = sessions.start(
        "untrusted",
        Call::WriteFile {
            path: written.clone(),
            content: "x\n".into(),
        },
        false,
    );
    let done = running.exited();
    assert!(!done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let said = done.stdout + &done.stderr;
    assert!(
        said.contains("not running in a trusted directory"),
        "the client's own words: {said}"
    );
    assert_eq!(
        sessions.model.request_lines(),
        Vec::<String>::new(),
        "no model request"
    );
    assert!(!written.exists(), "nothing written");
}

/// Whether the workspace is a trusted folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Folder {
    Trusted,
    Untrusted,
}

/// A ground with the extension installed through the client and no settings hook, the binary
/// at the stable location `install` keeps it at (where the launcher finds it), the workspace
/// trusted or not; and how to start `gemini -p` there.
fn extension_sessions(client: Client, folder: Folder) -> Sessions<GeminiApi> {
    let ground = extension_ground(&client, folder);
    headless_sessions(client, ground)
}

/// Sessions of headless `gemini -p` on `ground`, in YOLO mode, talking to the stand-in model.
fn headless_sessions(client: Client, ground: Ground) -> Sessions<GeminiApi> {
    let launch = move |ground: &Ground, prompt: &str, url: &str| {
        let mut command = client.command(&ground.home);
        command
            .args([
                "-p",
                prompt,
                "--approval-mode",
                "yolo",
                "--output-format",
                "json",
            ])
            .env("GEMINI_API_KEY", "stand-in-key")
            .env("GOOGLE_GEMINI_BASE_URL", url)
            .current_dir(&ground.sandbox.workspace);
        command
    };
    Sessions::new(ground, GeminiApi, Box::new(launch))
}

/// A ground with the extension in `plugins/gemini/` installed through the client, as
/// [`extension_sessions`] describes.
fn extension_ground(client: &Client, folder: Folder) -> Ground {
    let source = claude_client::repository().join("plugins/gemini");
    extension_ground_from(client, folder, &source)
}

/// A ground with the extension at `source` installed through the client (`gemini extensions
/// install <source>`), no settings hook, the binary at the stable location, the workspace
/// trusted or not.
fn extension_ground_from(client: &Client, folder: Folder, source: &Path) -> Ground {
    let ground = Ground::new();
    keep_binary_at_the_stable_place(&ground);
    install_extension(client, &ground, &ground.home, source);
    // Trust belongs to the person: what install's question stored is replaced by the folder
    // rule this test is about.
    match folder {
        Folder::Trusted => trust_folder(&ground.home, &ground.workspace()),
        Folder::Untrusted => {
            write_json(&gemini_dir(&ground).join("trustedFolders.json"), &json!({}))
        }
    }
    ground
}

/// Links the binary where `install` keeps it, where the launcher finds it.
fn keep_binary_at_the_stable_place(ground: &Ground) {
    let stable = ground.home.join(".local/share/session-lock/bin");
    fs::create_dir_all(&stable).unwrap();
    symlink(sandbox::BINARY, stable.join("session-lock")).unwrap();
}

/// Installs the extension at `source` through the client, answering its question as a person
/// does, with the client's folder `.gemini` in `gemini_home` (`GEMINI_CLI_HOME` when that is
/// not the home) and the person's login settings there; no settings hook is written.
fn install_extension(client: &Client, ground: &Ground, gemini_home: &Path, source: &Path) {
    let folder = gemini_home.join(".gemini");
    fs::create_dir_all(&folder).unwrap();
    write_json(&folder.join("settings.json"), &client_settings());
    let mut command = client.command(&ground.home);
    if gemini_home != ground.home {
        command.env("GEMINI_CLI_HOME", gemini_home);
    }
    command
        .args(["extensions", "install"])
        .arg(source)
        .args(["--consent", "--skip-settings"])
        .current_dir(&ground.home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the client starts");
    // The client asks whether to trust the extension's source folder: the person says yes.
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let done = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&done.stdout).into_owned() + &String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{said}");
    assert!(said.contains("installed successfully"), "{said}");
    let installed = folder.join("extensions/session-lock/hooks/hooks.json");
    assert!(installed.exists(), "{said}");
    let settings = fs::read_to_string(folder.join("settings.json")).unwrap();
    assert!(
        !settings.contains("session-lock"),
        "no settings hook: {settings}"
    );
}

/// With `GEMINI_CLI_HOME` the client keeps its folder in that directory, not in the home:
/// `install` writes the hook there, and doctor reads the extension, the trust rules and the
/// settings there too, so it sees the extension the client installed and, once the folder is
/// trusted, the hook registered twice.
#[test]
fn doctor_reads_the_clients_folder_where_gemini_cli_home_puts_it() {
    let Some(client) = gemini() else { return };
    let ground = Ground::new();
    keep_binary_at_the_stable_place(&ground);
    let elsewhere = ground.home.join("elsewhere");
    let source = claude_client::repository().join("plugins/gemini");
    install_extension(&client, &ground, &elsewhere, &source);
    let folder = elsewhere.join(".gemini");
    write_json(&folder.join("trustedFolders.json"), &json!({}));
    assert!(!gemini_dir(&ground).exists(), "the client left ~ alone");
    let moved = elsewhere.to_str().unwrap();
    let env = [("PATH", "/usr/bin:/bin"), ("GEMINI_CLI_HOME", moved)];

    let (passed, said) = doctor(&ground, &env);
    assert!(passed, "the extension in the moved folder passes: {said}");
    let launcher = format!(
        "ok   hook in {} (gemini extension)",
        folder.join("extensions/session-lock").display()
    );
    assert!(said.contains(&launcher), "{launcher:?} in {said}");
    // Without the variable, the client would look in ~/.gemini, and so does doctor.
    let (passed, said) = doctor(&ground, &env[..1]);
    assert!(
        !passed && said.contains("no agent's settings"),
        "nothing in ~/.gemini: {said}"
    );

    ground.session_lock(
        &["install", "--agent", "gemini"],
        &[("GEMINI_CLI_HOME", &elsewhere)],
    );
    let written = fs::read_to_string(folder.join("settings.json")).unwrap();
    assert!(written.contains(" hook --agent gemini"), "{written}");
    assert!(!gemini_dir(&ground).exists(), "install left ~ alone");
    trust_folder(&elsewhere, &ground.workspace());
    let (passed, said) = doctor(&ground, &env);
    assert!(
        !passed && said.contains("FAIL hook registered twice (gemini)"),
        "the moved folder's trust rules make the client run both: {said}"
    );
}

/// `doctor` sees the extension the client installed as the registered hook, in an untrusted
/// folder too (the client runs an extension's hooks there); turned off for the workspace with
/// the client's own command it fails, naming the command that turns it on; on again, it
/// passes; with the hook in the user's settings too, in a trusted folder, it fails as
/// registered twice. What the client itself says about the extension is checked beside it.
#[test]
fn doctor_reports_the_extension_and_whether_the_client_turned_it_off() {
    let Some(client) = gemini() else { return };
    let ground = extension_ground(&client, Folder::Untrusted);
    let installed = gemini_dir(&ground).join("extensions/session-lock");
    // No session-lock on PATH: the launcher then runs the stable copy, as doctor must say.
    let env = [("PATH", "/usr/bin:/bin")];

    let (passed, said) = doctor(&ground, &env);
    assert!(passed, "the installed extension passes doctor: {said}");
    assert!(said.contains("ok   gemini extension ("), "{said}");
    assert!(
        said.contains("untrusted folders too"),
        "its trust facts: {said}"
    );
    let launcher = format!("ok   hook in {} (gemini extension)", installed.display());
    assert!(said.contains(&launcher), "{launcher:?} in {said}");
    assert!(
        said.contains(".local/share/session-lock/bin/session-lock"),
        "the binary its launcher runs: {said}"
    );
    assert!(!said.contains("no agent's settings"), "{said}");
    assert!(
        !said.contains("gemini folder trust"),
        "no settings hook: {said}"
    );

    // Turned off at the client's user scope: a rule for the home folder, which the workspace
    // is not in, so the client still runs it there.
    extensions(&client, &ground, &["disable", "session-lock"]);
    assert!(
        client_enables_it_here(&client, &ground),
        "the client's view"
    );
    let (passed, said) = doctor(&ground, &env);
    assert!(passed, "turned off elsewhere only: {said}");

    extensions(
        &client,
        &ground,
        &["disable", "--scope", "workspace", "session-lock"],
    );
    assert!(
        !client_enables_it_here(&client, &ground),
        "the client's view"
    );
    let (passed, said) = doctor(&ground, &env);
    assert!(!passed, "a turned-off extension fails doctor: {said}");
    assert!(said.contains("FAIL gemini extension ("), "{said}");
    assert!(said.contains("turned off in"), "{said}");
    let fix = "`gemini extensions enable --scope workspace session-lock`";
    assert!(said.contains(fix), "{fix} in {said}");

    extensions(
        &client,
        &ground,
        &["enable", "--scope", "workspace", "session-lock"],
    );
    assert!(
        client_enables_it_here(&client, &ground),
        "the client's view"
    );
    let (passed, said) = doctor(&ground, &env);
    assert!(passed, "on again: {said}");

    // Registered in the user's settings too: in this untrusted folder the client runs only
    // the extension's hook; once the folder is trusted, both, for every event.
    ground.session_lock(&["install", "--agent", "gemini"], &[]);
    let (_, said) = doctor(&ground, &env);
    assert!(!said.contains("registered twice"), "untrusted: {said}");
    trust_folder(&ground.home, &ground.workspace());
    let (passed, said) = doctor(&ground, &env);
    let twice = said
        .lines()
        .find(|l| l.contains("hook registered twice (gemini)"))
        .unwrap_or_else(|| panic!("doctor sees the hook registered twice: {said}"));
    assert!(!passed && twice.starts_with("FAIL "), "{said}");
    assert!(
        twice.contains("the extension session-lock and ")
            && twice.contains("`gemini extensions disable session-lock`"),
        "{twice}"
    );
    ground.session_lock(&["uninstall", "--agent", "gemini"], &[]);
    let (passed, said) = doctor(&ground, &env);
    assert!(passed && !said.contains("registered twice"), "{said}");
}

/// An extension linked with `gemini extensions link` (the client keeps only where it lives,
/// and loads it from there) counts as the registered hook too.
#[test]
fn doctor_sees_a_linked_extension() {
    let Some(client) = gemini() else { return };
    let ground = Ground::new();
    fs::create_dir_all(gemini_dir(&ground)).unwrap();
    let mut settings = client_settings();
    // Linking asks for the extension's settings on the terminal unless this is off.
    settings["experimental"] = json!({"extensionConfig": false});
    write_json(&gemini_dir(&ground).join("settings.json"), &settings);
    let source = claude_client::repository().join("plugins/gemini");
    let mut command = client.command(&ground.home);
    command
        .args(["extensions", "link"])
        .arg(&source)
        .arg("--consent")
        .current_dir(&ground.home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the client starts");
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let done = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&done.stdout).into_owned() + &String::from_utf8_lossy(&done.stderr);
    assert!(said.contains("linked successfully"), "{said}");

    let (_, said) = doctor(&ground, &[("PATH", "/usr/bin:/bin")]);
    let linked = format!("linked to {}", source.display());
    assert!(said.contains("ok   gemini extension ("), "{said}");
    assert!(said.contains(&linked), "{linked:?} in {said}");
    assert!(!said.contains("no agent's settings"), "{said}");
    // No binary at the stable place and none on PATH: the launcher would only warn.
    assert!(
        said.contains("FAIL hook in") && said.contains("finds no session-lock binary"),
        "{said}"
    );
}

/// `gemini extensions install <git URL>` clones the repository and installs the extension at
/// its root. Installed from the repository's files as a clone holds them (those git tracks),
/// the extension locks a second session as `plugins/gemini/` does, and doctor sees it.
#[test]
fn the_repository_itself_installs_as_the_extension() {
    let Some(client) = gemini() else { return };
    let clone = tempfile::tempdir().unwrap();
    copy_tracked_files(&claude_client::repository(), clone.path());
    let ground = extension_ground_from(&client, Folder::Trusted, clone.path());

    let (passed, said) = doctor(&ground, &[("PATH", "/usr/bin:/bin")]);
    assert!(passed, "{said}");
    let origin = format!("installed from {} (local)", clone.path().display());
    assert!(said.contains(&origin), "{origin:?} in {said}");
    assert!(
        said.contains("extensions/session-lock/plugins/gemini/bin/session-lock-hook runs"),
        "the launcher it runs: {said}"
    );

    let sessions = headless_sessions(client, ground);
    second_session_is_refused_while_the_first_holds(&sessions);
}

/// Copies every file git tracks in `repository` (as the work tree holds it) to `to`.
fn copy_tracked_files(repository: &Path, to: &Path) {
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repository)
        .output()
        .expect("git runs");
    assert!(listed.status.success(), "git ls-files");
    let names = String::from_utf8(listed.stdout).unwrap();
    for name in names.split('\0').filter(|name| !name.is_empty()) {
        let from = repository.join(name);
        // A file deleted in the work tree but not yet in the index is not in a clone either.
        if !from.is_file() {
            continue;
        }
        let target = to.join(name);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(&from, &target).unwrap();
    }
    assert!(
        to.join("gemini-extension.json").is_file(),
        "the root's manifest"
    );
}

/// `gemini extensions ARGS` in the workspace, asserted to succeed; what it said.
fn extensions(client: &Client, ground: &Ground, args: &[&str]) -> String {
    let output = client
        .command(&ground.home)
        .arg("extensions")
        .args(args)
        .current_dir(&ground.sandbox.workspace)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "gemini extensions {args:?}: {said}"
    );
    said
}

/// Whether the client lists session-lock's extension as on in the workspace.
fn client_enables_it_here(client: &Client, ground: &Ground) -> bool {
    let said = extensions(client, ground, &["list"]);
    if said.contains("Enabled (Workspace): true") {
        true
    } else if said.contains("Enabled (Workspace): false") {
        false
    } else {
        panic!("the client's list: {said}")
    }
}

/// Session A takes the lock with `write_file` and stays in its turn; session B's shell write
/// and `write_file` are refused and write nothing; A's turn end releases.
fn second_session_is_refused_while_the_first_holds(sessions: &Sessions<GeminiApi>) {
    let workspace = sessions.ground.workspace();
    let holding = hold_with_a_write(sessions);
    let told = sessions.ask("shell", Call::Shell("echo second > second.txt".into()));
    holding.assert_refused(&told);
    assert!(told.starts_with(BLOCKED), "Gemini CLI's own words: {told}");
    let second = workspace.join("second.txt");
    let told = sessions.ask(
        "write",
        Call::WriteFile {
            path: second.clone(),
            content: "second\n".into(),
        },
    );
    holding.assert_refused(&told);
    assert!(!second.exists(), "nothing written");
    holding.end_turn();
    assert_eq!(
        sessions.ground.sandbox.holder(),
        None,
        "the holder's AfterAgent released the lock"
    );
}

#[test]
fn install_names_the_folder_trust_step() {
    let ground = Ground::new();
    let said = ground.session_lock(&["install", "--agent", "gemini"], &[]);
    for step in [
        "trusted folders",
        "GEMINI_CLI_TRUST_WORKSPACE",
        "session-lock doctor",
    ] {
        assert!(said.contains(step), "{step:?} in {said}");
    }
    assert!(
        !ground.home.join(".gemini/trustedFolders.json").exists(),
        "install never trusts a folder"
    );
}

#[test]
fn doctor_fails_in_an_untrusted_folder_and_passes_once_it_is_trusted() {
    let ground = Ground::new();
    fs::create_dir_all(gemini_dir(&ground)).unwrap();
    write_json(
        &gemini_dir(&ground).join("settings.json"),
        &client_settings(),
    );
    ground.session_lock(&["install", "--agent", "gemini"], &[]);

    let (passed, said) = doctor(&ground, &[]);
    assert!(!passed, "an untrusted folder fails doctor: {said}");
    assert!(said.contains("FAIL gemini folder trust"), "{said}");
    assert!(
        said.contains("GEMINI_CLI_TRUST_WORKSPACE"),
        "the fix: {said}"
    );

    trust_folder(&ground.home, &ground.workspace());
    let (passed, said) = doctor(&ground, &[]);
    assert!(passed, "a trusted folder passes doctor: {said}");

    // Under GitHub Actions the client hides the hook's SESSION_LOCK_* variables.
    let (passed, said) = doctor(
        &ground,
        &[("GITHUB_ACTIONS", "true"), ("SESSION_LOCK_TTL_MS", "60000")],
    );
    assert!(!passed, "a redacted variable fails doctor: {said}");
    assert!(said.contains("SESSION_LOCK_TTL_MS"), "{said}");
}

/// `session-lock doctor` in the workspace with `env`: whether it passed, and what it said.
fn doctor(ground: &Ground, env: &[(&str, &str)]) -> (bool, String) {
    let output = ground
        .sandbox
        .command(&["doctor"])
        .current_dir(&ground.sandbox.workspace)
        .env("HOME", &ground.home)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GEMINI_CLI_TRUST_WORKSPACE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), said)
}

/// Where the hooks are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `session-lock install --agent gemini`: `~/.gemini/settings.json`.
    User,
    /// `session-lock install --agent gemini --scope project`: `<project>/.gemini/settings.json`.
    Project,
}

/// Session A takes the lock with `write_file` and stays in its turn; session B's shell write,
/// `write_file` and `replace` are refused (nothing written, the model told who holds the
/// lock), its read-only command runs; A's turn end releases, and B then writes.
fn second_session_is_refused_until_the_first_ends_its_turn(client: Client, scope: Scope) {
    let sessions = sessions(client, scope);
    let workspace = sessions.ground.workspace();
    let held = workspace.join("holder.txt");
    let holding = sessions.hold(
        "holder",
        Call::WriteFile {
            path: held.clone(),
            content: "held\n".into(),
        },
    );
    assert_eq!(fs::read_to_string(&held).unwrap(), "held\n", "A wrote");

    let told = sessions.ask("shell", Call::Shell("echo second > second.txt".into()));
    holding.assert_refused(&told);
    assert!(told.starts_with(BLOCKED), "Gemini CLI's own words: {told}");
    assert!(!workspace.join("second.txt").exists(), "nothing written");

    let second = workspace.join("second.txt");
    let told = sessions.ask(
        "write",
        Call::WriteFile {
            path: second.clone(),
            content: "second\n".into(),
        },
    );
    holding.assert_refused(&told);
    assert!(!second.exists(), "nothing written");

    let told = sessions.ask(
        "replace",
        Call::Replace {
            path: held.clone(),
            old: "held".into(),
            new: "taken".into(),
        },
    );
    holding.assert_refused(&told);
    assert_eq!(fs::read_to_string(&held).unwrap(), "held\n", "not edited");

    let told = sessions.ask("status", Call::Shell("git status --short".into()));
    assert!(!told.contains(HELD_BY), "git status ran: {told}");
    assert!(told.contains("holder.txt"), "git's own output: {told}");

    assert_eq!(sessions.ground.sandbox.holder(), Some(holding.id.clone()));
    holding.end_turn();
    assert_eq!(
        sessions.ground.sandbox.holder(),
        None,
        "the holder's AfterAgent released the lock"
    );

    let told = sessions.ask(
        "retry",
        Call::WriteFile {
            path: second.clone(),
            content: "second\n".into(),
        },
    );
    assert!(!told.contains(HELD_BY), "the write ran: {told}");
    assert_eq!(fs::read_to_string(&second).unwrap(), "second\n");
    assert_eq!(
        sessions.ground.sandbox.holder(),
        None,
        "its turn end released"
    );
}

/// A ground with the hooks installed at `scope` in a trusted workspace, and how to start
/// `gemini -p` there.
fn sessions(client: Client, scope: Scope) -> Sessions<GeminiApi> {
    let ground = Ground::new();
    let user_settings = gemini_dir(&ground).join("settings.json");
    fs::create_dir_all(gemini_dir(&ground)).unwrap();
    write_json(&user_settings, &client_settings());
    trust_folder(&ground.home, &ground.workspace());
    let settings = match scope {
        Scope::User => {
            ground.session_lock(&["install", "--agent", "gemini"], &[]);
            user_settings
        }
        Scope::Project => {
            ground.session_lock(&["install", "--agent", "gemini", "--scope", "project"], &[]);
            ground.sandbox.workspace.join(".gemini/settings.json")
        }
    };
    let registered = fs::read_to_string(&settings).expect("install wrote the settings");
    assert!(registered.contains(" hook --agent gemini"), "{registered}");
    headless_sessions(client, ground)
}

/// The client's own folder in the home.
fn gemini_dir(ground: &Ground) -> PathBuf {
    ground.home.join(".gemini")
}

/// The user settings a person who logs in with an API key has, with nothing sent anywhere
/// but the stand-in.
fn client_settings() -> Value {
    json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
        "privacy": {"usageStatisticsEnabled": false},
        "telemetry": {"enabled": false},
    })
}

/// Trusts `folder` as the client's trust dialog does.
fn trust_folder(home: &Path, folder: &Path) {
    let file = home.join(".gemini/trustedFolders.json");
    write_json(&file, &json!({ folder.to_str().unwrap(): "TRUST_FOLDER" }));
}

fn write_json(path: &Path, value: &Value) {
    fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}
