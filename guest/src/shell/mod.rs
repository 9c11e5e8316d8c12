//! Shell commands: whether one is provably read-only, and the directories it works in.
//!
//! A command line is read-only only when every simple command in it is a known read-only
//! command with only safe arguments ([`rules`]), joined by `|`, `&&`, `||`, `;` or newlines,
//! with no redirection other than to `/dev/null` or between descriptors (reading a file with
//! `<` is fine), no expansion of any kind except globs and `~` in arguments, no assignment
//! before a command, no subshell, group, background job or heredoc. `sh -c`/`bash -c` is
//! read-only when its script is.
//!
//! The classifier is conservative: what it cannot prove read-only is mutating, since a false
//! "mutating" costs a lock and a false "read-only" lets a write through. For the same reason
//! an empty command line is not read-only: there is nothing to prove.
//!
//! - [`words`]: the tokenizer (words, quotes, escapes, operators, redirections).
//! - [`script`]: simple commands and what separates them.
//! - [`rules`]: the allow-list and its per-command option rules; [`git`] for `git`.

pub mod git;
pub mod rules;
pub mod scope;
pub mod script;
pub mod words;

use rules::Rule;
use script::{Item, Redirect, SimpleCommand};
use words::{Redirection, Word};

/// What the classifier found about one shell command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether every simple command in it is proven read-only.
    pub read_only: bool,
    /// One line for people saying why: for a mutating verdict, the first thing that could not
    /// be proven read-only (e.g. "`rm` is not a known read-only command", "redirection to a
    /// file", "command substitution `$(…)`", "`find -delete` writes"); for a read-only one e.g.
    /// "every command is read-only: git status, grep".
    pub why: String,
    /// Literal directories the command works in, as written, in order: the argument of every
    /// `cd DIR` and of every `git -C DIR` (only when that argument is a plain literal word after
    /// quote removal; a `cd` whose argument is not literal, e.g. `cd $X` or `cd` alone or
    /// `cd -`, makes `unknown_directory` true instead).
    pub directories: Vec<String>,
    /// Whether the first simple command is `cd DIR` (so the command does not work in the
    /// session's cwd itself before changing directory).
    pub leading_cd: bool,
    /// Whether some directory could not be known (see `directories`).
    pub unknown_directory: bool,
    /// Whether it runs `git status` or `git diff` (which refresh the index and briefly take
    /// `.git/index.lock` unless GIT_OPTIONAL_LOCKS=0 is set).
    pub refreshes_git_index: bool,
}

/// Bash's reserved words: compound commands are not simple commands, so none is accepted.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "select", "function", "coproc", "!", "[[", "]]",
];

/// How deep `bash -c 'bash -c …'` may nest before the classifier stops looking.
const MAX_SHELL_DEPTH: usize = 3;

/// The longest command line read, in bytes. A longer one is not tokenized at all: it is
/// mutating, and may work in any directory ([`scope::of_line`]), so it needs every lock.
///
/// Agents' command lines are far shorter: a few hundred bytes, a few KiB for a heredoc
/// that writes a commit message or a source file. The bound is what the component's fuel is
/// sized for (`host/src/engine.rs`, `FUEL_FOR_SHELL_LINE`): the costliest lines measured just
/// under it (simple commands nested in `bash -c` three deep, about 2,800 units a byte, see
/// `tests/budget.rs`) take about 185 M units, under 0.1 s, per call.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// Why `line` is not read, when it is longer than [`MAX_LINE_BYTES`].
pub fn too_long(line: &str) -> Option<String> {
    (line.len() > MAX_LINE_BYTES).then(|| {
        format!(
            "the command line is {} bytes, more than the {MAX_LINE_BYTES} read to see what it \
             changes; split it into shorter commands",
            line.len()
        )
    })
}

/// Classifies one command line as a POSIX shell (bash) would read it. A line longer than
/// [`MAX_LINE_BYTES`] is mutating, in a directory not known, without being read.
pub fn classify(command: &str) -> Verdict {
    if let Some(why) = too_long(command) {
        return Verdict {
            read_only: false,
            why,
            directories: Vec::new(),
            leading_cd: false,
            unknown_directory: true,
            refreshes_git_index: false,
        };
    }
    classify_at(command, 0)
}

