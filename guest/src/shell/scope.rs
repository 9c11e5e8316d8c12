//! Where a shell command line that is not read-only may change things: every directory it may
//! work in, every literal path it names, or that it may work anywhere.
//!
//! The classifier's question ("is it read-only?") and this one ("what may it change?") are
//! asked of the same words, but answered apart: a command's scope only matters once it needs
//! the lock, and then it must over-approximate. So:
//!
//! - the directory the command starts in stays in scope whatever it `cd`s to, unless the line
//!   is `cd DIR && …` joined by `&&` alone ([`leaves_where_it_starts`]) and no word on it
//!   expands and every part is followed ([`Scope::hides_paths`]): nothing then runs there,
//!   and nothing names it unseen;
//! - every `cd DIR`, `pushd DIR`, `env -C DIR`, `git -C DIR`, `git --work-tree DIR`,
//!   `git --git-dir DIR` (and `GIT_DIR=`/`GIT_WORK_TREE=` before a command) adds `DIR`,
//!   joined to every directory the command may be in by then (`cd a || cd b` may be in either);
//! - every literal argument and redirection target is a path it may write, joined to every
//!   such directory (the host resolves them; only those in a git work tree count);
//! - a directory it cannot know (`cd $X`, `cd "$(…)"`, `cd -`, `cd` alone, a command whose name
//!   is not literal, `eval` of what is not literal, a `sh -c` script that is not literal), and
//!   `session-lock hook`, `install` or `uninstall` run as a tool, make it work [`Scope::anywhere`];
//! - so does a line longer than [`super::MAX_LINE_BYTES`], which is not read at all, and a line
//!   whose paths would take more than bounded work to follow ([`MAX_WRAPPED`],
//!   [`MAX_FORMED_BYTES`], [`MAX_PATHS`], [`MAX_DIRECTORIES`]).
//!
//! - a `git worktree add` that can change no existing work tree or ref
//!   ([`super::git::worktree_add`]) names its new work tree, as a directory, relative to the
//!   directory the shell and its `-C`s put it in; and when nothing else on the line may write
//!   (only `cd`, `pushd`, `popd`, commands the classifier proves read-only, and redirections it
//!   accepts), that new work tree is all the line may change ([`Scope::only_new_work_trees`]):
//!   neither the directory it starts in nor the session's own workspace is in scope, so a
//!   session refused in a held work tree can make a worktree of its own and go on there.
//!
//! What a program does by its own code (a script that `cd`s, `make` reading its Makefile, a
//! path in a variable) is beyond what a command line shows: the lock covers what the line
//! names.

use std::collections::HashSet;
use std::rc::Rc;

use super::rules::Rule;
use super::script::{Item, SimpleCommand};
use super::words::{self, Operator, Redirection, Token, Word};
use crate::workspace::{self, Kind};

/// The directories the shell may be in: shared, since every simple command starts from them.
type Places = Vec<Rc<str>>;

/// How many directories a command line may be in before its scope counts as anywhere.
const MAX_DIRECTORIES: usize = 16;

/// How many paths a command line may name before its scope counts as anywhere: each is one
/// path for the host to resolve within the hook's deadline.
const MAX_PATHS: usize = 256;

/// How deep `sh -c 'sh -c …'` and `eval` may nest before the scope counts as anywhere.
const MAX_DEPTH: usize = 3;

/// How many programs one command may wrap in each other (`sudo env git …`) before its scope
/// counts as anywhere: each is followed in turn, so `git git git …` must not nest without end.
const MAX_WRAPPED: usize = 8;

/// How many bytes of paths the walk may form (a literal word joined to each directory the shell
/// may be in, duplicates included) before the scope counts as anywhere: far above any real
/// command line, it keeps the walk linear in the line however its words and directories
/// combine (a 2 KB directory and 30,000 one-letter words would otherwise form 1 GB).
const MAX_FORMED_BYTES: usize = 1 << 20;

