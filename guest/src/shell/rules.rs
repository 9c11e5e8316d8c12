//! The allow-list: the commands known to only read, and, for those with options that write
//! files or run programs, the rules that refuse those options.
//!
//! An option is recognised by its spelling only, so the rules lean one way: a word that could
//! be a dangerous option (an abbreviation of one, an option cluster holding its letter) is
//! refused even when it might have meant something harmless.

use super::git;
use super::words::Word;

/// What the allow-list says about one simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// It only reads; the label names it in the `why` line (e.g. `git status`).
    ReadOnly(String),
    /// It may write, for this reason.
    Mutating(String),
    /// A shell running a script (`bash -c SCRIPT`): read-only exactly when the script is.
    Shell {
        /// The shell, as written (`bash`, `sh`).
        shell: String,
        /// The script's word.
        script: Word,
    },
}

/// Commands that only read whatever their arguments: none of their options writes a file or
/// runs a program.
const ALWAYS_READ_ONLY: &[&str] = &[
    "ls",
    "cat",
    "echo",
    "pwd",
    "head",
    "tail",
    "grep",
    "egrep",
    "fgrep",
    "wc",
    "which",
    "diff",
    "stat",
    "du",
    "cd",
    "cut",
    "tr",
    "nl",
    "true",
    "false",
    "test",
    "[",
    "whoami",
    "uname",
    "more",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "seq",
    "id",
    "tac",
    "rev",
    "paste",
    "comm",
    "cmp",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "printenv",
];

/// Checks one simple command against the allow-list. `words` is not empty, and no word in it
/// has an expansion (the caller refused those already).
pub fn check(words: &[Word]) -> Rule {
    let name = words[0].text.as_str();
    let args = &words[1..];
    if ALWAYS_READ_ONLY.contains(&name) {
        return Rule::ReadOnly(name.into());
    }
    let texts = || args.iter().map(|a| a.text.as_str());
    // A command below has options that write or run: a pattern could expand to one of them
    // (`sort *` in a directory holding a file named `-ofoo`, `find . -{delete,}`).
    let has_option_rules = [
        "find", "rg", "sed", "sort", "uniq", "tree", "date", "file", "less", "printf",
    ];
    if has_option_rules.contains(&name) && args.iter().any(Word::may_hide_an_option) {
        return Rule::Mutating(format!(
            "a pattern in an argument of `{name}` could expand to an option"
        ));
    }
    let refused = |what: Option<&str>, why: &str| match what {
        Some(option) => Rule::Mutating(format!("`{name} {option}` {why}")),
        None => Rule::ReadOnly(name.into()),
    };
    match name {
        "git" => git::check(words),
        "sh" | "bash" => shell(words),
        "env" if args.is_empty() => Rule::ReadOnly(name.into()),
        "env" => {
            Rule::Mutating("`env` with arguments runs a command or changes the environment".into())
        }
        "find" => {
            const ACTIONS: &[&str] = &[
                "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf",
                "-fls",
            ];
            match texts().find(|t| ACTIONS.contains(t)) {
                Some("-delete") => Rule::Mutating("`find -delete` writes".into()),
                Some(action) => {
                    Rule::Mutating(format!("`find {action}` runs a program or writes a file"))
                }
                None => Rule::ReadOnly(name.into()),
            }
        }
        "rg" => refused(
            texts().find(|t| {
                long_option_in(t, &["pre", "hostname-bin", "search-zip"])
                    || short_cluster(t).is_some_and(|c| c.contains('z'))
            }),
            "runs a program",
        ),
        "sed" => sed(args),
        "sort" => refused(
            texts().find(|t| {
                long_option_in(t, &["output", "compress-program", "temporary-directory"])
                    || short_cluster(t).is_some_and(|c| c.contains('o') || c.contains('T'))
            }),
            "writes a file or runs a program",
        ),
        "uniq" => uniq(args),
        "tree" => refused(
            texts().find(|t| {
                long_option_in(t, &["output"])
                    || short_cluster(t).is_some_and(|c| c.contains('o') || c.contains('R'))
            }),
            "writes files",
        ),
        "date" => refused(
            texts().find(|t| {
                long_option_in(t, &["set"]) || short_cluster(t).is_some_and(|c| c.contains('s'))
            }),
            "sets the clock",
        ),
        "file" => refused(
            texts().find(|t| {
                long_option_in(t, &["compile"]) || short_cluster(t).is_some_and(|c| c.contains('C'))
            }),
            "writes a compiled magic file",
        ),
        "less" => refused(
            texts().find(|t| {
                t.starts_with('+')
                    || long_option_in(t, &["log-file", "LOG-FILE"])
                    || short_cluster(t).is_some_and(|c| c.contains('o') || c.contains('O'))
            }),
            "writes a log file or runs a command",
        ),
        "printf" => refused(
            texts().next().filter(|t| t.starts_with("-v")),
            "assigns a variable",
        ),
        _ => Rule::Mutating(format!("`{name}` is not a known read-only command")),
    }
}

