//! What `cargo xtask dist` wrote in `<target dir>/dist/`, tried the way people get it: the
//! arm64 binary under `qemu-aarch64`, the x86-64 binary's static linking, the checksums, npm
//! packages published to a real registry on loopback (verdaccio, pinned in `tests/registry/`)
//! and installed with `npm install -g` and `npx`, the wheels installed with `pip` (and `uvx`
//! when uv is on PATH), each in a fresh `HOME` whose `PATH` has no `cargo` or `rustc`, and each
//! ending in a registered hook that takes the lock.
//!
//! Without `target/dist` (or verdaccio, or qemu) a test prints "skipping: ..." and passes,
//! except under CI (`CI=true`), where `.ci/run` prepares them all, so a skip would only hide a
//! broken set-up.

#[path = "support/arena.rs"]
mod arena;
#[path = "support/events.rs"]
mod events;
#[path = "support/npm_registry.rs"]
mod npm_registry;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arena::Arena;
use events::*;
use npm_registry::{Registry, dist, path_without_rust, skip, succeed, which};
use serde_json::Value;
use sha2::{Digest, Sha256};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const X86_64: &str = "x86_64-unknown-linux-musl";
const AARCH64: &str = "aarch64-unknown-linux-musl";

/// The tarball of `target` unpacked in `into` with the system's `tar`, as a person would;
/// returns the binary.
fn unpack_binary(dist: &Path, target: &str, into: &Path) -> PathBuf {
    let name = format!("session-lock-{VERSION}-{target}");
    succeed(
        Command::new("tar")
            .arg("xzf")
            .arg(dist.join(format!("{name}.tar.gz")))
            .arg("-C")
            .arg(into),
    );
    into.join(name).join("session-lock")
}

/// The ELF program header types of `binary` and its machine (`e_machine`).
fn elf_program_headers(binary: &Path) -> (u16, Vec<u32>) {
    let bytes = fs::read(binary).unwrap();
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is an ELF file",
        binary.display()
    );
    assert_eq!(bytes[4], 2, "a 64-bit ELF file");
    assert_eq!(bytes[5], 1, "little-endian");
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let machine = u16_at(0x12);
    let (offset, size, count) = (u64_at(0x20) as usize, u16_at(0x36) as usize, u16_at(0x38));
    let types = (0..usize::from(count))
        .map(|i| {
            let at = offset + i * size;
            u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
        })
        .collect();
    (machine, types)
}

const PT_INTERP: u32 = 3;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

#[test]
fn both_binaries_are_static_executables_of_their_architecture() {
    let Some(dist) = dist() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (target, machine) in [(X86_64, EM_X86_64), (AARCH64, EM_AARCH64)] {
        let binary = unpack_binary(&dist, target, dir.path());
        let (found, headers) = elf_program_headers(&binary);
        assert_eq!(found, machine, "{target}: e_machine");
        // No program interpreter: the kernel runs it with no dynamic loader, on any libc.
        assert!(
            !headers.contains(&PT_INTERP),
            "{target} asks for a dynamic loader: {headers:?}"
        );
        if let Some(file) = which("file") {
            let said = succeed(Command::new(file).arg("-b").arg(&binary));
            let said = String::from_utf8_lossy(&said.stdout).into_owned();
            assert!(said.contains("static"), "{target}: file says {said}");
            eprintln!("{target}: {}", said.trim());
        }
    }
}