/// What a command line may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Absolute paths, each once, in the order found: directories it may work in
    /// ([`Kind::Directory`]) and the literal paths it names ([`Kind::Named`]).
    pub targets: Vec<(String, Kind)>,
    /// Why it may work in any workspace, when it may: it then needs every lock there is.
    pub anywhere: Option<String>,
    /// Whether all the line may change is the new work trees its `git worktree add`s make
    /// (see the module's list): then `targets` holds only those, and the command needs
    /// neither the lock of the directory it starts in nor the session's own.
    pub only_new_work_trees: bool,
    /// Whether the line may name a path it does not show: a word on it expands (a variable,
    /// a command substitution, a glob, `~`), in a script it runs too, or a part of it is not
    /// followed (a heredoc, a subshell, a background job, a script a shell or an interpreter
    /// reads from stdin or is given inline). Such a path may be the session's
    /// own workspace or the directory the shell started in, which therefore stay in scope.
    pub hides_paths: bool,
    /// The directory the shell started in, once a leading `cd DIR &&` left it for good
    /// ([`leaves_where_it_starts`]): back in scope if a word turns out to expand.
    left_start: Option<Rc<str>>,
    /// The new work trees found so far (each also in `targets`).
    new_work_trees: HashSet<String>,
    /// Whether something on the line other than a new work tree's `git worktree add` may
    /// write where the shell is (or its words could not be followed).
    writes_here: bool,
    /// The paths of `targets`, to find a repeated one without a scan.
    seen: HashSet<String>,
    /// The bytes of paths formed so far ([`MAX_FORMED_BYTES`]).
    formed: usize,
    /// How many programs the command being read wraps around the one read now.
    wrapped: usize,
}

impl Scope {
    /// Takes `path` out of the targets again.
    fn forget(&mut self, path: &str) {
        self.targets.retain(|(target, _)| target != path);
        self.seen.remove(path);
    }

    fn add(&mut self, path: String, kind: Kind) {
        if self.anywhere.is_some() || self.seen.contains(&path) {
            return;
        }
        if self.targets.len() >= MAX_PATHS {
            self.anywhere = Some(format!("it names more than {MAX_PATHS} paths"));
            return;
        }
        self.seen.insert(path.clone());
        self.targets.push((path, kind));
    }

    /// `path` joined to `place`, counted against [`MAX_FORMED_BYTES`]; `None` once the scope
    /// is anywhere (nothing more needs forming).
    fn join(&mut self, place: &str, path: &str) -> Option<String> {
        if self.anywhere.is_some() {
            return None;
        }
        self.formed = self.formed.saturating_add(place.len() + path.len() + 1);
        if self.formed > MAX_FORMED_BYTES {
            self.anywhere(format!(
                "its paths and directories combine into more than {} MiB",
                MAX_FORMED_BYTES >> 20
            ));
            return None;
        }
        Some(workspace::join(place, path))
    }

    fn anywhere(&mut self, why: impl Into<String>) {
        self.anywhere.get_or_insert_with(|| why.into());
    }
}

/// The scope of `line` for a command that starts in the absolute directory `start`.
pub fn of_line(line: &str, start: &str) -> Scope {
    let mut scope = Scope::default();
    scope.add(start.to_owned(), Kind::Directory);
    // Too long to read: it may work anywhere.
    if let Some(why) = super::too_long(line) {
        scope.anywhere(why);
        return scope;
    }
    let mut places: Places = vec![Rc::from(start)];
    walk(line, &mut places, &mut scope, 0);
    if scope.hides_paths
        && let Some(start) = scope.left_start.take()
    {
        scope.add(start.to_string(), Kind::Directory);
    }
    if scope.anywhere.is_none() && !scope.writes_here && !scope.new_work_trees.is_empty() {
        let new = std::mem::take(&mut scope.new_work_trees);
        scope.targets.retain(|(path, _)| new.contains(path));
        scope.only_new_work_trees = true;
    }
    scope
}

/// Adds what `line` may change to `scope`, the shell being in one of `places`.
fn walk(line: &str, places: &mut Places, scope: &mut Scope, depth: usize) {
    if depth > MAX_DEPTH {
        scope.anywhere("its shell scripts nest too deeply to follow");
        return;
    }
    let tokens = match words::tokenize(line) {
        Ok(tokens) => tokens,
        Err(why) => {
            scope.anywhere(format!("it cannot be read ({why})"));
            return;
        }
    };
    scope.hides_paths |= tokens
        .iter()
        .any(|t| matches!(t, Token::Word(word) if !word.is_literal()));
    let leaves_start = depth == 0 && leaves_where_it_starts(&tokens);
    for (i, item) in super::script::split(tokens).into_iter().enumerate() {
        // Anywhere is as far as a scope goes: the rest changes nothing.
        if scope.anywhere.is_some() {
            return;
        }
        match item {
            Item::Command(command) => {
                simple_command(&command, places, scope, depth);
                // Past its first `cd`, nothing on the line runs where the shell started.
                if leaves_start && i == 0 && places.len() > 1 {
                    let start = places.remove(0);
                    scope.forget(&start);
                    scope.left_start = Some(start);
                }
            }
            // A subshell, a background job, a heredoc: not followed, so it may write, and
            // (but a heredoc, which the command it feeds decides on) name what it does not
            // show.
            Item::Heredoc => scope.writes_here = true,
            Item::Problem(_) => {
                scope.writes_here = true;
                scope.hides_paths = true;
            }
        }
    }
}