/// The option name of a long option (`--name` or `--name=value`), if `arg` is one.
fn long_name(arg: &str) -> Option<&str> {
    let name = arg.strip_prefix("--")?;
    let name = name.split_once('=').map_or(name, |(name, _)| name);
    (!name.is_empty()).then_some(name)
}

/// Whether `arg` is one of the long options `names`, or an abbreviation of one (getopt_long
/// and git accept any unambiguous prefix).
pub fn long_option_in(arg: &str, names: &[&str]) -> bool {
    long_name(arg).is_some_and(|given| names.iter().any(|name| name.starts_with(given)))
}

/// The letters of a short option cluster (`-abc` gives `abc`), if `arg` is one. `-` alone
/// (standard input) is not.
pub fn short_cluster(arg: &str) -> Option<&str> {
    arg.strip_prefix('-')
        .filter(|rest| !rest.is_empty() && !rest.starts_with('-'))
}

/// `sed` only reads when it runs with `-n` and only print commands (`5p`, `1,20p`, `/re/p`,
/// `$p`); `-i` edits files, and `w` and `e` commands write and run.
fn sed(args: &[Word]) -> Rule {
    let mut quiet = false;
    let mut scripts: Vec<&str> = Vec::new();
    let mut operands: Vec<&str> = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        match text {
            "--quiet" | "--silent" => quiet = true,
            "--regexp-extended" | "--null-data" | "--separate" | "--posix" | "--unbuffered"
            | "--debug" | "--sandbox" => {}
            "--expression" => {
                i += 1;
                match args.get(i) {
                    Some(script) => scripts.push(&script.text),
                    None => return Rule::Mutating("`sed --expression` without a script".into()),
                }
            }
            _ if text.starts_with("--expression=") => scripts.push(&text["--expression=".len()..]),
            _ if text.starts_with("--") => {
                return Rule::Mutating(format!("`sed {text}` is not known to be read-only"));
            }
            _ => match short_cluster(text) {
                Some(cluster) => {
                    // Letters without a value, then possibly `e` with its script.
                    let (flags, script) = match cluster.find('e') {
                        Some(at) => (&cluster[..at], Some(&cluster[at + 1..])),
                        None => (cluster, None),
                    };
                    if !flags.chars().all(|c| "nEruzs".contains(c)) {
                        return Rule::Mutating(format!(
                            "`sed {text}` is not known to be read-only"
                        ));
                    }
                    quiet |= flags.contains('n');
                    match script {
                        Some("") => {
                            i += 1;
                            match args.get(i) {
                                Some(script) => scripts.push(&script.text),
                                None => return Rule::Mutating("`sed -e` without a script".into()),
                            }
                        }
                        Some(script) => scripts.push(script),
                        None => {}
                    }
                }
                None => operands.push(text),
            },
        }
        i += 1;
    }
    if !quiet {
        return Rule::Mutating("`sed` without `-n` is not known to be read-only".into());
    }
    // Without `-e`, the first operand is the script.
    if scripts.is_empty() {
        match operands.first() {
            Some(script) => scripts.push(script),
            None => return Rule::Mutating("`sed` without a script".into()),
        }
    }
    match scripts.iter().find(|s| !is_print_script(s)) {
        Some(script) => Rule::Mutating(format!(
            "`sed` script `{script}` is not only print commands"
        )),
        None => Rule::ReadOnly("sed -n".into()),
    }
}

