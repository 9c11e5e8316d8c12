//! The real Codex CLI client with session-lock's hooks installed as `session-lock install
//! --agent codex` writes them, against a scripted stand-in for the Responses API on loopback.
//!
//! The client is the npm package pinned in `tests/codex-cli/` (its binary is in the platform
//! package). Where it is not installed each test prints `skipping: …` and passes, except under
//! `CI=true`, where it fails. Each session is `codex exec` with a fresh `CODEX_HOME` whose
//! `config.toml` names the stand-in as its model provider.
//!
//! Codex runs a hook only once the person has trusted it (the `/hooks` review): most sessions
//! pass `--dangerously-bypass-hook-trust`, which is what a `codex exec` user who vetted the
//! hooks passes; others store the trust the review stores, `[hooks.state."<key>"]
//! trusted_hash`, with the hash session-lock computes ([`agent_trust::codex_hook_hash`]), to
//! prove that hash is Codex's own. Project hooks also need the project trusted: the test
//! writes `[projects."<path>"] trust_level = "trusted"`, as the client's own trust prompt (or
//! `codex exec --trust`) stores it. session-lock itself never writes either.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/claude_client.rs"]
mod claude_client;
#[path = "support/events.rs"]
mod events;
#[path = "support/loopback_http.rs"]
mod loopback_http;
#[path = "support/real_clients.rs"]
mod real_clients;
#[path = "support/responses_api.rs"]
mod responses_api;
#[path = "support/sandbox.rs"]
mod sandbox;
#[path = "support/scripted_model.rs"]
mod scripted_model;
#[path = "support/two_sessions.rs"]
mod two_sessions;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use claude_client::Process;
use serde_json::{Value, json};

use real_clients::{Client, codex};
use responses_api::ResponsesApi;
use scripted_model::Call;
use session_lock::agent_trust;
use two_sessions::{Ground, HELD_BY, Sessions};

/// The model the sessions name: one of the client's own, so that it offers `apply_patch`.
const MODEL: &str = "gpt-5.5";

/// What Codex puts before a hook's reason in the tool's output.
const BLOCKED: &str = "Command blocked by PreToolUse hook: ";

#[test]
fn user_scope_a_second_session_is_refused_until_the_first_ends_its_turn() {
    let Some(client) = codex() else { return };
    second_session_is_refused_until_the_first_ends_its_turn(client, Scope::User);
}

#[test]
fn project_scope_a_second_session_is_refused_until_the_first_ends_its_turn() {
    let Some(client) = codex() else { return };
    second_session_is_refused_until_the_first_ends_its_turn(client, Scope::Project);
}

/// A session refused while another holds the workspace runs the `git worktree add` its
/// refusal names, word for word, through the client's own shell tool: it is let through and
/// makes the worktree beside the workspace; a patch in that worktree is let through, one in
/// the held workspace still refused.
///
/// Codex's `workspace-write` sandbox keeps `.git` read-only, so there `git worktree add` (which
/// writes `.git/worktrees/`) fails in git itself after the hook let it through; it runs once
/// the person lets the command out of the sandbox, as Codex asks them to. These sessions run
/// with `danger-full-access`, standing for that approval.
#[test]
fn a_refused_session_goes_on_in_the_worktree_its_refusal_names() {
    let Some(client) = codex() else { return };
    let sessions = sessions_in(client, Scope::User, Trust::Bypass, "danger-full-access");
    let workspace = sessions.ground.workspace();
    let holding = sessions.hold("holder", Call::Shell("echo held > holder.txt".into()));
    let patch = "*** Begin Patch\n*** Add File: patched.txt\n+patched\n*** End Patch\n";
    let told = sessions.ask("refused", Call::Patch(patch.into()));
    holding.assert_refused(&told);
    let command = told.split('`').nth(1).expect("the refusal names a command");
    let prefix = format!("git worktree add {}-", workspace.display());
    assert!(command.starts_with(&prefix), "{told}");

    let told = sessions.ask("worktree", Call::Shell(command.into()));
    assert!(!told.contains(HELD_BY), "the way on ran: {told}");
    let new = PathBuf::from(command.split(' ').nth(3).unwrap());
    assert!(new.join(".git").is_file(), "a worktree of its own: {told}");

    let notes = new.join("notes.txt");
    let patch = format!(
        "*** Begin Patch\n*** Add File: {}\n+there\n*** End Patch\n",
        notes.display()
    );
    let told = sessions.ask("there", Call::Patch(patch));
    assert!(!told.contains(HELD_BY), "the patch ran: {told}");
    assert_eq!(fs::read_to_string(&notes).unwrap(), "there\n");
    let told = sessions.ask("held", Call::Patch(patch_of("held.txt")));
    holding.assert_refused(&told);
    assert!(!workspace.join("held.txt").exists(), "nothing written");
    holding.end_turn();
}