/// Whether the line is `cd DIR && …` with every command after it joined by `&&` alone (no `;`,
/// newline, `||`, pipe, `&`, subshell or `case` syntax before its end): each then runs only
/// once the one before it succeeded, so, the `cd` first, none runs in the directory the shell
/// started in. `DIR` is one literal word, not `-` nor an option: a `cd` the walk follows to
/// one directory.
fn leaves_where_it_starts(tokens: &[Token]) -> bool {
    let end = tokens
        .iter()
        .rposition(|t| !matches!(t, Token::Operator(Operator::Newline)))
        .map_or(0, |last| last + 1);
    let plain_cd = match &tokens[..end.min(3)] {
        [
            Token::Word(cd),
            Token::Word(dir),
            Token::Operator(Operator::And),
        ] => {
            cd.is_literal()
                && cd.text == "cd"
                && dir.is_literal()
                && !dir.text.is_empty()
                && dir.text != "-"
                && !dir.text.starts_with(['+', '-'])
        }
        _ => false,
    };
    plain_cd
        && tokens[..end]
            .iter()
            .all(|t| !matches!(t, Token::Operator(op) if *op != Operator::And))
}

/// Adds what one simple command may change.
fn simple_command(command: &SimpleCommand, places: &mut Places, scope: &mut Scope, depth: usize) {
    for redirect in &command.redirects {
        if let Some(target) = &redirect.target {
            named(target, places, scope);
        }
        // `>/dev/null`, `2>&1` and `<file` write nothing; any other may.
        scope.writes_here |= super::check_redirect(redirect).is_err();
    }
    // A heredoc is text for `cat > f` and `tee f` to write, but a script for `bash` or
    // `python3`, which may name what the line does not show.
    let feeds_a_script = command
        .redirects
        .iter()
        .any(|r| r.op == Redirection::Heredoc)
        && !command
            .words
            .first()
            .is_some_and(|name| name.is_literal() && matches!(name.text.as_str(), "cat" | "tee"));
    scope.hides_paths |= feeds_a_script;
    // `GIT_DIR=…` may point even a new work tree's `git worktree add` elsewhere.
    scope.writes_here |= !command.assignments.is_empty();
    let mut here = places.clone();
    assignments(&command.assignments, &mut here, scope);
    let words = &command.words;
    let Some(name) = words.first() else {
        return;
    };
    if !name.is_literal() {
        scope.anywhere(format!(
            "the command `{}` is not literal: it may change to any directory",
            name.text
        ));
        return;
    }
    match name.text.as_str() {
        // Only these change the shell's own directory: the rest of the line runs there.
        "cd" | "pushd" => change_directory(&name.text, &words[1..], places, scope),
        "builtin" | "command" if words.get(1).is_some_and(|w| w.text == "cd") => {
            change_directory("cd", &words[2..], places, scope);
        }
        // Back to a directory this line pushed, which is in scope already.
        "popd" => {}
        "eval" => match words[1..].iter().all(Word::is_literal) {
            true => {
                let script: Vec<&str> = words[1..].iter().map(|w| w.text.as_str()).collect();
                walk(&script.join(" "), places, scope, depth + 1);
            }
            false => scope.anywhere("`eval` of text that is not literal"),
        },
        _ => {
            let base = name.text.rsplit('/').next().unwrap_or(&name.text);
            let new_work_tree = match base {
                "git" => super::git::worktree_add(words),
                _ => None,
            };
            match new_work_tree {
                Some(new) => new_work_tree_at(&new, &here, scope),
                None => {
                    // Checked only while it may matter: once something may write here, the
                    // rest of the line changes nothing about that.
                    if !scope.writes_here {
                        let reads = matches!(super::rules::check(words), Rule::ReadOnly(_));
                        scope.writes_here = !reads;
                    }
                    program(words, &mut here, scope, depth);
                }
            }
        }
    }
}

/// The new work tree of a `git worktree add` that can change nothing else: its path relative
/// to each directory the shell may be in, after the command's `-C`s (each relative to the one
/// before). A [`Kind::NewWorkTree`]: a path in no work tree yet is a workspace of its own, as
/// is one in an agent's own folder for worktrees; one elsewhere inside a work tree (held by
/// another session, or the one the session is in) needs that work tree's lock.
fn new_work_tree_at(new: &super::git::NewWorkTree, here: &[Rc<str>], scope: &mut Scope) {
    for place in here {
        let mut at = place.to_string();
        for dir in &new.directories {
            match scope.join(&at, &dir.text) {
                Some(joined) => at = joined,
                None => return,
            }
        }
        let Some(path) = scope.join(&at, &new.path.text) else {
            return;
        };
        scope.new_work_trees.insert(path.clone());
        scope.add(path, Kind::NewWorkTree);
    }
}