fn classify_at(command: &str, depth: usize) -> Verdict {
    let mut verdict = Verdict {
        read_only: false,
        why: String::new(),
        directories: Vec::new(),
        leading_cd: false,
        unknown_directory: false,
        refreshes_git_index: false,
    };
    let tokens = match words::tokenize(command) {
        Ok(tokens) => tokens,
        Err(why) => {
            verdict.why = format!("the command cannot be read: {why}");
            return verdict;
        }
    };
    let mut first_problem: Option<String> = None;
    let mut labels: Vec<String> = Vec::new();
    // The labels already in `labels`, to keep each once without a scan.
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut first_command = true;
    for item in script::split(tokens) {
        let command = match item {
            Item::Command(command) => command,
            Item::Heredoc => {
                first_problem.get_or_insert(script::HEREDOC.to_owned());
                continue;
            }
            Item::Problem(why) => {
                first_problem.get_or_insert(why.to_owned());
                continue;
            }
        };
        let before = verdict.directories.len();
        record_places(&command, &mut verdict);
        if first_command {
            first_command = false;
            verdict.leading_cd = command.words.first().is_some_and(|w| w.text == "cd")
                && verdict.directories.len() > before;
        }
        match check_command(&command, depth, &mut verdict) {
            Ok(label) => {
                if !label.is_empty() && seen.insert(label.clone()) {
                    labels.push(label);
                }
            }
            Err(why) => {
                first_problem.get_or_insert(why);
            }
        }
    }
    match first_problem {
        Some(why) => verdict.why = why,
        None if labels.is_empty() => {
            verdict.why = "an empty command: nothing to prove read-only".into();
        }
        None => {
            verdict.read_only = true;
            verdict.why = format!("every command is read-only: {}", labels.join(", "));
        }
    }
    verdict
}

/// Adds where `command` works to the verdict: `cd DIR` and `git -C DIR`, and whether some
/// place cannot be known (a command whose name is not literal may be `cd`).
fn record_places(command: &SimpleCommand, verdict: &mut Verdict) {
    let Some(name) = command.words.first() else {
        return;
    };
    if !name.is_literal() {
        verdict.unknown_directory = true;
        return;
    }
    match name.text.as_str() {
        "cd" => {
            // `-L`, `-P`, `-e`, `-@` and `--` change how, not where.
            let args: Vec<&Word> = command.words[1..]
                .iter()
                .skip_while(|w| matches!(w.text.as_str(), "-L" | "-P" | "-e" | "-@" | "--"))
                .collect();
            match args.as_slice() {
                [dir] if dir.is_literal() && !dir.text.is_empty() && dir.text != "-" => {
                    verdict.directories.push(dir.text.clone());
                }
                _ => verdict.unknown_directory = true,
            }
        }
        "git" => {
            for dir in git::parse(&command.words).directories {
                if dir.is_literal() && !dir.text.is_empty() {
                    verdict.directories.push(dir.text.clone());
                } else {
                    verdict.unknown_directory = true;
                }
            }
            if git::refreshes_index(&command.words, &command.assignments) {
                verdict.refreshes_git_index = true;
            }
        }
        // A script that is not literal may `cd` anywhere.
        "sh" | "bash" if command.words.iter().any(|w| w.expansion.is_some()) => {
            verdict.unknown_directory = true;
        }
        // They change directory in ways not followed here.
        "pushd" | "popd" | "eval" | "source" | "." => verdict.unknown_directory = true,
        _ => {}
    }
}