/// A session starting while another holds the workspace is told before it plans: its first
/// request to the model carries the context its `SessionStart` and `UserPromptSubmit` hooks
/// added, naming the holder and the worktree to add; it still reads. A session starting in a
/// free workspace is told nothing.
#[test]
fn a_session_starting_in_a_held_workspace_is_told_before_it_plans() {
    let Some(client) = codex() else { return };
    let sessions = sessions(client, Scope::User, Trust::Bypass);
    let workspace = sessions.ground.workspace();
    let holding = sessions.hold("holder", Call::Shell("echo held > holder.txt".into()));
    const TOLD: &str = "session-lock: this workspace is locked by another session";
    let told = sessions.ask("told", Call::Shell("git status --short".into()));
    assert!(!told.contains(HELD_BY), "git status ran: {told}");
    let requests = sessions.model.requests_holding("[session-lock-e2e:told]");
    let first = requests.first().expect("the session asked the model");
    // Once from SessionStart, once from UserPromptSubmit.
    assert_eq!(first.matches(TOLD).count(), 2, "{first}");
    let way_on = format!("git worktree add {}-", workspace.display());
    assert!(first.contains(&way_on), "{first}");
    holding.end_turn();

    sessions.ask("free", Call::Shell("git status --short".into()));
    let requests = sessions.model.requests_holding("[session-lock-e2e:free]");
    assert!(!requests.is_empty(), "the session asked the model");
    assert!(
        requests.iter().all(|body| !body.contains("session-lock:")),
        "{requests:?}"
    );
}

fn patch_of(file: &str) -> String {
    format!("*** Begin Patch\n*** Add File: {file}\n+x\n*** End Patch\n")
}

#[test]
fn trusted_with_session_locks_hash_codex_runs_the_hooks() {
    let Some(client) = codex() else { return };
    let sessions = sessions(client, Scope::User, Trust::SessionLocksHash);
    let holding = sessions.hold("holder", Call::Shell("echo held > holder.txt".into()));
    let told = sessions.ask("shell", Call::Shell("echo second > second.txt".into()));
    holding.assert_refused(&told);
    let workspace = sessions.ground.workspace();
    assert!(!workspace.join("second.txt").exists(), "nothing written");
    let (passed, said) = doctor(&sessions.ground, &codex_home(&sessions.ground));
    assert!(passed, "doctor agrees: {said}");
    assert!(said.contains("ok   codex trust"), "{said}");
    holding.end_turn();
    assert_eq!(sessions.ground.sandbox.holder(), None, "Stop released");
}

#[test]
fn trusted_with_another_hash_codex_skips_the_hooks_and_doctor_says_so() {
    let Some(client) = codex() else { return };
    let sessions = sessions(client, Scope::User, Trust::AnotherHash);
    let workspace = sessions.ground.workspace();
    // The first session writes and stays in its turn: had its hook run, it would hold the
    // lock now.
    let running = sessions.start("holder", Call::Shell("echo held > holder.txt".into()), true);
    let output = sessions
        .model
        .wait_for_tool_output(&running.call_id, two_sessions::SESSION_TIMEOUT)
        .expect("the first session's call ran");
    assert!(workspace.join("holder.txt").exists(), "{output}");
    assert_eq!(
        sessions.ground.sandbox.holder(),
        None,
        "Codex skipped the hook: no lock taken"
    );
    let told = sessions.ask("shell", Call::Shell("echo second > second.txt".into()));
    assert!(!told.contains(HELD_BY), "nothing refused: {told}");
    assert!(
        workspace.join("second.txt").exists(),
        "the second wrote too"
    );
    running.end_turn();

    let (passed, said) = doctor(&sessions.ground, &codex_home(&sessions.ground));
    assert!(!passed, "doctor exits 1: {said}");
    assert!(said.contains("FAIL codex trust"), "{said}");
    assert!(
        said.contains("changed since Codex trusted them"),
        "the line says why: {said}"
    );
}

