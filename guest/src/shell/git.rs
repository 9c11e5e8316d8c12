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

/// A `git worktree add` that can change no existing work tree and no existing ref: the new
/// work tree it makes is all it writes that another session could be working in.
///
/// What git writes for `git [-C DIR]… worktree add [-b NEW | --orphan NEW | --detach] PATH
/// [COMMIT]`: the files of the new work tree at `PATH` (with a `.git` file naming its git
/// directory); its administrative directory `worktrees/<name>/` in the repository's common git
/// directory (`HEAD`, `index`, `gitdir`, `commondir`, a `locked` file while it is made), a
/// directory no other work tree reads; and with `-b`/`--orphan` a ref `refs/heads/NEW` that
/// must not exist yet (its reflog too, and with a remote start point the new branch's
/// `branch.NEW.*` config), each written under git's own `.lock` file, so a concurrent session
/// changing refs or config either goes first or after, and finds its own refs as it left them.
/// The current work tree's files, index and `HEAD` are not touched, nor is any ref that
/// exists. Without `-b`, git checks out a branch named after `PATH` (made from `HEAD` when
/// missing) or `COMMIT`: a branch checked out elsewhere is refused without `--force`, and a
/// branch checked out here moves no ref. So no session working in another work tree of the
/// repository loses anything to it, and it needs the new work tree's lock only. (A
/// `post-checkout` hook the repository installed runs in the new work tree, like any program's
/// own code beyond what the line shows.)
///
/// Not accepted, so the command keeps the lock of where it runs: `-B` (resets a branch that
/// may exist, even the one another work tree has checked out), `-f`/`--force` (checks out a
/// branch another work tree has, or takes over a missing work tree's registered path), any
/// other option, a cluster of short options, a word that is not literal (`$X` may split into
/// `--force`), and any global option but `-C` and the harmless ones [`parse`] knows. `--lock`
/// and `--reason` are accepted: they write only the new work tree's own `locked` file, which
/// keeps `git worktree prune` in another session from removing it.
pub struct NewWorkTree<'a> {
    /// The argument of every `-C`, in order: `PATH` is relative to the last, each `-C` to
    /// the one before.
    pub directories: Vec<&'a Word>,
    /// The new work tree's path, as written.
    pub path: &'a Word,
}

/// The new work tree of a `git worktree add` that can change nothing else (see
/// [`NewWorkTree`]); `None` for any other command (`words[0]` is `git`).
pub fn worktree_add(words: &[Word]) -> Option<NewWorkTree<'_>> {
    if !words.iter().all(Word::is_literal) {
        return None;
    }
    let invocation = parse(words);
    if invocation.unknown_option.is_some() || invocation.version {
        return None;
    }
    let [sub, add, args @ ..] = invocation.rest else {
        return None;
    };
    if sub.text != "worktree" || add.text != "add" {
        return None;
    }
    // Options without a value that change nothing but the new work tree.
    const FLAGS: &[&str] = &[
        "--detach",
        "-d",
        "--quiet",
        "-q",
        "--checkout",
        "--no-checkout",
        "--lock",
        "--track",
        "--no-track",
        "--guess-remote",
        "--no-guess-remote",
    ];
    let mut operands: Vec<&Word> = Vec::new();
    let mut options_end = false;
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        match text {
            _ if options_end || !text.starts_with('-') || text == "-" => operands.push(arg),
            "--" => options_end = true,
            // A new branch's name, or why it is locked: a value, never a path.
            "-b" | "--orphan" | "--reason" => {
                let value = args.get(i + 1)?;
                if text != "--reason" && value.text.starts_with('-') {
                    return None;
                }
                i += 1;
            }
            _ if text.starts_with("--orphan=") || text.starts_with("--reason=") => {}
            _ if FLAGS.contains(&text) => {}
            _ => return None,
        }
        i += 1;
    }
    match operands.as_slice() {
        [path] | [path, _] if !path.text.is_empty() => Some(NewWorkTree {
            directories: invocation.directories,
            path,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::words::{self, Token};

    fn words(line: &str) -> Vec<Word> {
        words::tokenize(line)
            .unwrap()
            .into_iter()
            .filter_map(|token| match token {
                Token::Word(word) => Some(word),
                _ => None,
            })
            .collect()
    }

    fn new_work_tree(line: &str) -> Option<(Vec<String>, String)> {
        let words = words(line);
        worktree_add(&words).map(|new| {
            let dirs = new.directories.iter().map(|d| d.text.clone()).collect();
            (dirs, new.path.text.clone())
        })
    }

    #[test]
    fn a_new_work_tree_on_a_new_branch_or_detached_is_all_it_writes() {
        for (line, path) in [
            (
                "git worktree add /r-3f9c2b1e -b session-lock/3f9c2b1e",
                "/r-3f9c2b1e",
            ),
            ("git worktree add -b x ../x", "../x"),
            ("git worktree add --detach ../x HEAD^", "../x"),
            ("git worktree add -q --no-checkout ../x main", "../x"),
            ("git worktree add --orphan=fresh ../x", "../x"),
            (
                "git worktree add --lock --reason 'B works here' ../x",
                "../x",
            ),
            ("git --no-pager worktree add ../x", "../x"),
            ("git worktree add -- -odd", "-odd"),
        ] {
            assert_eq!(new_work_tree(line), Some((vec![], path.into())), "{line}");
        }
        assert_eq!(
            new_work_tree("git -C /r -C sub worktree add ../x -b x"),
            Some((vec!["/r".into(), "sub".into()], "../x".into()))
        );
    }

    #[test]
    fn what_may_change_an_existing_work_tree_or_ref_is_not_a_new_work_tree() {
        for line in [
            "git worktree add -B main ../x",
            "git worktree add -f ../x main",
            "git worktree add --force ../x",
            "git worktree add -fb x ../x",
            "git worktree add -b -f ../x",
            "git worktree add ../x -b",
            "git worktree add $DIR -b x",
            "git worktree add ../x -b $BRANCH",
            "git worktree add ../* -b x",
            // `~` is read as a pattern wherever it stands: not literal.
            "git worktree add ../x HEAD~2",
            "git worktree add",
            "git worktree add ../x a b",
            "git worktree add ''",
            "git -c core.hooksPath=/evil worktree add ../x",
            "git --git-dir=/o/.git worktree add ../x",
            "git --work-tree /o worktree add ../x",
            "git worktree list",
            "git worktree remove ../x",
            "git worktree prune",
            "git worktree move ../x ../y",
            "git worktree lock ../x",
            "git add ../x",
        ] {
            assert_eq!(new_work_tree(line), None, "{line}");
        }
    }
}