/// Whether one simple command is read-only: `Ok` with its label (empty for reserved words
/// alone, which run nothing), or `Err` with why not. A shell's script is classified in turn,
/// and adds its directories to the verdict.
fn check_command(
    command: &SimpleCommand,
    depth: usize,
    verdict: &mut Verdict,
) -> Result<String, String> {
    for redirect in &command.redirects {
        check_redirect(redirect)?;
    }
    let (assignments, words) = match script::compound_part(command)? {
        script::Part::Command { assignments, words } => (assignments, words),
        script::Part::Keywords => return Ok(String::new()),
    };
    for assignment in &assignments {
        script::check_assignment(assignment, !words.is_empty())?;
    }
    let Some(name) = words.first() else {
        return match assignments.first() {
            Some(_) => Ok("assignment".into()),
            None => Err("a redirection without a command".into()),
        };
    };
    if name.expansion.is_none() {
        match name.text.as_str() {
            "{" | "}" => return Err("a group `{ …; }`".into()),
            "[[" => {}
            keyword if KEYWORDS.contains(&keyword) => {
                return Err(format!("shell keyword `{keyword}`"));
            }
            _ => {}
        }
    }
    match rules::check(words) {
        Rule::ReadOnly(label) => Ok(label),
        Rule::Mutating(why) => Err(why),
        Rule::Shell { shell, script } => {
            // `bash -c {rm\ x,ls}` runs `rm x`: the script must be the word as written.
            if script.pattern {
                return Err(format!("the `{shell} -c` script is a pattern"));
            }
            if depth >= MAX_SHELL_DEPTH {
                verdict.unknown_directory = true;
                return Err(format!("`{shell} -c` nested too deeply"));
            }
            let inner = classify_at(&script.text, depth + 1);
            verdict.directories.extend(inner.directories);
            verdict.unknown_directory |= inner.unknown_directory;
            verdict.refreshes_git_index |= inner.refreshes_git_index;
            if inner.read_only {
                Ok(format!("{shell} -c ({})", inner_labels(&inner.why)))
            } else {
                Err(format!("`{shell} -c` script: {}", inner.why))
            }
        }
    }
}

/// The labels of a read-only verdict's `why` line.
fn inner_labels(why: &str) -> &str {
    why.split_once(": ").map_or(why, |(_, labels)| labels)
}