#[test]
fn session_locks_hash_is_the_one_codex_lists_for_each_form_of_hook() {
    let Some(client) = codex() else { return };
    let ground = Ground::new();
    let home = codex_home(&ground);
    fs::create_dir_all(&home).unwrap();
    // Every normalization Codex makes before it hashes: defaults, clamps, matchers an event
    // ignores, fields it drops, fields it does not read, text JSON escapes.
    let handler = |extra: Value| {
        let mut handler = json!({"type": "command", "command": "/bin/echo \"é\" \u{2028}<&>"});
        handler
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        handler
    };
    let forms = [
        json!({}),
        json!({"timeout": 3}),
        json!({"timeout": 0}),
        json!({"timeout": 10}),
        json!({"timeout": null, "async": true}),
        json!({"statusMessage": "locking"}),
        json!({"additionalContextLimit": 100}),
        json!({"additionalContextLimit": 2500}),
        json!({"commandWindows": "echo windows"}),
    ];
    let mut events = serde_json::Map::new();
    for event in [
        "PreToolUse",
        "PostToolUse",
        "PermissionRequest",
        "SessionStart",
        "SessionEnd",
        "UserPromptSubmit",
        "Stop",
        "PreCompact",
        "SubagentStart",
    ] {
        let groups = vec![
            json!({"matcher": "Bash|apply_patch",
                   "hooks": forms.iter().cloned().map(handler).collect::<Vec<_>>()}),
            json!({"hooks": [{"type": "prompt", "prompt": "not hashed"}, handler(json!({}))]}),
            json!({"matcher": " ", "hooks": [handler(json!({"timeout": 2}))]}),
        ];
        events.insert(event.into(), Value::Array(groups));
    }
    let hooks_file = home.join("hooks.json");
    fs::write(&hooks_file, json!({ "hooks": events.clone() }).to_string()).unwrap();

    let listed = hooks_list(&client, &ground, &home);
    let mut compared = 0;
    for (event, groups) in events {
        for (i, group) in groups.as_array().unwrap().iter().enumerate() {
            for (j, handler) in group["hooks"].as_array().unwrap().iter().enumerate() {
                let ours = agent_trust::codex_hook_hash(&event, group.get("matcher"), handler);
                let key = format!(
                    "{}:{}:{i}:{j}",
                    hooks_file.display(),
                    agent_trust::snake_case(&event)
                );
                let theirs = listed.iter().find(|hook| hook["key"] == key.as_str());
                match (ours, theirs) {
                    (Some(ours), Some(hook)) => {
                        assert_eq!(
                            ours, hook["currentHash"],
                            "{event} group {i} handler {j}: {handler} ({hook})"
                        );
                        compared += 1;
                    }
                    (None, None) => {}
                    (ours, hook) => panic!("{event} {i} {j}: ours {ours:?}, Codex's {hook:?}"),
                }
            }
        }
    }
    assert_eq!(
        compared,
        9 * (forms.len() + 2),
        "every command hook compared"
    );
}

#[test]
fn install_writes_into_codex_home_and_names_the_trust_steps() {
    let ground = Ground::new();
    let home = codex_home(&ground);
    let said = ground.session_lock(&["install", "--agent", "codex"], &[("CODEX_HOME", &home)]);
    assert!(home.join("hooks.json").exists(), "{said}");
    assert!(!ground.home.join(".codex").exists(), "{said}");
    for step in [
        "`/hooks`",
        "--dangerously-bypass-hook-trust",
        "session-lock doctor",
    ] {
        assert!(said.contains(step), "{step:?} in {said}");
    }
    assert!(!said.contains("trusted project"), "user scope: {said}");
    let said = ground.session_lock(
        &["install", "--agent", "codex", "--scope", "project"],
        &[("CODEX_HOME", &home)],
    );
    assert!(said.contains("trust this project"), "{said}");
    assert!(
        !home.join("config.toml").exists(),
        "install never writes Codex's trust state"
    );
}