/// `GIT_DIR=…` and `GIT_WORK_TREE=…` before a command point git elsewhere; any literal value
/// may be a path the command writes.
fn assignments(assignments: &[Word], here: &mut Places, scope: &mut Scope) {
    for assignment in assignments {
        let Some((variable, value)) = assignment.text.split_once('=') else {
            continue;
        };
        let points_git = matches!(variable, "GIT_DIR" | "GIT_WORK_TREE" | "GIT_INDEX_FILE");
        if !assignment.is_literal() {
            if points_git {
                scope.anywhere(format!("`{variable}=` is not literal"));
            }
            continue;
        }
        if points_git {
            enter(value, here, scope);
        } else {
            path(value, here, scope);
        }
    }
}

/// `cd DIR` or `pushd DIR`: the shell may now be in `DIR` (joined to each place it may have
/// been in) as well as where it was.
fn change_directory(builtin: &str, args: &[Word], places: &mut Places, scope: &mut Scope) {
    // `-L`, `-P`, `-e`, `-@`, `-n` and `--` change how, not where.
    let args: Vec<&Word> = args
        .iter()
        .skip_while(|w| matches!(w.text.as_str(), "-L" | "-P" | "-e" | "-@" | "-n" | "--"))
        .collect();
    match args.as_slice() {
        [dir]
            if dir.is_literal()
                && !dir.text.is_empty()
                && dir.text != "-"
                && !dir.text.starts_with(['+', '-']) =>
        {
            enter(&dir.text, places, scope);
        }
        [] => scope.anywhere(format!(
            "`{builtin}` without a directory goes to one not shown"
        )),
        [dir, ..] => scope.anywhere(format!(
            "`{builtin} {}` goes to a directory not shown",
            dir.text
        )),
    }
}

/// The shell (or one command) may now be in `dir` too.
fn enter(dir: &str, places: &mut Places, scope: &mut Scope) {
    let mut entered = Vec::with_capacity(places.len());
    for place in places.iter() {
        match scope.join(place, dir) {
            Some(joined) => entered.push(joined),
            None => return,
        }
    }
    for place in entered {
        if places.len() >= MAX_DIRECTORIES {
            scope.anywhere(format!(
                "it may be in more than {MAX_DIRECTORIES} directories"
            ));
            return;
        }
        if !places.iter().any(|p| **p == *place) {
            places.push(Rc::from(place.as_str()));
        }
        scope.add(place, Kind::Directory);
    }
}

/// A literal word that may name a path: an option's `=value`, else the word unless it is an
/// option.
fn path(text: &str, here: &[Rc<str>], scope: &mut Scope) {
    let candidate = match text.strip_prefix('-') {
        Some(option) => match option.split_once('=') {
            Some((_, value)) => value,
            None => return,
        },
        None => text,
    };
    if candidate.is_empty() {
        return;
    }
    for place in here {
        match scope.join(place, candidate) {
            Some(joined) => scope.add(joined, Kind::Named),
            None => return,
        }
    }
}

/// A word that may name a path, when it is literal (what is not literal is not followed).
fn named(word: &Word, here: &[Rc<str>], scope: &mut Scope) {
    if word.is_literal() {
        path(&word.text, here, scope);
    }
}

/// A program and its arguments: the directories its options point it to, then every literal
/// argument as a path relative to them.
fn program(words: &[Word], here: &mut Places, scope: &mut Scope, depth: usize) {
    let name = words[0].text.as_str();
    let base = name.rsplit('/').next().unwrap_or(name);
    match base {
        "env" => return env(words, here, scope, depth),
        "git" => git(words, here, scope),
        "session-lock" => session_lock(words, here, scope),
        "sh" | "bash" | "dash" | "zsh" | "ksh" => match shell_script(words) {
            Some(script) if script.is_literal() => {
                walk(&script.text, &mut here.clone(), scope, depth + 1);
            }
            Some(_) => scope.anywhere(format!("the `{base} -c` script is not literal")),
            // A script from stdin (`… | bash`): the line shows it to nothing that follows it.
            None => scope.hides_paths |= reads_stdin(words),
        },
        // Code from stdin or inline (`-c`, `-e`): the line shows it, but not as paths.
        _ if is_interpreter(base) => {
            scope.hides_paths |= reads_stdin(words)
                || words[1..]
                    .iter()
                    .any(|w| matches!(w.text.as_str(), "-c" | "-e"));
        }
        _ => {}
    }
    // A wrapper's command (`sudo git …`, `xargs env -C …`, `timeout 5 session-lock hook`):
    // whatever program word follows is read as a program in turn.
    if let Some(at) = words[1..].iter().position(|w| is_wrapped_program(&w.text)) {
        let inner = &words[1 + at..];
        wrapped(scope, |scope| {
            program(inner, &mut here.clone(), scope, depth)
        });
    }
    for word in &words[1..] {
        named(word, here, scope);
    }
}