/// Whether a redirection only reads a file, discards output, or joins descriptors.
pub(super) fn check_redirect(redirect: &Redirect) -> Result<(), String> {
    let Some(target) = &redirect.target else {
        return Err("a redirection without a target".into());
    };
    if let Some(expansion) = target.expansion {
        return Err(format!("{} in a redirection", expansion.describe()));
    }
    let to_null = target.is_literal() && target.text == "/dev/null";
    let descriptor = {
        let digits = target.text.strip_suffix('-').unwrap_or(&target.text);
        target.is_literal() && (digits.is_empty() || digits.chars().all(|c| c.is_ascii_digit()))
    };
    match redirect.op {
        Redirection::Input => Ok(()),
        Redirection::Output
        | Redirection::Append
        | Redirection::Clobber
        | Redirection::OutputBoth
        | Redirection::AppendBoth
            if to_null =>
        {
            Ok(())
        }
        Redirection::DuplicateOutput | Redirection::DuplicateInput if descriptor || to_null => {
            Ok(())
        }
        Redirection::ReadWrite => Err("read-write redirection `<>` may create a file".into()),
        Redirection::Heredoc => Err("heredoc `<<`".into()),
        Redirection::HereString => Err("here-string `<<<`".into()),
        _ => Err(format!("redirection to a file `{}`", target.text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The shared corpus: every host runs the same file.
    const CORPUS: &str = include_str!("../../../tests/shell-conformance/commands.json");

    #[test]
    fn the_corpus_classifies_as_expected() {
        let corpus: Value = serde_json::from_str(CORPUS).expect("commands.json is JSON");
        let entries = corpus["commands"].as_array().expect("commands is a list");
        let read_only = entries.iter().filter(|e| e["read_only"] == true).count();
        assert!(
            entries.len() >= 300,
            "the corpus has {} entries",
            entries.len()
        );
        assert!(read_only >= 100, "only {read_only} read-only entries");
        assert!(entries.len() - read_only >= 100, "too few mutating entries");

        let mut seen = std::collections::HashSet::new();
        let mut failures = Vec::new();
        for entry in entries {
            let command = entry["command"].as_str().expect("command is a string");
            assert!(seen.insert(command), "{command:?} is in the corpus twice");
            let got = classify(command);
            let mut wrong = Vec::new();
            let expected = entry["read_only"].as_bool().expect("read_only is a bool");
            if got.read_only != expected {
                wrong.push(format!(
                    "read_only: expected {expected}, got {}",
                    got.read_only
                ));
            }
            if let Some(dirs) = entry.get("directories") {
                let dirs: Vec<&str> = dirs
                    .as_array()
                    .expect("directories is a list")
                    .iter()
                    .map(|d| d.as_str().expect("a directory is a string"))
                    .collect();
                if got.directories != dirs {
                    wrong.push(format!(
                        "directories: expected {dirs:?}, got {:?}",
                        got.directories
                    ));
                }
            }
            for (field, value) in [
                ("leading_cd", got.leading_cd),
                ("unknown_directory", got.unknown_directory),
            ] {
                if let Some(expected) = entry.get(field) {
                    let expected = expected.as_bool().expect("a flag is a bool");
                    if value != expected {
                        wrong.push(format!("{field}: expected {expected}, got {value}"));
                    }
                }
            }
            if !wrong.is_empty() {
                failures.push(format!(
                    "{command:?}: {} (why: {})",
                    wrong.join("; "),
                    got.why
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} corpus entries are wrong:\n{}",
            failures.len(),
            entries.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn a_line_too_long_to_read_is_mutating_in_a_directory_not_known() {
        let at_bound = format!("ls{}", " ".repeat(MAX_LINE_BYTES - 2));
        assert!(classify(&at_bound).read_only);
        let over = classify(&format!("{at_bound} "));
        assert!(!over.read_only && over.unknown_directory);
        assert_eq!(
            over.why,
            "the command line is 65537 bytes, more than the 65536 read to see what it changes; \
             split it into shorter commands"
        );
    }

    #[test]
    fn why_names_the_commands_or_the_first_problem() {
        assert_eq!(
            classify("git status && grep x f").why,
            "every command is read-only: git status, grep"
        );
        assert_eq!(
            classify("rm x").why,
            "`rm` is not a known read-only command"
        );
        assert_eq!(classify("ls > out").why, "redirection to a file `out`");
        assert_eq!(classify("echo $(ls)").why, "command substitution `$(…)`");
        assert_eq!(classify("find . -delete").why, "`find -delete` writes");
        assert_eq!(
            classify("ls && rm x && mv a b").why,
            "`rm` is not a known read-only command"
        );
        assert_eq!(
            classify("FOO=1 ls").why,
            "assignment `FOO=…` before a command"
        );
        assert_eq!(classify("ls &").why, "background `&`");
        assert_eq!(
            classify("").why,
            "an empty command: nothing to prove read-only"
        );
        assert!(
            classify("bash -c 'rm x'")
                .why
                .contains("`rm` is not a known")
        );
    }

    #[test]
    fn git_status_and_diff_refresh_the_index_unless_optional_locks_are_off() {
        assert!(classify("git status").refreshes_git_index);
        assert!(classify("cd x && git diff --stat").refreshes_git_index);
        assert!(classify("bash -c 'git status'").refreshes_git_index);
        assert!(classify("git -C x -c a=b status").refreshes_git_index);
        assert!(!classify("git log").refreshes_git_index);
        assert!(!classify("git --no-optional-locks status").refreshes_git_index);
        assert!(!classify("GIT_OPTIONAL_LOCKS=0 git status").refreshes_git_index);
        assert!(!classify("echo git status").refreshes_git_index);
    }

    #[test]
    fn directories_are_read_for_mutating_commands_too() {
        let v = classify("cd build && make && git -C ../lib commit -m x");
        assert!(!v.read_only);
        assert_eq!(v.directories, ["build", "../lib"]);
        assert!(v.leading_cd);
        assert!(!v.unknown_directory);

        let v = classify("cd $X && ls");
        assert!(v.unknown_directory && !v.leading_cd && v.directories.is_empty());
        assert!(classify("$CMD x").unknown_directory);
        assert!(classify("pushd x").unknown_directory);
        assert!(classify("sh -c \"$S\"").unknown_directory);

        // Unreadable: nothing is known, and nothing claimed.
        let v = classify("cd x && echo 'oops");
        assert!(!v.read_only && v.directories.is_empty() && !v.unknown_directory);
    }

    #[test]
    fn shells_nest_only_so_deep() {
        assert!(classify("bash -c \"bash -c 'ls'\"").read_only);
        let deep = "sh -c 'sh -c \"sh -c \\\"sh -c ls\\\"\"'";
        let v = classify(deep);
        assert!(!v.read_only);
        assert!(v.why.contains("nested too deeply"), "{}", v.why);
    }
}