#[test]
fn doctor_fails_until_codex_trusts_the_hooks_and_the_project() {
    let Some(client) = codex() else { return };
    let ground = Ground::new();
    let home = codex_home(&ground);
    ground.session_lock(&["install", "--agent", "codex"], &[("CODEX_HOME", &home)]);

    let (passed, said) = doctor(&ground, &home);
    assert!(!passed, "untrusted hooks fail doctor: {said}");
    assert!(said.contains("FAIL codex trust"), "{said}");
    assert!(
        said.contains("`/hooks`"),
        "the fix names the review: {said}"
    );

    // The person reviews the hooks: Codex stores each trust under the key and hash it lists.
    let installed = handlers_in(&home.join("hooks.json"));
    assert_eq!(installed, 6, "install registers six hooks");
    let listed = trust_hooks_as_the_review_does(&client, &ground, &home);
    assert_eq!(listed, installed, "Codex lists every session-lock hook");
    let (passed, said) = doctor(&ground, &home);
    assert!(passed, "trusted hooks pass doctor: {said}");
    assert!(
        said.contains(&format!("Codex trusts all {installed} session-lock hooks")),
        "{said}"
    );
    assert!(!said.contains("cannot confirm"), "{said}");

    // Another `--wait` changes their command and timeout: Codex lists them as modified, and
    // so does doctor.
    ground.session_lock(
        &["install", "--agent", "codex", "--wait", "5"],
        &[("CODEX_HOME", &home)],
    );
    let modified = hooks_list(&client, &ground, &home)
        .into_iter()
        .filter(|hook| hook["trustStatus"] == "modified")
        .count();
    assert_eq!(modified, installed, "Codex's own view");
    let (passed, said) = doctor(&ground, &home);
    assert!(!passed, "modified hooks fail doctor: {said}");
    assert!(
        said.contains(&format!("{installed} of the session-lock hooks"))
            && said.contains("changed since"),
        "{said}"
    );
    ground.session_lock(&["install", "--agent", "codex"], &[("CODEX_HOME", &home)]);
    let (passed, said) = doctor(&ground, &home);
    assert!(passed, "back as they were trusted: {said}");

    // A project's hooks also need the project trusted.
    ground.session_lock(
        &["install", "--agent", "codex", "--scope", "project"],
        &[("CODEX_HOME", &home)],
    );
    let (passed, said) = doctor(&ground, &home);
    assert!(!passed, "an untrusted project fails doctor: {said}");
    assert!(said.contains("FAIL codex project trust"), "{said}");
    // Codex lists a project's hooks for review only once the project is trusted.
    let mut config = fs::read_to_string(home.join("config.toml")).unwrap();
    config.push_str(&format!(
        "\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
        ground.workspace().display()
    ));
    fs::write(home.join("config.toml"), config).unwrap();
    let (passed, said) = doctor(&ground, &home);
    assert!(!passed, "the project's hooks are not trusted yet: {said}");
    let project_hooks = handlers_in(&ground.workspace().join(".codex/hooks.json"));
    assert_eq!(
        trust_hooks_as_the_review_does(&client, &ground, &home),
        project_hooks
    );
    let (passed, said) = doctor(&ground, &home);
    assert!(passed, "a trusted project passes doctor: {said}");
}

/// How many hook handlers the hooks file `file` registers.
fn handlers_in(file: &Path) -> usize {
    let hooks: Value = serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
    hooks["hooks"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|groups| groups.as_array().unwrap())
        .map(|group| group["hooks"].as_array().unwrap().len())
        .sum()
}

/// `session-lock doctor` with `CODEX_HOME`: whether it passed, and what it said.
fn doctor(ground: &Ground, codex_home: &Path) -> (bool, String) {
    let output = ground
        .sandbox
        .command(&["doctor"])
        .current_dir(&ground.sandbox.workspace)
        .env("HOME", &ground.home)
        .env("CODEX_HOME", codex_home)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), said)
}

/// What the person's `/hooks` review stores: for each hook the client lists as untrusted
/// (asked through `codex app-server`, `hooks/list`), `[hooks.state."<key>"]` with the hash the
/// client gives. Returns how many session-lock hooks it trusted.
fn trust_hooks_as_the_review_does(client: &Client, ground: &Ground, codex_home: &Path) -> usize {
    let mut config = fs::read_to_string(codex_home.join("config.toml")).unwrap_or_default();
    let mut trusted = 0;
    for hook in hooks_list(client, ground, codex_home) {
        let ours = hook["command"]
            .as_str()
            .is_some_and(|c| c.ends_with(" hook --agent codex"));
        if ours && hook["trustStatus"] == "untrusted" {
            config.push_str(&format!(
                "\n[hooks.state.{}]\ntrusted_hash = {}\n",
                hook["key"], hook["currentHash"]
            ));
            trusted += 1;
        }
    }
    fs::write(codex_home.join("config.toml"), config).unwrap();
    trusted
}

