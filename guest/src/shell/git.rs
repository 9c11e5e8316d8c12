//! `git`: its global options (where `-C DIR` names a directory) and which subcommands only
//! read.

use super::rules::{Rule, long_option_in, short_cluster};
use super::words::Word;

/// A `git` command line, read up to its subcommand.
pub struct Invocation<'a> {
    /// The argument of every `-C`, in order.
    pub directories: Vec<&'a Word>,
    /// Whether `--no-optional-locks` was given: then `status` and `diff` take no index lock.
    pub no_optional_locks: bool,
    /// The first global option that is not known to be harmless (`-c`, `--git-dir`, …).
    pub unknown_option: Option<&'a str>,
    /// Whether `--version` came before any subcommand: git prints its version, nothing else.
    pub version: bool,
    /// The subcommand and its arguments (empty: `git` alone, or `git --version`).
    pub rest: &'a [Word],
}

/// Reads the global options of `git` (`words[0]` is `git`).
pub fn parse(words: &[Word]) -> Invocation<'_> {
    let mut invocation = Invocation {
        directories: Vec::new(),
        no_optional_locks: false,
        unknown_option: None,
        version: false,
        rest: &[],
    };
    let mut i = 1;
    while let Some(word) = words.get(i) {
        match word.text.as_str() {
            "-C" => match words.get(i + 1) {
                Some(dir) => {
                    invocation.directories.push(dir);
                    i += 1;
                }
                None => {
                    invocation.unknown_option.get_or_insert("-C");
                }
            },
            "--no-optional-locks" => invocation.no_optional_locks = true,
            // Harmless: pagers and pathspec interpretation.
            "--no-pager" | "-P" | "-p" | "--paginate" | "--literal-pathspecs" => {}
            // `--version` prints and ignores the rest.
            "--version" => {
                invocation.version = true;
                return invocation;
            }
            // Refused, but their value must not be read as the subcommand.
            "-c" | "--git-dir" | "--work-tree" | "--namespace" | "--config-env"
            | "--super-prefix" => {
                invocation.unknown_option.get_or_insert(&word.text);
                i += 1;
            }
            option if option.starts_with('-') => {
                // Keep reading: a later `-C` still names a directory.
                invocation.unknown_option.get_or_insert(option);
            }
            _ => {
                invocation.rest = &words[i..];
                return invocation;
            }
        }
        i += 1;
    }
    invocation
}

/// Whether this `git` command refreshes the index, as `git status` and `git diff` do: they
/// take `.git/index.lock` for a moment unless optional locks are off.
pub fn refreshes_index(words: &[Word], assignments: &[Word]) -> bool {
    let invocation = parse(words);
    let locks_off = invocation.no_optional_locks
        || assignments
            .iter()
            .any(|a| a.text == "GIT_OPTIONAL_LOCKS=0" && a.is_literal());
    !locks_off
        && invocation
            .rest
            .first()
            .is_some_and(|sub| sub.text == "status" || sub.text == "diff")
}

/// Long options no subcommand may have: they write files or run programs. Abbreviations
/// count, since git accepts any unambiguous prefix.
const WRITES_OR_RUNS: &[&str] = &["output", "ext-diff", "textconv", "exec"];