/// The lines of `SHA256SUMS`: (hex digest, path relative to `dist`).
fn sums(dist: &Path) -> Vec<(String, String)> {
    fs::read_to_string(dist.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|line| {
            let (digest, path) = line.split_once("  ").expect("sha256sum's two-space form");
            (digest.to_owned(), path.to_owned())
        })
        .collect()
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file under `dir`, relative to `base`.
fn files_under(base: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(base, &path, out);
        } else {
            out.push(
                path.strip_prefix(base)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
}

#[test]
fn sha256sums_lists_every_artifact_and_sha256sum_finds_a_damaged_one() {
    let Some(dist) = dist() else { return };
    let listed = sums(&dist);
    let mut present = Vec::new();
    files_under(&dist, &dist, &mut present);
    present.retain(|p| p != "SHA256SUMS");
    present.sort();
    let mut names: Vec<String> = listed.iter().map(|(_, p)| p.clone()).collect();
    names.sort();
    assert_eq!(names, present, "SHA256SUMS lists exactly the artifacts");
    for expected in [
        format!("session-lock-{VERSION}-{X86_64}.tar.gz"),
        format!("session-lock-{VERSION}-{AARCH64}.tar.gz"),
        format!("npm/session-lock-{VERSION}.tgz"),
        format!("npm/session-lock-linux-x64-{VERSION}.tgz"),
        format!("npm/session-lock-linux-arm64-{VERSION}.tgz"),
        format!(
            "wheels/session_lock-{VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        ),
        format!("wheels/session_lock-{VERSION}-py3-none-musllinux_1_2_x86_64.whl"),
        format!(
            "wheels/session_lock-{VERSION}-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
        ),
        format!("wheels/session_lock-{VERSION}-py3-none-musllinux_1_2_aarch64.whl"),
    ] {
        assert!(
            names.contains(&expected),
            "{expected} is missing: {names:?}"
        );
    }
    for (digest, path) in &listed {
        assert_eq!(&sha256_hex(&dist.join(path)), digest, "{path}");
    }
    // The way a person checks a download: `sha256sum -c`, passing, then failing on a copy
    // with one artifact cut short.
    succeed(
        Command::new("sha256sum")
            .args(["-c", "--quiet", "SHA256SUMS"])
            .current_dir(&dist),
    );
    let copy = tempfile::tempdir().unwrap();
    for path in names.iter().map(String::as_str).chain(["SHA256SUMS"]) {
        let to = copy.path().join(path);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(dist.join(path), &to).unwrap();
    }
    let damaged = format!("npm/session-lock-linux-x64-{VERSION}.tgz");
    truncate_half(&copy.path().join(&damaged));
    let output = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(copy.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        said.trim(),
        format!("{damaged}: FAILED"),
        "{}",
        stderr_text(&output)
    );
}

/// Cuts `path` to half its length, as an interrupted download leaves it.
fn truncate_half(path: &Path) {
    let length = fs::metadata(path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(length / 2)
        .unwrap();
}

#[test]
fn the_arm64_binary_under_qemu_takes_the_lock_and_status_names_the_holder() {
    let Some(dist) = dist() else { return };
    let Some(qemu) = which("qemu-aarch64") else {
        return skip("qemu-aarch64 is not installed (Debian: apt-get install qemu-user)");
    };
    let dir = tempfile::tempdir().unwrap();
    let binary = unpack_binary(&dist, AARCH64, dir.path());
    let binary = binary.to_str().unwrap();
    // An ARMv8.0 CPU with none of the optional features: the component was precompiled for
    // the baseline ISA, so it loads here too.
    let arena = Arena::new(&qemu, &["-cpu", "cortex-a53", binary, "hook"]);
    let version = succeed(Command::new(&qemu).args([binary, "--version"]));
    assert!(String::from_utf8_lossy(&version.stdout).contains(VERSION));

    let output = arena.run(&arena.pre_tool_use("session-arm64"), &[]);
    // A component that failed to load would allow without the lock: the lock is the proof.
    assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
    assert_eq!(arena.holder().as_deref(), Some("session-arm64"));
    // Another session is refused (the reason names the holder by a short id), and the lock
    // stays the first session's.
    let refused = arena.run(&arena.pre_tool_use("session-other"), &[]);
    assert!(
        matches!(answer(&refused), Answer::Deny(_)),
        "{:?}",
        answer(&refused)
    );
    assert_eq!(arena.holder().as_deref(), Some("session-arm64"));

    let status = Command::new(&qemu)
        .args([binary, "status"])
        .env_clear()
        .env("SESSION_LOCK_DIR", &arena.lock_dir)
        .current_dir(&arena.workspace)
        .output()
        .unwrap();
    // Exit 1: another session holds the lock, fresh.
    assert_eq!(status.status.code(), Some(1), "{}", stderr_text(&status));
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    let holder_line = status
        .lines()
        .find(|l| l.starts_with("holder"))
        .unwrap_or_default();
    assert!(holder_line.contains("session-arm64"), "{status}");
}

/// Runs the hook command `install` registered for Claude Code's `PreToolUse` in `home`, as
/// Claude Code runs it (`sh -c`), on a `Write` by `session`; returns its output.
fn run_registered_hook(arena: &Arena, home: &Path, path: &str, session: &str) -> Output {
    let settings: Value =
        serde_json::from_slice(&fs::read(home.join(".claude/settings.json")).unwrap()).unwrap();
    let command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .expect("install registered a PreToolUse hook")
        .to_owned();
    // The stable copy of the native binary, never a launcher of a package manager.
    assert!(
        command.contains(".local/share/session-lock/bin/session-lock"),
        "{command}"
    );
    let mut hook = Command::new("sh");
    hook.args(["-c", &command])
        .env_clear()
        .env("HOME", home)
        .env("PATH", path)
        .env("SESSION_LOCK_DIR", &arena.lock_dir)
        .current_dir(&arena.workspace);
    let mut child = arena.spawn_command(&mut hook);
    feed(&mut child, &arena.pre_tool_use(session));
    child.wait_with_output().unwrap()
}

/// `session-lock install` with `program` (what the package manager put on PATH), then the
/// registered hook takes the lock.
fn install_and_take_the_lock(program: &str, home: &Path, path: &str, session: &str) {
    let mut command = Command::new(program);
    command.env_clear();
    install_with_and_take_the_lock(command, home, path, session);
}

/// [`install_and_take_the_lock`] with `command` (a program and its leading arguments, as for
/// `uvx session-lock`) run with `install` and only `HOME`, `PATH` and the lock directory, plus
/// what `command` already set.
fn install_with_and_take_the_lock(mut command: Command, home: &Path, path: &str, session: &str) {
    let arena = Arena::new("unused", &[]);
    succeed(
        command
            .arg("install")
            .env("HOME", home)
            .env("PATH", path)
            .env("SESSION_LOCK_DIR", &arena.lock_dir)
            .current_dir(&arena.workspace),
    );
    let output = run_registered_hook(&arena, home, path, session);
    assert_eq!(answer(&output), Answer::Allow, "{}", stderr_text(&output));
    assert_eq!(arena.holder().as_deref(), Some(session));
}

#[test]
fn npm_install_g_and_npx_from_a_registry_then_install_registers_a_hook_that_takes_the_lock() {
    let Some(dist) = dist() else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some(registry) = Registry::start(dir.path()) else {
        return;
    };
    let home = dir.path().join("home");
    let prefix = dir.path().join("npm-global");
    fs::create_dir_all(&home).unwrap();
    let path = path_without_rust(&prefix.join("bin"));
    registry.publish(&dist, &home, &prefix, &path);

    // A damaged download: the x64 package's stored tarball cut short. npm refuses it ("seems
    // to be corrupted", after retrying) and, the package being optional, installs the launcher
    // without it; the launcher then says in one line which package is missing, and `install`
    // registers nothing.
    let stored = registry
        .storage
        .join("session-lock-linux-x64")
        .join(format!("session-lock-linux-x64-{VERSION}.tgz"));
    let good = fs::read(&stored).unwrap();
    truncate_half(&stored);
    let damaged_home = dir.path().join("damaged-home");
    let damaged_prefix = dir.path().join("damaged-global");
    fs::create_dir_all(&damaged_home).unwrap();
    let damaged_path = path_without_rust(&damaged_prefix.join("bin"));
    let output = registry
        .npm(&damaged_home, &damaged_prefix, &damaged_path)
        .args(["install", "-g", "session-lock"])
        .output()
        .unwrap();
    let npm_said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr_text(&output)
    );
    eprintln!("npm install -g from a damaged tarball: {npm_said}");
    assert!(
        npm_said.contains("session-lock-linux-x64") && npm_said.contains("corrupted"),
        "{npm_said}"
    );
    let launcher = damaged_prefix.join("bin/session-lock");
    if launcher.exists() {
        let output = Command::new(&launcher)
            .arg("install")
            .env_clear()
            .env("HOME", &damaged_home)
            .env("PATH", &damaged_path)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let said = stderr_text(&output);
        assert_eq!(said.lines().count(), 1, "{said}");
        assert!(
            said.contains("session-lock-linux-x64") && said.contains("not installed"),
            "{said}"
        );
    }
    assert!(
        !damaged_home.join(".claude/settings.json").exists(),
        "nothing is registered"
    );
    assert!(
        !damaged_home.join(".local/share/session-lock").exists(),
        "no copy is left"
    );
    fs::write(&stored, good).unwrap();

    // npx, with nothing installed: fetched from the registry and run.
    let output = succeed(
        registry
            .npm(&home, &prefix, &path)
            .args(["exec", "--yes", "--", "session-lock", "--version"])
            .current_dir(dir.path()),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(VERSION));
    // `npx session-lock install`, in a home of its own: the binary runs from npx's cache, and
    // install copies it out.
    let npx_home = dir.path().join("npx-home");
    fs::create_dir_all(&npx_home).unwrap();
    let mut npx_install = registry.npm(&npx_home, &prefix, &path);
    npx_install.args(["exec", "--yes", "--", "session-lock"]);
    install_with_and_take_the_lock(npx_install, &npx_home, &path, "session-npx");

    succeed(
        registry
            .npm(&home, &prefix, &path)
            .args(["install", "-g", "session-lock"]),
    );
    let modules = prefix.join("lib/node_modules/session-lock/node_modules");
    assert!(
        modules
            .join("session-lock-linux-x64/bin/session-lock")
            .is_file()
    );
    assert!(
        !modules.join("session-lock-linux-arm64").exists(),
        "npm installs only the package of this platform"
    );
    let output = succeed(
        Command::new("npx")
            .args(["session-lock", "--version"])
            .env_clear()
            .env("HOME", &home)
            .env("PATH", &path)
            .env("npm_config_userconfig", &registry.npmrc)
            .env("npm_config_prefix", &prefix)
            .env("npm_config_cache", home.join(".npm"))
            .current_dir(dir.path()),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(VERSION));
    let program = prefix.join("bin/session-lock");
    install_and_take_the_lock(program.to_str().unwrap(), &home, &path, "session-npm");
}

/// The wheel of `tag` in `dist/wheels`.
fn wheel(dist: &Path, tag: &str) -> PathBuf {
    dist.join("wheels")
        .join(format!("session_lock-{VERSION}-py3-none-{tag}.whl"))
}

#[test]
fn pip_install_into_a_fresh_venv_then_install_registers_a_hook_that_takes_the_lock() {
    let Some(dist) = dist() else { return };
    let Some(python) = which("python3") else {
        return skip("python3 is not installed");
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let venv = dir.path().join("venv");
    succeed(Command::new(&python).args(["-m", "venv"]).arg(&venv));
    let pip = |home: &Path| {
        let mut command = Command::new(venv.join("bin/pip"));
        command
            .env_clear()
            .env("HOME", home)
            .env("PATH", path_without_rust(&venv.join("bin")))
            .env("PIP_NO_CACHE_DIR", "1")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .arg("install")
            .arg("--no-index");
        command
    };

    // A damaged download: a copy of the folder with the x86-64 manylinux wheel cut short,
    // installed pinned to SHA256SUMS's digest. pip refuses it, and nothing is installed.
    let damaged = dir.path().join("damaged-wheels");
    fs::create_dir_all(&damaged).unwrap();
    let tag = "manylinux_2_17_x86_64.manylinux2014_x86_64";
    let name = wheel(&dist, tag);
    let relative = format!("wheels/{}", name.file_name().unwrap().to_str().unwrap());
    let digest = sums(&dist)
        .into_iter()
        .find(|(_, p)| *p == relative)
        .expect("the wheel is listed")
        .0;
    fs::copy(&name, damaged.join(name.file_name().unwrap())).unwrap();
    truncate_half(&damaged.join(name.file_name().unwrap()));
    let requirements = dir.path().join("requirements.txt");
    fs::write(
        &requirements,
        format!("session-lock=={VERSION} --hash=sha256:{digest}\n"),
    )
    .unwrap();
    let output = pip(&home)
        .arg("--find-links")
        .arg(&damaged)
        .arg("--require-hashes")
        .arg("-r")
        .arg(&requirements)
        .output()
        .unwrap();
    assert!(!output.status.success());
    eprintln!("pip install of a damaged wheel: {}", stderr_text(&output));
    assert!(
        stderr_text(&output).contains("DO NOT MATCH THE HASHES"),
        "{}",
        stderr_text(&output)
    );
    assert!(
        !venv.join("bin/session-lock").exists(),
        "nothing is installed"
    );

    // The real folder, the same pinned digest: installed.
    succeed(
        pip(&home)
            .arg("--find-links")
            .arg(dist.join("wheels"))
            .arg("--require-hashes")
            .arg("-r")
            .arg(&requirements),
    );
    let program = venv.join("bin/session-lock");
    let path = path_without_rust(&venv.join("bin"));
    let output = succeed(
        Command::new(&program)
            .arg("--version")
            .env_clear()
            .env("PATH", &path),
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(VERSION));
    install_and_take_the_lock(program.to_str().unwrap(), &home, &path, "session-pip");
}

#[test]
fn every_wheel_installs_for_its_platform_tag_and_holds_that_architectures_binary() {
    let Some(dist) = dist() else { return };
    let Some(python) = which("python3") else {
        return skip("python3 is not installed");
    };
    let dir = tempfile::tempdir().unwrap();
    let binaries = dir.path().join("binaries");
    fs::create_dir_all(&binaries).unwrap();
    for (target, tags) in [
        (X86_64, ["manylinux_2_17_x86_64", "musllinux_1_2_x86_64"]),
        (AARCH64, ["manylinux_2_17_aarch64", "musllinux_1_2_aarch64"]),
    ] {
        let binary = fs::read(unpack_binary(&dist, target, &binaries)).unwrap();
        for tag in tags {
            // pip picks the wheel by the platform it is told, as it would on that machine.
            let into = dir.path().join(tag);
            succeed(
                Command::new(&python)
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--no-index",
                        "--no-deps",
                        "--only-binary=:all:",
                    ])
                    .args(["--platform", tag, "--target"])
                    .arg(&into)
                    .arg("--find-links")
                    .arg(dist.join("wheels"))
                    .arg("session-lock")
                    .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
                    .env("PIP_NO_CACHE_DIR", "1"),
            );
            let script = into.join("bin/session-lock");
            assert!(
                fs::read(&script).unwrap() == binary,
                "{tag}: the {target} binary"
            );
            use std::os::unix::fs::PermissionsExt;
            assert!(
                fs::metadata(&script).unwrap().permissions().mode() & 0o111 != 0,
                "{tag}: executable"
            );
        }
    }
}

#[test]
fn uvx_runs_the_wheel_then_install_registers_a_hook_that_takes_the_lock() {
    let Some(dist) = dist() else { return };
    let Some(uvx) = which("uvx") else {
        return skip("uv is not installed (`.ci/run` installs it from PyPI)");
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let path = path_without_rust(Path::new("/usr/bin"));
    let uvx_session_lock = || {
        let mut command = Command::new(&uvx);
        command
            .args(["--no-index", "--find-links"])
            .arg(dist.join("wheels"))
            .arg("session-lock")
            .env_clear()
            .env("HOME", &home)
            .env("PATH", &path)
            .env("UV_CACHE_DIR", dir.path().join("uv-cache"))
            .env("UV_TOOL_DIR", dir.path().join("uv-tools"));
        command
    };
    let output = succeed(uvx_session_lock().arg("--version"));
    assert!(String::from_utf8_lossy(&output.stdout).contains(VERSION));
    // `uvx session-lock install`: the binary runs from uv's cache, and install copies it out.
    install_with_and_take_the_lock(uvx_session_lock(), &home, &path, "session-uvx");
}

/// The main npm package unpacked (`package/`), with no platform package beside it.
fn unpacked_main_package(dist: &Path, into: &Path) -> PathBuf {
    succeed(
        Command::new("tar")
            .arg("xzf")
            .arg(dist.join(format!("npm/session-lock-{VERSION}.tgz")))
            .arg("-C")
            .arg(into),
    );
    into.join("package/bin/session-lock.js")
}

/// Runs the npm launcher with node, `process.platform` and `process.arch` made `platform`
/// and `arch`, as on a machine of that kind.
fn launcher_on(launcher: &Path, platform: &str, arch: &str) -> Output {
    let script = format!(
        "Object.defineProperty(process, 'platform', {{ value: {platform:?} }});\
         Object.defineProperty(process, 'arch', {{ value: {arch:?} }});\
         process.argv = [process.argv[0], {launcher:?}, 'install'];\
         require({launcher:?});",
        launcher = launcher.to_str().unwrap()
    );
    Command::new("node").args(["-e", &script]).output().unwrap()
}

#[test]
fn an_unsupported_platform_gets_one_line_naming_the_supported_ones_and_the_cargo_route() {
    let Some(dist) = dist() else { return };
    let dir = tempfile::tempdir().unwrap();
    let launcher = unpacked_main_package(&dist, dir.path());
    let manifest: Value =
        serde_json::from_slice(&fs::read(dir.path().join("package/package.json")).unwrap())
            .unwrap();
    // macOS is packaged only by an explicit `--target`.
    let packaged = |platform: &str, arch: &str| {
        manifest["optionalDependencies"][format!("session-lock-{platform}-{arch}")].is_string()
    };
    let cases = [
        ("freebsd", "x64"),
        ("win32", "x64"),
        ("linux", "ia32"),
        ("darwin", "arm64"),
    ];
    for (platform, arch) in cases.into_iter().filter(|(p, a)| !packaged(p, a)) {
        let output = launcher_on(&launcher, platform, arch);
        assert_eq!(output.status.code(), Some(1), "{platform}-{arch}");
        let said = stderr_text(&output);
        assert_eq!(said.lines().count(), 1, "one line: {said}");
        for part in [
            format!("{platform}-{arch}"),
            "linux-x64".into(),
            "linux-arm64".into(),
            "cargo install".into(),
        ] {
            assert!(said.contains(&part), "{part} in: {said}");
        }
    }
    // A supported platform whose package npm left out (`--omit=optional`): one line too.
    let output = launcher_on(&launcher, "linux", "x64");
    assert_eq!(output.status.code(), Some(1));
    let said = stderr_text(&output);
    assert_eq!(said.lines().count(), 1, "one line: {said}");
    assert!(
        said.contains("session-lock-linux-x64") && said.contains("npm install -g session-lock"),
        "{said}"
    );
}