/// The hooks the client finds for the workspace, as `codex app-server` lists them
/// (`hooks/list`): each with its key, its `currentHash` and its `trustStatus`.
fn hooks_list(client: &Client, ground: &Ground, codex_home: &Path) -> Vec<Value> {
    let requests = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"clientInfo": {"name": "session-lock-test", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "hooks/list",
               "params": {"cwds": [ground.workspace()]}}),
    ];
    let input = ground.sandbox.root().join("app-server-input.jsonl");
    let lines: Vec<String> = requests.iter().map(Value::to_string).collect();
    fs::write(&input, lines.join("\n") + "\n").unwrap();
    // The server answers while its input stays open; `sleep` keeps it open for long enough.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("(cat \"$1\"; sleep 5) | \"$2\" app-server")
        .args(["sh".as_ref(), input.as_os_str(), client.program.as_os_str()])
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or("/usr/bin:/bin".into()),
        )
        .env("HOME", &ground.home)
        .env("CODEX_HOME", codex_home)
        .current_dir(&ground.sandbox.workspace);
    let done = Process::spawn(command)
        .unwrap()
        .wait(Duration::from_secs(60))
        .unwrap();
    let listed = done
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|answer| answer["id"] == 2)
        .unwrap_or_else(|| panic!("no hooks/list answer: {}\n{}", done.stdout, done.stderr));
    let found = &listed["result"]["data"][0];
    assert_eq!(found["errors"], json!([]), "{listed}");
    found["hooks"].as_array().unwrap().clone()
}

/// Where the hooks are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `session-lock install --agent codex`: `$CODEX_HOME/hooks.json`.
    User,
    /// `session-lock install --agent codex --scope project`: `<project>/.codex/hooks.json`.
    Project,
}

/// Session A takes the lock with a shell write and stays in its turn; session B's shell write
/// and patch are refused (nothing written, the model told who holds the lock), its
/// read-only command runs; A's turn end releases, and B then writes.
fn second_session_is_refused_until_the_first_ends_its_turn(client: Client, scope: Scope) {
    let sessions = sessions(client, scope, Trust::Bypass);
    let workspace = sessions.ground.workspace();
    let holding = sessions.hold("holder", Call::Shell("echo held > holder.txt".into()));
    assert!(
        workspace.join("holder.txt").exists(),
        "the holder wrote: {}",
        holding.output
    );

    let told = sessions.ask("shell", Call::Shell("echo second > second.txt".into()));
    holding.assert_refused(&told);
    assert!(told.starts_with(BLOCKED), "Codex's own words first: {told}");
    assert_eq!(
        told.matches(". Command: ").count(),
        1,
        "Codex appends the command once: {told}"
    );
    assert!(!told.contains(".. Command"), "no doubled full stop: {told}");
    assert!(!workspace.join("second.txt").exists(), "nothing written");

    let patch = "*** Begin Patch\n*** Add File: patched.txt\n+patched\n*** End Patch\n";
    let told = sessions.ask("patch", Call::Patch(patch.into()));
    holding.assert_refused(&told);
    assert!(!told.contains(".. Command"), "no doubled full stop: {told}");
    let reason = told.split(". Command: ").next().unwrap();
    assert!(
        !reason.contains("*** Begin Patch"),
        "the reason itself does not repeat the patch: {told}"
    );
    assert!(!workspace.join("patched.txt").exists(), "nothing patched");

    let told = sessions.ask("status", Call::Shell("git status --short".into()));
    assert!(!told.contains(HELD_BY), "git status ran: {told}");
    assert!(told.contains("holder.txt"), "git's own output: {told}");

    assert_eq!(sessions.ground.sandbox.holder(), Some(holding.id.clone()));
    holding.end_turn();
    assert_eq!(
        sessions.ground.sandbox.holder(),
        None,
        "the holder's Stop released the lock"
    );

    let told = sessions.ask("retry", Call::Shell("echo second > second.txt".into()));
    assert!(!told.contains(HELD_BY), "the write ran: {told}");
    assert_eq!(
        fs::read_to_string(workspace.join("second.txt")).unwrap(),
        "second\n"
    );
    assert_eq!(sessions.ground.sandbox.holder(), None, "its Stop released");
}

/// How the sessions come to run the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// `codex exec --dangerously-bypass-hook-trust`.
    Bypass,
    /// Each hook's trust stored as the `/hooks` review stores it, with the hash session-lock
    /// computes.
    SessionLocksHash,
    /// Each hook's trust stored with a hash that is not the hook's: a trust of another hook.
    AnotherHash,
}