/// Whether this `git` command (`words[0]` is `git`) only reads.
pub fn check(words: &[Word]) -> Rule {
    let invocation = parse(words);
    if let Some(option) = invocation.unknown_option {
        return Rule::Mutating(format!(
            "`git {option}` is not a known read-only global option"
        ));
    }
    let Some((sub, args)) = invocation.rest.split_first() else {
        return if invocation.version {
            Rule::ReadOnly("git --version".into())
        } else {
            Rule::Mutating("`git` without a subcommand".into())
        };
    };
    let name = sub.text.as_str();
    for arg in args {
        if arg.may_hide_an_option() {
            return Rule::Mutating(format!(
                "a pattern in an argument of `git {name}` could expand to an option"
            ));
        }
        let text = arg.text.as_str();
        // `--text` is a diff option of its own, not an abbreviation of `--textconv`.
        if text != "--text" && long_option_in(text, WRITES_OR_RUNS) {
            return Rule::Mutating(format!("`git {name} {text}` writes or runs a program"));
        }
    }
    let texts = || args.iter().map(|a| a.text.as_str());
    let verdict = match name {
        "status" | "blame" | "rev-parse" | "ls-files" | "ls-tree" | "shortlog" | "version"
        | "merge-base" | "for-each-ref" | "rev-list" | "show-ref" | "cherry" | "count-objects"
        | "name-rev" | "check-ignore" | "var" => Ok(()),
        "tag" => tag(args),
        "stash" => match texts().next() {
            Some("list" | "show") => Ok(()),
            _ => Err("only `git stash list` and `git stash show` are known to be read-only".into()),
        },
        "worktree" => match texts().next() {
            Some("list") => Ok(()),
            _ => Err("only `git worktree list` is known to be read-only".into()),
        },
        "config" => config(args),
        "reflog" => match texts().find(|t| !t.starts_with('-')) {
            Some(sub @ ("expire" | "delete" | "drop" | "write")) => {
                Err(format!("`git reflog {sub}` changes the reflog"))
            }
            _ => Ok(()),
        },
        // `--upload-pack` names a program; an `ext::` or `fd::` remote is a command.
        "ls-remote" => match texts()
            .find(|t| long_option_in(t, &["upload-pack"]) || *t == "-u" || t.contains("::"))
        {
            Some(t) => Err(format!("`git ls-remote {t}` runs a program")),
            None => Ok(()),
        },
        "log" | "show" | "diff" | "whatchanged" => {
            if texts().any(|t| t.starts_with("-o")) {
                Err("`-o` writes a file".to_owned())
            } else if name == "diff" && texts().any(|t| long_option_in(t, &["no-index"])) {
                Err("`git diff --no-index` is not accepted".to_owned())
            } else {
                Ok(())
            }
        }
        "describe" => match texts().find(|t| long_option_in(t, &["dirty", "broken"])) {
            // They refresh the index, and may write it.
            Some(t) => Err(format!("`git describe {t}` refreshes the index")),
            None => Ok(()),
        },
        "grep" => {
            let pager = |t: &str| {
                short_cluster(t).is_some_and(|c| c.contains('O'))
                    || long_option_in(t, &["open-files-in-pager"])
            };
            match texts().find(|t| pager(t)) {
                Some(t) => Err(format!("`git grep {t}` runs a program")),
                None => Ok(()),
            }
        }
        "branch" => branch(args),
        "remote" => match args {
            [] => Ok(()),
            [only] if only.text == "-v" || only.text == "--verbose" => Ok(()),
            [sub, ..] if sub.text == "show" || sub.text == "get-url" => Ok(()),
            _ => Err(
                "only `git remote [-v]`, `git remote show` and `git remote get-url` are known \
                 to be read-only"
                    .into(),
            ),
        },
        "cat-file" => match args {
            [mode, _object] if ["-p", "-t", "-s", "-e"].contains(&mode.text.as_str()) => Ok(()),
            _ => Err("only `git cat-file -p|-t|-s|-e OBJECT` is known to be read-only".into()),
        },
        _ => Err(format!("`git {name}` is not a known read-only git command")),
    };
    match verdict {
        Ok(()) => Rule::ReadOnly(format!("git {name}")),
        Err(why) => Rule::Mutating(why),
    }
}

/// `git tag` lists tags in list mode (`-l`, `--list`, or an option that implies it: `-n`,
/// `--contains`, `--merged`, `--points-at`, …) or with no operand; `git tag NAME` creates one.
fn tag(args: &[Word]) -> Result<(), String> {
    const LISTING: &[&str] = &[
        "--sort",
        "--format",
        "--color",
        "--column",
        "--no-column",
        "-i",
        "--ignore-case",
        "--omit-empty",
    ];
    const IMPLY_LIST: &[&str] = &[
        "--contains",
        "--no-contains",
        "--merged",
        "--no-merged",
        "--points-at",
    ];
    let mut list_mode = false;
    let mut operands = false;
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        let option = text.split_once('=').map_or(text, |(name, _)| name);
        match option {
            "-l" | "--list" => list_mode = true,
            _ if option.starts_with("-n") => list_mode = true,
            "--sort" | "--format" => {
                if !text.contains('=') {
                    i += 1;
                }
            }
            _ if IMPLY_LIST.contains(&option) => {
                list_mode = true;
                let takes_next = !text.contains('=')
                    && args.get(i + 1).is_some_and(|a| !a.text.starts_with('-'));
                if takes_next {
                    i += 1;
                }
            }
            _ if LISTING.contains(&option) => {}
            _ if text.starts_with('-') => {
                return Err(format!("`git tag {text}` changes tags or runs a program"));
            }
            _ => operands = true,
        }
        i += 1;
    }
    if operands && !list_mode {
        Err("`git tag NAME` creates a tag".into())
    } else {
        Ok(())
    }
}