/// Whether a sed script is only `[address[,address]]p` commands, separated by `;` or
/// newlines.
fn is_print_script(script: &str) -> bool {
    let commands: Vec<&str> = script
        .split([';', '\n'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    !commands.is_empty() && commands.iter().all(|c| is_print_command(c))
}

fn is_print_command(command: &str) -> bool {
    let Some(rest) = address(command) else {
        return false;
    };
    let rest = match rest.strip_prefix(',') {
        Some(second) => match address(second) {
            Some(rest) if rest.len() < second.len() => rest,
            _ => return false,
        },
        None => rest,
    };
    rest.trim() == "p"
}

/// What follows an optional sed address (a line number, `$`, or `/regex/`) at the start of
/// `s`; `None` when the address is malformed.
fn address(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix('$') {
        return Some(rest);
    }
    if let Some(regex) = s.strip_prefix('/') {
        let mut escaped = false;
        for (i, c) in regex.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '/' => return Some(&regex[i + 1..]),
                '\n' => return None,
                _ => {}
            }
        }
        return None;
    }
    Some(s.trim_start_matches(|c: char| c.is_ascii_digit()))
}

/// `uniq` writes its second operand: it must have at most one.
fn uniq(args: &[Word]) -> Rule {
    const WITH_VALUE: &[&str] = &["skip-fields", "skip-chars", "check-chars"];
    let mut operands = 0;
    let mut options_done = false;
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        if options_done || text == "-" || !text.starts_with('-') {
            // `uniq f*` or `uniq a{,b}` may expand to two operands.
            if arg.pattern {
                return Rule::Mutating(format!("`uniq {text}` may expand to two operands"));
            }
            operands += 1;
        } else if text == "--" {
            options_done = true;
        } else if text.starts_with("--") {
            if !text.contains('=') && long_option_in(text, WITH_VALUE) {
                i += 1;
            }
        } else if text.ends_with(['f', 's', 'w']) {
            // `-f N`: the value is the next word (`-f1` holds it already).
            i += 1;
        }
        i += 1;
    }
    if operands > 1 {
        Rule::Mutating("`uniq` with two operands writes the second".into())
    } else {
        Rule::ReadOnly("uniq".into())
    }
}

/// `sh -c SCRIPT` and `bash -c SCRIPT` (with `-l`, `-e`, `-u`, `-x`, `--login`, `--norc`,
/// `--noprofile`): the script decides. Any other form runs a script file or reads one.
fn shell(words: &[Word]) -> Rule {
    let shell = words[0].text.clone();
    let mut command_mode = false;
    let mut i = 1;
    while let Some(arg) = words.get(i) {
        let text = arg.text.as_str();
        match text {
            "--login" | "--noprofile" | "--norc" => {}
            _ if short_cluster(text).is_some_and(|c| c.chars().all(|c| "lceux".contains(c))) => {
                command_mode |= text.contains('c');
            }
            _ if text.starts_with('-') || text.starts_with('+') => {
                return Rule::Mutating(format!("`{shell} {text}` is not known to be read-only"));
            }
            _ => break,
        }
        i += 1;
    }
    match words.get(i) {
        Some(script) if command_mode => Rule::Shell {
            shell,
            script: script.clone(),
        },
        _ => Rule::Mutating(format!("`{shell}` without `-c SCRIPT` runs a script file")),
    }
}
