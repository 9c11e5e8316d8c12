//! The real Codex CLI client with session-lock's hooks installed as `session-lock install
//! --agent codex` writes them, against a scripted stand-in for the Responses API on loopback.
//!
//! The client is the npm package pinned in `tests/codex-cli/` (its binary is in the platform
//! package). Where it is not installed each test prints `skipping: …` and passes, except under
//! `CI=true`, where it fails. Each session is `codex exec` with a fresh `CODEX_HOME` whose
//! `config.toml` names the stand-in as its model provider.
//!
//! Codex runs a hook only once the person has trusted it (the `/hooks` review): the sessions
//! pass `--dangerously-bypass-hook-trust`, which is what a `codex exec` user who vetted the
//! hooks passes. Project hooks also need the project trusted: the test writes
//! `[projects."<path>"] trust_level = "trusted"`, as the client's own trust prompt (or
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

use real_clients::{Client, codex};
use responses_api::ResponsesApi;
use scripted_model::Call;
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
    let sessions = sessions(client, scope);
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

/// A ground with the hooks installed at `scope` and a `CODEX_HOME` naming the stand-in, and
/// how to start `codex exec` there.
fn sessions(client: Client, scope: Scope) -> Sessions<ResponsesApi> {
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
    let launch = move |ground: &Ground, prompt: &str, url: &str| {
        let codex_home = codex_home(ground);
        // Written per session, since the stand-in's port is known only now.
        fs::write(
            codex_home.join("config.toml"),
            config(url, scope == Scope::Project, &workspace),
        )
        .unwrap();
        let mut command = client.command(&ground.home);
        command
            .args(["exec", "-m", MODEL, "--dangerously-bypass-hook-trust"])
            .args(["-s", "workspace-write", "--color", "never"])
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