/// `git config` reads in its get and list modes (`--get`, `--get-all`, `--get-regexp`,
/// `--list`, `get`, `list`, …); any option that sets, unsets, renames or edits refuses it.
fn config(args: &[Word]) -> Result<(), String> {
    const READING: &[&str] = &[
        "--get",
        "--get-all",
        "--get-regexp",
        "--get-urlmatch",
        "--get-color",
        "--get-colorbool",
        "--list",
        "-l",
    ];
    const HARMLESS: &[&str] = &[
        "--local",
        "--global",
        "--system",
        "--worktree",
        "--type",
        "--bool",
        "--int",
        "--bool-or-int",
        "--path",
        "--expiry-date",
        "-z",
        "--null",
        "--name-only",
        "--show-origin",
        "--show-scope",
        "--includes",
        "--no-includes",
        "--default",
        "--file",
        "-f",
        "--blob",
        "--all",
        "--regexp",
        "--value",
        "--fixed-value",
    ];
    const WITH_VALUE: &[&str] = &["--type", "--default", "--file", "-f", "--blob", "--value"];
    let mut reading = matches!(args.first().map(|a| a.text.as_str()), Some("get" | "list"));
    let mut i = usize::from(reading);
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        let option = text.split_once('=').map_or(text, |(name, _)| name);
        if READING.contains(&option) {
            reading = true;
        } else if HARMLESS.contains(&option) {
            if WITH_VALUE.contains(&option) && !text.contains('=') {
                i += 1;
            }
        } else if text.starts_with('-') {
            return Err(format!("`git config {text}` is not known to be read-only"));
        }
        i += 1;
    }
    if reading {
        Ok(())
    } else {
        Err("`git config` without `--get` or `--list` may set a value".into())
    }
}

/// `git branch` lists branches only with listing options and, unless it is in list mode,
/// no name: `git branch NAME` creates one.
fn branch(args: &[Word]) -> Result<(), String> {
    let mut list_mode = false;
    let mut names = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        let option = text.split_once('=').map_or(text, |(name, _)| name);
        match option {
            "--list" | "-l" => list_mode = true,
            "--all" | "--remotes" | "--verbose" | "--show-current" | "--ignore-case"
            | "--no-color" | "--color" | "--no-column" | "--column" | "--abbrev"
            | "--no-abbrev" | "--omit-empty" => {}
            // Options with a required value, given separately or after `=`.
            "--sort" | "--format" => {
                if !text.contains('=') {
                    i += 1;
                }
            }
            // Filters: they imply list mode, and take a commit (HEAD when absent).
            "--merged" | "--no-merged" | "--contains" | "--no-contains" | "--points-at" => {
                list_mode = true;
                let takes_next = !text.contains('=')
                    && args.get(i + 1).is_some_and(|a| !a.text.starts_with('-'));
                if takes_next {
                    i += 1;
                }
            }
            _ if short_cluster(text).is_some_and(|c| c.chars().all(|c| "arvli".contains(c))) => {
                list_mode |= text.contains('l');
            }
            _ if text.starts_with('-') => {
                return Err(format!("`git branch {text}` changes branches"));
            }
            _ => names.push(text),
        }
        i += 1;
    }
    match names.first() {
        Some(name) if !list_mode => Err(format!("`git branch {name}` creates a branch")),
        _ => Ok(()),
    }
}