/// Whether a shell or interpreter run as `words` reads its program from stdin: no argument but
/// options, or `-`.
fn reads_stdin(words: &[Word]) -> bool {
    words[1..]
        .iter()
        .all(|w| w.text.starts_with('-') && w.text != "--")
        || words[1..].iter().any(|w| w.text == "-")
}

/// Interpreters that run code given on their command line or stdin (shells are read apart).
fn is_interpreter(base: &str) -> bool {
    matches!(base, "node" | "perl" | "ruby" | "python" | "php")
        || base
            .strip_prefix("python")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Follows a program another one runs, unless that nests more than [`MAX_WRAPPED`] deep.
fn wrapped(scope: &mut Scope, follow: impl FnOnce(&mut Scope)) {
    if scope.wrapped >= MAX_WRAPPED {
        scope.anywhere(format!(
            "it wraps more than {MAX_WRAPPED} programs in each other"
        ));
        return;
    }
    scope.wrapped += 1;
    follow(scope);
    scope.wrapped -= 1;
}

/// Programs whose options move where they work, or that act on the lock itself.
fn is_wrapped_program(text: &str) -> bool {
    let base = text.rsplit('/').next().unwrap_or(text);
    matches!(
        base,
        "env" | "git" | "session-lock" | "sh" | "bash" | "dash" | "zsh" | "ksh"
    )
}

/// `env [-i] [-u NAME] [-C DIR] [NAME=VALUE]… [COMMAND…]`: the command runs in `DIR`.
fn env(words: &[Word], here: &mut Places, scope: &mut Scope, depth: usize) {
    let mut i = 1;
    let mut assigned = Vec::new();
    while let Some(word) = words.get(i) {
        let text = word.text.as_str();
        let value_of_next = || words.get(i + 1);
        match text {
            "-C" | "--chdir" => {
                match value_of_next() {
                    Some(dir) if dir.is_literal() => enter(&dir.text, here, scope),
                    _ => scope.anywhere(format!("`env {text}` names a directory not shown")),
                }
                i += 1;
            }
            "-u" | "--unset" => i += 1,
            "-S" | "--split-string" => {
                scope.anywhere("`env -S` splits a command line not followed here");
                return;
            }
            _ if text.starts_with("--chdir=") || (text.starts_with("-C") && text.len() > 2) => {
                let dir = text.strip_prefix("--chdir=").unwrap_or_else(|| &text[2..]);
                match word.is_literal() {
                    true => enter(dir, here, scope),
                    false => scope.anywhere(format!("`env {text}` names a directory not shown")),
                }
            }
            _ if text.starts_with('-') => {}
            _ if word.assignment => assigned.push(word.clone()),
            _ => break,
        }
        i += 1;
    }
    assignments(&assigned, here, scope);
    if let Some(rest) = words.get(i..).filter(|rest| !rest.is_empty()) {
        let command = SimpleCommand {
            words: rest.to_vec(),
            ..SimpleCommand::default()
        };
        let mut places = here.clone();
        wrapped(scope, |scope| {
            simple_command(&command, &mut places, scope, depth)
        });
    }
}

/// `git`'s global options that point it at another directory: `-C DIR`, `--work-tree DIR`,
/// `--git-dir DIR` (either spelling, `=` or a separate word). Its arguments are relative to the
/// last `-C`.
fn git(words: &[Word], here: &mut Places, scope: &mut Scope) {
    let mut i = 1;
    while let Some(word) = words.get(i) {
        let text = word.text.as_str();
        let (option, value) = match text.split_once('=') {
            Some((option, value)) if option.starts_with("--") => (option, Some(value)),
            _ => (text, None),
        };
        let moves = matches!(option, "-C" | "--work-tree" | "--git-dir");
        if moves {
            let (dir, literal) = match value {
                Some(value) => (value.to_owned(), word.is_literal()),
                None => {
                    i += 1;
                    match words.get(i) {
                        Some(dir) => (dir.text.clone(), dir.is_literal()),
                        None => return,
                    }
                }
            };
            match literal && !dir.is_empty() {
                true => enter(&dir, here, scope),
                false => scope.anywhere(format!("`git {option}` names a directory not shown")),
            }
        } else if matches!(
            option,
            "-c" | "--namespace" | "--config-env" | "--super-prefix"
        ) && value.is_none()
        {
            i += 1;
        } else if !text.starts_with('-') {
            return;
        }
        i += 1;
    }
}

/// `session-lock` run as a tool: `release` needs the lock of the workspace it names; `hook`
/// reads an event that may speak for any session in any workspace, and `install`/`uninstall`
/// change the hooks every session runs, so those need every lock.
fn session_lock(words: &[Word], here: &mut Places, scope: &mut Scope) {
    let Some(subcommand) = words[1..].iter().find(|w| !w.text.starts_with('-')) else {
        return;
    };
    match subcommand.text.as_str() {
        "hook" | "install" | "uninstall" => scope.anywhere(format!(
            "`session-lock {}` run as a tool acts for every session",
            subcommand.text
        )),
        "release" => {
            let mut args = words[1..].iter();
            while let Some(word) = args.next() {
                let dir = match word.text.strip_prefix("--workspace") {
                    Some("") => args.next(),
                    Some(value) if value.starts_with('=') => {
                        match word.is_literal() {
                            true => enter(&value[1..], here, scope),
                            false => {
                                scope.anywhere("`session-lock release --workspace` is not literal")
                            }
                        }
                        continue;
                    }
                    _ => continue,
                };
                match dir {
                    Some(dir) if dir.is_literal() => enter(&dir.text, here, scope),
                    _ => scope.anywhere("`session-lock release --workspace` is not literal"),
                }
            }
        }
        _ => {}
    }
}

/// The script of `sh -c SCRIPT` (also `-lc`, `-ec`, …), if the shell is run with one.
fn shell_script(words: &[Word]) -> Option<&Word> {
    let mut command_mode = false;
    for word in &words[1..] {
        let text = word.text.as_str();
        if text.starts_with("--") {
            continue;
        }
        match text.strip_prefix(['-', '+']) {
            Some(cluster) if !cluster.is_empty() => command_mode |= cluster.contains('c'),
            _ if command_mode => return Some(word),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The shared scope cases.
    const CASES: &str = include_str!("../../../tests/shell-conformance/scope.json");

    #[test]
    fn the_shared_scope_cases_hold() {
        let cases: Value = serde_json::from_str(CASES).expect("scope.json is JSON");
        let mut failures = Vec::new();
        for case in cases["commands"].as_array().expect("commands is a list") {
            let command = case["command"].as_str().expect("a command");
            let start = case["start"].as_str().expect("a start");
            let scope = of_line(command, start);
            let anywhere = case["anywhere"].as_bool().unwrap_or(false);
            if scope.anywhere.is_some() != anywhere {
                failures.push(format!("{command:?}: anywhere {:?}", scope.anywhere));
            }
            let only_new = case["only_new_work_trees"].as_bool().unwrap_or(false);
            if scope.only_new_work_trees != only_new {
                failures.push(format!(
                    "{command:?}: only_new_work_trees {}, expected {only_new}",
                    scope.only_new_work_trees
                ));
            }
            let named: Vec<&str> = scope.targets.iter().map(|(p, _)| p.as_str()).collect();
            let listed = |field: &str| {
                case.get(field)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|path| path.as_str().expect("a path"))
                    .collect::<Vec<&str>>()
            };
            for want in listed("includes") {
                if !named.contains(&want) {
                    failures.push(format!("{command:?}: {want} not in {named:?}"));
                }
            }
            for unwanted in listed("excludes") {
                if named.contains(&unwanted) {
                    failures.push(format!("{command:?}: {unwanted} in {named:?}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn paths(line: &str, start: &str) -> Vec<String> {
        let scope = of_line(line, start);
        assert_eq!(scope.anywhere, None, "{line}");
        scope.targets.into_iter().map(|(p, _)| p).collect()
    }

    fn anywhere(line: &str) -> String {
        of_line(line, "/r")
            .anywhere
            .unwrap_or_else(|| panic!("{line} has a known scope"))
    }

    #[test]
    fn a_leading_cd_joined_by_and_alone_leaves_the_start_unless_the_line_hides_paths() {
        // Nothing runs in /h/repo, and what the line names there still counts.
        let got = paths("cd .. && rm -rf repo/src", "/h/repo");
        assert!(!got.contains(&"/h/repo".to_owned()), "{got:?}");
        assert!(got.contains(&"/h/repo/..".to_owned()));
        assert!(got.contains(&"/h/repo/../repo/src".to_owned()));
        let got = paths("cd wt && echo b > notes.md && git add notes.md\n", "/r");
        assert_eq!(got, ["/r/wt", "/r/wt/notes.md", "/r/wt/b", "/r/wt/add"]);
        // A heredoc for `cat` or `tee` is text to write.
        let got = paths("cd wt && cat > notes.md <<'EOF'\n$HOME\nEOF", "/r");
        // (The delimiter is named as a redirection target: a path in the worktree.)
        assert_eq!(got, ["/r/wt", "/r/wt/notes.md", "/r/wt/EOF"]);
        let got = paths("cd wt && rm -rf /r", "/r");
        assert!(got.contains(&"/r".to_owned()), "named again: {got:?}");
        for stays in [
            // A word that expands may name the start: `$REPO` may be /r.
            "cd /tmp && sed -i s/a/b/ $REPO/a.txt",
            "cd /tmp && rm ~/x",
            "cd /tmp && rm *.txt",
            "cd /tmp && sh -c 'rm $F'",
            // A part not followed may name it too.
            "cd /tmp && bash <<'EOF'\nrm /r/x\nEOF",
            "cd /tmp && python3 - <<'EOF'\nimport os\nEOF",
            "cd /tmp && (rm x)",
            // A script it pipes into a shell or an interpreter, or gives one inline.
            "cd /tmp && cat <<'EOF' | bash\nrm -rf /r/src\nEOF",
            "cd /tmp && echo 'rm -rf /r/src' | sh -s",
            "cd /tmp && python3 -c 'import shutil; shutil.rmtree(\"/r/src\")'",
            "cd /tmp && node -e 'fs.rmSync(\"/r/src\")'",
            // Something may run where the shell started.
            "cd wt; rm f",
            "cd wt || rm f",
            "cd wt && rm f; rm g",
            "cd wt && rm f || rm g",
            "cd wt && rm f | tee log",
            "cd wt && rm f &",
            "cd wt\nrm f",
            "(cd wt && rm f)",
            "rm f && cd wt && rm g",
            // Not a plain `cd DIR`.
            "cd -P wt && rm f",
            "CDPATH=/o cd wt && rm f",
            "cd wt >/dev/null && rm f",
            "pushd wt && popd && rm f",
            "cd /r && rm f",
        ] {
            let scope = of_line(stays, "/r");
            let got: Vec<&str> = scope.targets.iter().map(|(p, _)| p.as_str()).collect();
            assert!(got.contains(&"/r"), "{stays}: {got:?}");
        }
    }

    #[test]
    fn every_place_a_cd_may_lead_to_is_in_scope() {
        let got = paths("cd a || cd b; touch x", "/r");
        for want in ["/r", "/r/a", "/r/b", "/r/a/b", "/r/x", "/r/a/x", "/r/b/x"] {
            assert!(got.contains(&want.to_owned()), "{want} in {got:?}");
        }
    }

    #[test]
    fn directories_of_pushd_env_and_git_options_are_in_scope() {
        assert!(paths("pushd /o && rm a", "/r").contains(&"/o/a".to_owned()));
        assert!(paths("env -C /o rm a", "/r").contains(&"/o/a".to_owned()));
        assert!(paths("env --chdir=/o FOO=1 rm a", "/r").contains(&"/o/a".to_owned()));
        let git = paths("git --git-dir=/o/.git --work-tree /o commit -m x", "/r");
        assert!(git.contains(&"/o/.git".to_owned()) && git.contains(&"/o".to_owned()));
        assert!(paths("sudo git -C /o commit", "/r").contains(&"/o".to_owned()));
        assert!(paths("GIT_WORK_TREE=/o git add .", "/r").contains(&"/o".to_owned()));
        assert!(paths("bash -lc 'cd /o && rm a'", "/r").contains(&"/o/a".to_owned()));
    }

    #[test]
    fn literal_arguments_and_redirections_are_named() {
        let got = paths("cp a ../other/b --target=/t > /o/log", "/r");
        for want in ["/r/a", "/r/../other/b", "/t", "/o/log"] {
            assert!(got.contains(&want.to_owned()), "{want} in {got:?}");
        }
        assert!(!got.iter().any(|p| p.ends_with("--target=/t")));
        // Not literal: not followed (the session's own workspace covers its directory).
        assert_eq!(paths("rm $F", "/r"), ["/r"]);
    }

    #[test]
    fn a_directory_not_shown_means_anywhere() {
        for line in [
            "cd $X && rm a",
            "cd \"$(git rev-parse --show-toplevel)\" && rm a",
            "cd - && rm a",
            "cd && rm a",
            "pushd +1 && rm a",
            "$CMD a",
            "env -C \"$D\" rm a",
            "git -C $D commit",
            "git --work-tree=$D commit",
            "GIT_DIR=$D git commit",
            "bash -c \"$S\"",
            "eval \"$S\"",
        ] {
            anywhere(line);
        }
    }

    #[test]
    fn session_lock_as_a_tool_needs_the_locks_it_acts_on() {
        assert!(anywhere("echo '{}' | session-lock hook").contains("session-lock hook"));
        anywhere("~/.local/bin/session-lock hook --agent claude");
        anywhere("/x/session-lock uninstall");
        let got = paths("cd / && session-lock release --force --workspace /o", "/r");
        assert!(got.contains(&"/o".to_owned()), "{got:?}");
        assert!(paths("session-lock release --workspace=/o", "/r").contains(&"/o".to_owned()));
        anywhere("session-lock release --force --workspace $REPO");
    }

    #[test]
    fn the_worktree_a_refusal_offers_is_all_its_command_changes() {
        // The command as the refusal words it, so the two cannot drift apart.
        let says = crate::message::WayOut::GitWorktreeAdd(None)
            .says("3f9c2b1e-7a0d-4c1e-9b2f-5d8e6a4c3b21", "/home/u/my repo");
        let command = says.split('`').nth(1).expect("the command is in backticks");
        assert!(command.starts_with("git worktree add "), "{says}");
        assert!(!super::super::classify(command).read_only, "{command}");
        let scope = of_line(command, "/home/u/my repo");
        assert_eq!(scope.anywhere, None);
        assert!(scope.only_new_work_trees, "{command}: {scope:?}");
        assert_eq!(
            scope.targets,
            [("/home/u/my repo-6a4c3b21".to_owned(), Kind::NewWorkTree)]
        );
        // From a directory below the workspace, `cd` into it first, or `-C` it.
        for line in [
            format!("cd /home/u && {command}"),
            format!("git -C /elsewhere {}", &command[4..]),
        ] {
            let scope = of_line(&line, "/home/u/my repo/src");
            assert!(scope.only_new_work_trees, "{line}: {scope:?}");
            assert_eq!(
                scope.targets,
                [("/home/u/my repo-6a4c3b21".to_owned(), Kind::NewWorkTree)],
                "{line}"
            );
        }
    }

    #[test]
    fn the_worktree_gemini_is_offered_is_all_its_command_changes_inside_the_workspace() {
        let says = crate::agents::Agent::Gemini
            .protocol()
            .way_out()
            .says("3f9c2b1e-7a0d-4c1e-9b2f-5d8e6a4c3b21", "/home/u/repo");
        let command = says.split('`').nth(1).expect("the command is in backticks");
        let scope = of_line(command, "/home/u/repo");
        assert!(scope.only_new_work_trees, "{command}: {scope:?}");
        assert_eq!(
            scope.targets,
            [(
                "/home/u/repo/.gemini/worktrees/6a4c3b21".to_owned(),
                Kind::NewWorkTree
            )]
        );
    }

    #[test]
    fn a_line_naming_too_much_means_anywhere() {
        let many: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
        assert!(anywhere(&format!("rm {}", many.join(" "))).contains("more than 256 paths"));
    }

    #[test]
    fn a_line_too_long_to_read_means_anywhere_without_being_read() {
        let at_bound = format!("rm a{}", " ".repeat(super::super::MAX_LINE_BYTES - 4));
        assert!(paths(&at_bound, "/r").contains(&"/r/a".to_owned()));
        // An unterminated quote would be "cannot be read": it is never looked at.
        let over = format!("{at_bound}'");
        let why = anywhere(&over);
        assert!(why.starts_with("the command line is 65537 bytes"), "{why}");
        assert_eq!(
            of_line(&over, "/r").targets,
            [("/r".to_owned(), Kind::Directory)]
        );
    }

    #[test]
    fn programs_wrapped_without_end_mean_anywhere() {
        assert!(paths("sudo env git -C /o commit", "/r").contains(&"/o".to_owned()));
        let why = anywhere(&"git ".repeat(5_000));
        assert!(why.contains("wraps more than 8 programs"), "{why}");
        anywhere(&"env ".repeat(5_000));
    }

    #[test]
    fn paths_formed_past_the_bound_mean_anywhere() {
        // 16 directories, then one word named again and again: each forms 16 paths.
        let line = format!("cd a; cd b; cd c; cd d; rm {}", "x ".repeat(30_000));
        let why = anywhere(&line);
        assert!(why.contains("combine into more than 1 MiB"), "{why}");
    }
}