/// The `[hooks.state]` entries trusting every handler in `hooks_file`, as `trust` has them.
fn trust_entries(hooks_file: &Path, trust: Trust) -> String {
    let hooks: Value = serde_json::from_str(&fs::read_to_string(hooks_file).unwrap()).unwrap();
    let mut entries = String::new();
    for (event, groups) in hooks["hooks"].as_object().unwrap() {
        for (i, group) in groups.as_array().unwrap().iter().enumerate() {
            for (j, handler) in group["hooks"].as_array().unwrap().iter().enumerate() {
                let hash = match trust {
                    Trust::Bypass => return String::new(),
                    Trust::SessionLocksHash => {
                        agent_trust::codex_hook_hash(event, group.get("matcher"), handler)
                            .expect("install writes hooks whose hash can be computed")
                    }
                    Trust::AnotherHash => format!("sha256:{}", "0".repeat(64)),
                };
                let key = format!(
                    "{}:{}:{i}:{j}",
                    hooks_file.display(),
                    agent_trust::snake_case(event)
                );
                entries.push_str(&format!(
                    "\n[hooks.state.{}]\ntrusted_hash = \"{hash}\"\n",
                    Value::from(key)
                ));
            }
        }
    }
    entries
}

/// A ground with the hooks installed at `scope` and a `CODEX_HOME` naming the stand-in, and
/// how to start `codex exec` there, the hooks trusted as `trust` says.
fn sessions(client: Client, scope: Scope, trust: Trust) -> Sessions<ResponsesApi> {
    sessions_in(client, scope, trust, "workspace-write")
}

/// [`sessions`], with the client's sandbox `sandbox` (its `-s`).
fn sessions_in(
    client: Client,
    scope: Scope,
    trust: Trust,
    sandbox: &'static str,
) -> Sessions<ResponsesApi> {
    let ground = Ground::new();
    let home = codex_home(&ground);
    fs::create_dir_all(&home).unwrap();
    let hooks = match scope {
        Scope::User => {
            ground.session_lock(&["install", "--agent", "codex"], &[("CODEX_HOME", &home)]);
            home.join("hooks.json")
        }
        Scope::Project => {
            ground.session_lock(
                &["install", "--agent", "codex", "--scope", "project"],
                &[("CODEX_HOME", &home)],
            );
            ground.sandbox.workspace.join(".codex/hooks.json")
        }
    };
    let registered = fs::read_to_string(&hooks).expect("install wrote the hooks file");
    assert!(registered.contains(" hook --agent codex"), "{registered}");
    let workspace = ground.workspace();
    let trusted = trust_entries(&hooks, trust);
    let launch = move |ground: &Ground, prompt: &str, url: &str| {
        let codex_home = codex_home(ground);
        // Written per session, since the stand-in's port is known only now.
        let mut text = config(url, scope == Scope::Project, &workspace);
        text.push_str(&trusted);
        fs::write(codex_home.join("config.toml"), text).unwrap();
        let mut command = client.command(&ground.home);
        command.args(["exec", "-m", MODEL]);
        if trust == Trust::Bypass {
            command.arg("--dangerously-bypass-hook-trust");
        }
        command
            .args(["-s", sandbox, "--color", "never"])
            .arg(prompt)
            .env("CODEX_HOME", &codex_home)
            .env("STAND_IN_API_KEY", "sk-stand-in")
            .current_dir(&ground.sandbox.workspace);
        command
    };
    Sessions::new(ground, ResponsesApi, Box::new(launch))
}

/// The client's `CODEX_HOME`: not `~/.codex`, so that the client finds user hooks only where
/// install honoured the variable.
fn codex_home(ground: &Ground) -> PathBuf {
    ground.home.join("codex-home")
}

/// `config.toml`: the stand-in as the model provider, and (`trust_project`) the project
/// trusted as the client's trust prompt stores it.
fn config(url: &str, trust_project: bool, workspace: &Path) -> String {
    let mut text = format!(
        "model_provider = \"stand-in\"\n\n\
         [model_providers.stand-in]\n\
         name = \"stand-in\"\n\
         base_url = \"{url}/v1\"\n\
         wire_api = \"responses\"\n\
         env_key = \"STAND_IN_API_KEY\"\n"
    );
    if trust_project {
        text.push_str(&format!(
            "\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            workspace.display()
        ));
    }
    text
}
