//! `cargo xtask dist [--target TRIPLE]...`: the release artifacts, in `<target dir>/dist/`.
//!
//! - `session-lock-<version>-<target>.tar.gz`: the static binary (its policy component
//!   precompiled for the target's baseline ISA by `host/build.rs`) and the README;
//! - `npm/`: `npm pack` tarballs of `session-lock` (a Node.js launcher, no install script) and
//!   one package per platform holding its binary, chosen by npm through `os`/`cpu`;
//! - `wheels/`: one wheel per platform tag, the binary as a script (`pip`, `pipx`, `uvx`);
//! - `SHA256SUMS` over all of them, for `sha256sum -c`.
//!
//! Every target is built by one `cargo build`, so the build dependencies (wasmtime's compiler,
//! which precompiles the component) compile once; the x86-64 binary is then linked again with
//! its hot functions first ([`layout`]). What the build needs is installed here: the rustup
//! targets, for aarch64 Debian's cross C compiler, and valgrind for the layout's profile.

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod layout;

/// The workspace version (`[workspace.package]`), which every artifact carries.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The Node.js launcher of the main npm package.
const NPM_LAUNCHER: &str = include_str!("../npm/session-lock.js");

/// The targets built when none is named: static Linux binaries, run on any distribution.
const DEFAULT_TARGETS: &[&str] = &["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];

/// One target's names in each packaging system.
struct Platform {
    /// The Rust target.
    triple: &'static str,
    /// npm's `process.platform` / `os`.
    npm_os: &'static str,
    /// npm's `process.arch` / `cpu`.
    npm_cpu: &'static str,
    /// One wheel per entry; an entry holds the tags of that wheel (a compressed tag set).
    wheel_tags: &'static [&'static [&'static str]],
    /// Built with cargo-zigbuild (macOS: zig brings the linker and the SDK's stubs), and never
    /// run here: only behind an explicit `--target`, and labelled so.
    zig: bool,
}

const PLATFORMS: &[Platform] = &[
    Platform {
        triple: "x86_64-unknown-linux-musl",
        npm_os: "linux",
        npm_cpu: "x64",
        // The binary is static, so it runs on any glibc and any musl distribution; pip and uv
        // pick the wheel by tag, so both families get one.
        wheel_tags: &[
            &["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
            &["musllinux_1_2_x86_64"],
        ],
        zig: false,
    },
    Platform {
        triple: "aarch64-unknown-linux-musl",
        npm_os: "linux",
        npm_cpu: "arm64",
        wheel_tags: &[
            &["manylinux_2_17_aarch64", "manylinux2014_aarch64"],
            &["musllinux_1_2_aarch64"],
        ],
        zig: false,
    },
    // macOS 11 or later (MACOSX_DEPLOYMENT_TARGET below; without it the binary asks for the
    // SDK's own version).
    Platform {
        triple: "aarch64-apple-darwin",
        npm_os: "darwin",
        npm_cpu: "arm64",
        wheel_tags: &[&["macosx_11_0_arm64"]],
        zig: true,
    },
    Platform {
        triple: "x86_64-apple-darwin",
        npm_os: "darwin",
        npm_cpu: "x64",
        wheel_tags: &[&["macosx_11_0_x86_64"]],
        zig: true,
    },
];

/// The macOS version the macOS binaries (and their wheels' tags) ask for.
const MACOSX_DEPLOYMENT_TARGET: &str = "11.0";
/// cargo-zigbuild and the zig of the `ziglang` wheel, pinned.
const CARGO_ZIGBUILD_VERSION: &str = "0.24.1";
const ZIGLANG_VERSION: &str = "0.15.2";

fn main() {
    if let Err(error) = run() {
        eprintln!("xtask: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = env::args().skip(1);
    match args.next().as_deref() {
        Some("dist") => {}
        Some(other) => bail!("unknown task `{other}`; the task is: dist [--target TRIPLE]..."),
        None => bail!("usage: cargo xtask dist [--target TRIPLE]..."),
    }
    let mut targets = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--target" => targets.push(args.next().context("--target needs a target triple")?),
            other => {
                bail!("unknown argument `{other}`; usage: cargo xtask dist [--target TRIPLE]...")
            }
        }
    }
    if targets.is_empty() {
        targets = DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let platforms = targets
        .iter()
        .map(|t| {
            PLATFORMS.iter().find(|p| p.triple == t).with_context(|| {
                let known: Vec<_> = PLATFORMS.iter().map(|p| p.triple).collect();
                format!("no packaging for target `{t}`; known: {}", known.join(", "))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    dist(&platforms)
}

/// The whole release: build, then pack each format, then the checksums.
fn dist(platforms: &[&Platform]) -> Result<()> {
    let started = Instant::now();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask/ has a parent")?
        .to_path_buf();
    let target_dir = target_dir(&cargo, &root)?;
    let dist = target_dir.join("dist");
    let staging = target_dir.join("dist-staging");

    install_toolchain(platforms)?;
    let (zig, native): (Vec<&Platform>, Vec<&Platform>) =
        platforms.iter().copied().partition(|p| p.zig);
    if !native.is_empty() {
        build(&cargo, &root, &target_dir, &native)?;
    }
    if !zig.is_empty() {
        zigbuild(&cargo, &root, &target_dir.join("dist-tools"), &zig)?;
    }
    // Only once every build succeeded: a failed build leaves the last release in place.
    for dir in [&dist, &staging] {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    fs::create_dir_all(&dist)?;
    if !zig.is_empty() {
        let names: Vec<_> = zig.iter().map(|p| p.triple).collect();
        fs::write(
            dist.join("BUILT-NOT-RUN.txt"),
            format!(
                "Built and linked, but never run by this project's tests (no such machine): {}\n",
                names.join(", ")
            ),
        )?;
    }
    let readme = fs::read(root.join("README.md")).context("reading README.md")?;
    let license = fs::read(root.join("LICENSE")).ok();

    let mut binaries = BTreeMap::new();
    for platform in platforms {
        let binary = target_dir
            .join(platform.triple)
            .join("release")
            .join("session-lock");
        let bytes = fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
        write_tarball(&dist, platform, &bytes, &readme, license.as_deref())?;
        binaries.insert(platform.triple, bytes);
    }
    npm_packages(
        &dist.join("npm"),
        &staging.join("npm"),
        platforms,
        &binaries,
        &readme,
    )?;
    wheels(&dist.join("wheels"), platforms, &binaries, &readme)?;
    let sums = write_sha256sums(&dist)?;
    fs::remove_dir_all(&staging).ok();

    println!(
        "\nin {} ({} s):",
        dist.display(),
        started.elapsed().as_secs()
    );
    for (path, size) in sums {
        println!("{size:>10}  {path}");
    }
    Ok(())
}

/// The target directory cargo uses (`CARGO_TARGET_DIR`, `build.target-dir` or the
/// workspace's `target/`), as `cargo metadata` reports it.
fn target_dir(cargo: &OsString, root: &Path) -> Result<PathBuf> {
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    let dir = metadata["target_directory"]
        .as_str()
        .context("cargo metadata names no target_directory")?;
    Ok(PathBuf::from(dir))
}

/// Runs `program args`, failing with its name unless it succeeds.
fn run_command(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Whether `program` is on `PATH`.
fn on_path(program: &str) -> bool {
    env::var_os("PATH").is_some_and(|path| {
        env::split_paths(&path)
            .any(|dir| fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file()))
    })
}

/// The rustup targets (the guest's too), and each target's C compiler (wasmtime and ring
/// compile C): the system's `gcc` for x86-64, Debian's `gcc-aarch64-linux-gnu` for aarch64.
fn install_toolchain(platforms: &[&Platform]) -> Result<()> {
    if on_path("rustup") {
        let mut rustup = Command::new("rustup");
        rustup.args(["target", "add", "wasm32-unknown-unknown"]);
        rustup.args(platforms.iter().map(|p| p.triple));
        run_command(&mut rustup)?;
    } else {
        eprintln!("xtask: no rustup on PATH; the targets must already be installed");
    }
    let wants_aarch64 = platforms
        .iter()
        .any(|p| p.triple == "aarch64-unknown-linux-musl");
    if wants_aarch64 && !on_path("aarch64-linux-gnu-gcc") {
        apt_install("gcc-aarch64-linux-gnu")?;
    }
    if platforms
        .iter()
        .any(|p| p.triple == "x86_64-unknown-linux-musl")
        && !on_path("gcc")
    {
        apt_install("gcc")?;
    }
    Ok(())
}

/// `apt-get install -y PACKAGE` (as root, or through `sudo -n`), with `apt-get update` first.
fn apt_install(package: &str) -> Result<()> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let prefix: &[&str] = if root { &[] } else { &["sudo", "-n"] };
    if !on_path("apt-get") || (!root && !on_path("sudo")) {
        bail!(
            "the build needs {package}; install it (Debian: apt-get install {package}) and run again"
        );
    }
    for args in [&["update"][..], &["install", "-y", package][..]] {
        let mut command = Command::new(prefix.first().copied().unwrap_or("apt-get"));
        command
            .args(prefix.iter().skip(1))
            .args(if root { &[][..] } else { &["apt-get"][..] });
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run_command(&mut command)
            .with_context(|| format!("installing {package}, which the build needs"))?;
    }
    Ok(())
}

/// One `cargo build --release` for every target, then the x86-64 binary laid out with its
/// hot functions first ([`layout`]).
fn build(cargo: &OsString, root: &Path, target_dir: &Path, platforms: &[&Platform]) -> Result<()> {
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--locked", "-p", "session-lock"]);
    for platform in platforms {
        command.args(["--target", platform.triple]);
    }
    linking(&mut command);
    run_command(&mut command)?;
    if platforms.iter().any(|p| p.triple == layout::TRIPLE) {
        layout::hot_functions_first(cargo, root, target_dir, linking)?;
    }
    Ok(())
}

/// How the Linux binaries are compiled and linked. The C parts by the target's compiler; the
/// binaries by the toolchain's own lld (Rust's musl targets bring their C library and start
/// files), which can order functions ([`layout`]), with relative relocations packed (RELR,
/// which the static binaries' musl 1.2.5 applies at start: 180 KB less to read than
/// `.rela.dyn`).
fn linking(command: &mut Command) {
    let relr = "-C link-arg=-zpack-relative-relocs";
    command
        .env("CC_x86_64_unknown_linux_musl", "gcc")
        .env("CC_aarch64_unknown_linux_musl", "aarch64-linux-gnu-gcc")
        .env("AR_aarch64_unknown_linux_musl", "ar")
        .env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld")
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld")
        .env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS", relr)
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS", relr);
}

/// The macOS targets, through cargo-zigbuild (pinned, installed under `tools`) with the zig
/// of the `ziglang` wheel (pinned, in a virtual environment under `tools`).
fn zigbuild(cargo: &OsString, root: &Path, tools: &Path, platforms: &[&Platform]) -> Result<()> {
    let venv = tools.join("venv");
    if !venv.join("bin/python3").exists() {
        run_command(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .context("the macOS build needs python3 (with venv) for the ziglang wheel")?;
    }
    run_command(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--disable-pip-version-check", "--quiet"])
            .arg(format!("ziglang=={ZIGLANG_VERSION}")),
    )?;
    if !tools.join("bin/cargo-zigbuild").exists() {
        run_command(
            Command::new(cargo)
                .args(["install", "--locked", "cargo-zigbuild", "--version"])
                .arg(CARGO_ZIGBUILD_VERSION)
                .arg("--root")
                .arg(tools),
        )?;
    }
    // cargo-zigbuild finds zig as `python3 -m ziglang`: the environment's python3 first.
    let mut path = vec![tools.join("bin"), venv.join("bin")];
    path.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["zigbuild", "--release", "--locked", "-p", "session-lock"]);
    for platform in platforms {
        command.args(["--target", platform.triple]);
    }
    command
        .env("PATH", env::join_paths(path)?)
        .env("MACOSX_DEPLOYMENT_TARGET", MACOSX_DEPLOYMENT_TARGET);
    run_command(&mut command)
}

/// A fixed modification time for archive entries (2020-01-01), so that the same binary
/// always packs to the same bytes.
const MTIME: u64 = 1_577_836_800;

/// `session-lock-<version>-<target>.tar.gz`: a folder of that name holding the binary, the
/// README and the LICENSE when there is one.
fn write_tarball(
    dist: &Path,
    platform: &Platform,
    binary: &[u8],
    readme: &[u8],
    license: Option<&[u8]>,
) -> Result<()> {
    let name = format!("session-lock-{VERSION}-{}", platform.triple);
    let file = File::create(dist.join(format!("{name}.tar.gz")))?;
    let gzip = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gzip);
    let mut entries = vec![
        ("session-lock", binary, 0o755),
        ("README.md", readme, 0o644),
    ];
    if let Some(license) = license {
        entries.push(("LICENSE", license, 0o644));
    }
    for (file_name, bytes, mode) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, format!("{name}/{file_name}"), bytes)?;
    }
    tar.into_inner()?.finish()?.sync_all()?;
    Ok(())
}

/// The npm tarballs: one package per platform holding its binary, and `session-lock`, whose
/// launcher runs the binary of the one npm installed.
fn npm_packages(
    out: &Path,
    staging: &Path,
    platforms: &[&Platform],
    binaries: &BTreeMap<&str, Vec<u8>>,
    readme: &[u8],
) -> Result<()> {
    fs::create_dir_all(out)?;
    let description = "Keeps parallel AI coding agent sessions from mutating one workspace at once";
    let mut optional = serde_json::Map::new();
    for platform in platforms {
        let name = format!("session-lock-{}-{}", platform.npm_os, platform.npm_cpu);
        let dir = staging.join(&name);
        let manifest = json!({
            "name": name,
            "version": VERSION,
            "description": format!(
                "The session-lock binary for {} {}, used by the session-lock package{}",
                platform.npm_os,
                platform.npm_cpu,
                if platform.zig { " (built, not run by its tests)" } else { " (static)" }
            ),
            "license": "Apache-2.0",
            "os": [platform.npm_os],
            "cpu": [platform.npm_cpu],
            "files": ["bin/session-lock"],
            "preferUnplugged": true,
        });
        write_file(
            &dir.join("package.json"),
            pretty(&manifest).as_bytes(),
            0o644,
        )?;
        write_file(
            &dir.join("bin/session-lock"),
            &binaries[platform.triple],
            0o755,
        )?;
        write_file(&dir.join("README.md"), readme, 0o644)?;
        npm_pack(&dir, out)?;
        optional.insert(name, json!(VERSION));
    }
    let dir = staging.join("session-lock");
    let manifest = json!({
        "name": "session-lock",
        "version": VERSION,
        "description": description,
        "license": "Apache-2.0",
        "keywords": ["claude-code", "codex", "gemini-cli", "cursor", "hooks", "lock", "agents"],
        "bin": { "session-lock": "bin/session-lock.js" },
        "files": ["bin/session-lock.js"],
        "engines": { "node": ">=18" },
        "optionalDependencies": optional,
    });
    write_file(
        &dir.join("package.json"),
        pretty(&manifest).as_bytes(),
        0o644,
    )?;
    write_file(
        &dir.join("bin/session-lock.js"),
        NPM_LAUNCHER.as_bytes(),
        0o755,
    )?;
    write_file(&dir.join("README.md"), readme, 0o644)?;
    npm_pack(&dir, out)
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// `npm pack` of the package in `dir`, into `out`.
fn npm_pack(dir: &Path, out: &Path) -> Result<()> {
    run_command(
        Command::new("npm")
            .args(["pack", "--ignore-scripts", "--silent", "--pack-destination"])
            .arg(out)
            .current_dir(dir)
            .stdout(std::process::Stdio::null()),
    )
    .context("npm pack (Node.js and npm must be installed)")
}

/// Writes `bytes` at `path` with `mode`, creating its folder.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(path.parent().context("a file has a folder")?)?;
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// One wheel per tag set of each platform, written directly (a wheel is a zip file with
/// metadata): the already built binary as the script `session-lock`, no second compile.
fn wheels(
    out: &Path,
    platforms: &[&Platform],
    binaries: &BTreeMap<&str, Vec<u8>>,
    readme: &[u8],
) -> Result<()> {
    fs::create_dir_all(out)?;
    let distribution = "session_lock";
    let info = format!("{distribution}-{VERSION}.dist-info");
    let mut metadata = format!(
        "Metadata-Version: 2.1\nName: session-lock\nVersion: {VERSION}\n\
         Summary: Keeps parallel AI coding agent sessions from mutating one workspace at once\n\
         License: Apache-2.0\nKeywords: claude-code,codex,gemini-cli,cursor,hooks,lock\n\
         Description-Content-Type: text/markdown\n\n"
    )
    .into_bytes();
    metadata.extend_from_slice(readme);
    for platform in platforms {
        for tags in platform.wheel_tags {
            let mut wheel_file =
                "Wheel-Version: 1.0\nGenerator: session-lock xtask\nRoot-Is-Purelib: false\n"
                    .to_owned();
            for tag in *tags {
                wheel_file.push_str(&format!("Tag: py3-none-{tag}\n"));
            }
            let files: Vec<(String, &[u8], u32)> = vec![
                (
                    format!("{distribution}-{VERSION}.data/scripts/session-lock"),
                    &binaries[platform.triple],
                    0o755,
                ),
                (format!("{info}/METADATA"), &metadata, 0o644),
                (format!("{info}/WHEEL"), wheel_file.as_bytes(), 0o644),
            ];
            let name = format!("{distribution}-{VERSION}-py3-none-{}.whl", tags.join("."));
            write_wheel(&out.join(name), &info, &files)?;
        }
    }
    Ok(())
}

/// The zip of `files` plus their RECORD (sha256 in urlsafe base64 without padding, size).
fn write_wheel(path: &Path, info: &str, files: &[(String, &[u8], u32)]) -> Result<()> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(File::create(path)?);
    let mut record = String::new();
    let options = |mode| {
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .unix_permissions(mode)
            .last_modified_time(zip::DateTime::default())
    };
    for (name, bytes, mode) in files {
        zip.start_file(name.as_str(), options(*mode))?;
        zip.write_all(bytes)?;
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
        record.push_str(&format!("{name},sha256={digest},{}\n", bytes.len()));
    }
    let record_name = format!("{info}/RECORD");
    record.push_str(&format!("{record_name},,\n"));
    zip.start_file(record_name.as_str(), options(0o644))?;
    zip.write_all(record.as_bytes())?;
    zip.finish()?.sync_all()?;
    Ok(())
}

/// `SHA256SUMS` over every file in `dist` (paths relative to it, sorted), in the format of
/// `sha256sum`; returns each file's path and size.
fn write_sha256sums(dist: &Path) -> Result<Vec<(String, u64)>> {
    let mut files = Vec::new();
    collect_files(dist, dist, &mut files)?;
    files.sort();
    let mut sums = String::new();
    let mut sizes = Vec::new();
    for relative in files {
        let mut bytes = Vec::new();
        File::open(dist.join(&relative))?.read_to_end(&mut bytes)?;
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        sums.push_str(&format!("{hex}  {relative}\n"));
        sizes.push((relative, bytes.len() as u64));
    }
    fs::write(dist.join("SHA256SUMS"), sums)?;
    Ok(sizes)
}

fn collect_files(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(base, &path, out)?;
        } else if path.file_name() != Some("SHA256SUMS".as_ref()) {
            let relative = path
                .strip_prefix(base)?
                .to_str()
                .context("a UTF-8 file name")?;
            out.push(relative.to_owned());
        }
    }
    Ok(())
}
