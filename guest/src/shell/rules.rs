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
    // Filters and formatters: none has an option that writes a file or runs a program.
    "jq",
    "column",
    "fold",
    "expand",
    "unexpand",
    "fmt",
    "numfmt",
    "tsort",
    "pr",
    "strings",
    "hexdump",
    "od",
    "join",
    "expr",
    "base64",
    "sha224sum",
    "sha384sum",
    "sha512sum",
    "b2sum",
    "cksum",
    "sum",
    // What the machine and its processes look like.
    "df",
    "free",
    "nproc",
    "uptime",
    "cal",
    "locale",
    "groups",
    "arch",
    "ps",
    "pgrep",
    "netstat",
    "tput",
    // Shell builtins that only print.
    "type",
    "help",
    "sleep",
];

/// Reserved words that open or continue a compound command, before the command they lead:
/// `if ls; then cat f; fi` runs `ls` and `cat f`, each checked on its own.
pub const OPENERS: &[&str] = &["if", "then", "elif", "else", "while", "until", "do", "!"];

/// Reserved words that close a compound command: alone, they run nothing.
pub const CLOSERS: &[&str] = &["fi", "done"];

/// Variables an assignment before a command may set: none names a program, a library, a
/// file the program runs or a place it works in. (`PAGER`, `GIT_*` that name programs or
/// repositories, `LD_*`, `PATH`, `BASH_ENV`, `IFS` are not here.)
const HARMLESS_ENVIRONMENT: &[&str] = &[
    "LANG",
    "LANGUAGE",
    "TZ",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "COLORTERM",
    "TERM",
    "COLUMNS",
    "LINES",
    "LS_COLORS",
    "LSCOLORS",
    "GREP_COLOR",
    "GREP_COLORS",
    "GCC_COLORS",
    "TIME_STYLE",
    "BLOCK_SIZE",
    "BLOCKSIZE",
    "POSIXLY_CORRECT",
    "RUST_BACKTRACE",
    "RUST_LOG",
    "NODE_ENV",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "CI",
    "DEBIAN_FRONTEND",
    "GIT_OPTIONAL_LOCKS",
    "GIT_TERMINAL_PROMPT",
];

/// Whether `NAME=` may stand before a command: only [`HARMLESS_ENVIRONMENT`] and `LC_*`.
pub fn harmless_environment(name: &str) -> bool {
    HARMLESS_ENVIRONMENT.contains(&name)
        || name
            .strip_prefix("LC_")
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_uppercase()))
}

/// Whether a shell variable of this name may be set on its own (`x=1`, `for f in …`, `read
/// line`): a name with a lowercase letter is no variable the shell or a program reads to find
/// code (those are upper case: `PATH`, `IFS`, `BASH_ENV`, `LD_PRELOAD`), else a harmless one.
pub fn harmless_shell_variable(name: &str) -> bool {
    // zsh ties these lowercase arrays to PATH and its kin: `path=.` there changes what runs.
    const ZSH_TIED: &[&str] = &[
        "path",
        "cdpath",
        "fpath",
        "manpath",
        "module_path",
        "mailpath",
        "fignore",
        "psvar",
    ];
    (name.chars().any(|c| c.is_ascii_lowercase()) && !ZSH_TIED.contains(&name))
        || harmless_environment(name)
}

/// Whether every expansion in `word` is a plain variable (`$NAME`, `${NAME}`, `$1`, `$@`, `$#`
/// …): its value becomes text, split into words and globbed when unquoted, and nothing more.
/// `${…}` with operators (`${a[$(…)]}`, `${X:-$(…)}`, `${X:$N}`) can run code or evaluate
/// arithmetic, and other expansions run commands.
pub fn plain_variables(word: &Word) -> bool {
    use super::words::Expansion;
    // `$[…]` is bash's old arithmetic expansion: it evaluates a variable's value (`$[x]` with
    // x='a[$(rm f)]' runs `rm f`), and is not recorded as an expansion.
    if word.text.contains("$[") {
        return false;
    }
    if word.expansion != Some(Expansion::Variable) {
        return word.expansion.is_none();
    }
    let text = word.text.as_bytes();
    let name_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'`' => return false,
            b'$' => {
                let rest = &text[i + 1..];
                let len = match rest.first() {
                    Some(b'{') => {
                        let inner = rest[1..].iter().take_while(|&&c| name_char(c)).count();
                        if inner == 0 || rest.get(1 + inner) != Some(&b'}') {
                            return false;
                        }
                        inner + 2
                    }
                    Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                        rest.iter().take_while(|&&c| name_char(c)).count()
                    }
                    Some(c) if c.is_ascii_digit() || b"@*#?$!-".contains(c) => 1,
                    // `$(`, `$'`, `$"`: not a plain variable; a `$` that starts nothing is
                    // literal only at the end or before a space.
                    Some(b'(' | b'\'' | b'"') => return false,
                    _ => 0,
                };
                i += 1 + len;
            }
            _ => i += 1,
        }
    }
    true
}

/// Commands whose every argument is harmless whatever it says: a variable may stand in one,
/// and `xargs` may add to them.
fn any_argument_is_harmless(name: &str) -> bool {
    ALWAYS_READ_ONLY.contains(&name) && name != "cd"
}

/// Checks one simple command against the allow-list. `words` is not empty. A variable may
/// stand in an argument only where any value is harmless ([`plain_variables`]); any other
/// expansion is refused.
pub fn check(words: &[Word]) -> Rule {
    let first = &words[0];
    if let Some(expansion) = first.expansion {
        return Rule::Mutating(format!("{} in command position", expansion.describe()));
    }
    // `[` and `[[` alone are tests, never globs: they hold no closing `]`.
    if first.pattern && first.text != "[" && first.text != "[[" {
        return Rule::Mutating(format!("a pattern in command position `{}`", first.text));
    }
    let name = first.text.as_str();
    let args = &words[1..];
    if let Some(arg) = args.iter().find(|a| !plain_variables(a)) {
        return Rule::Mutating(
            arg.expansion
                .map_or("an expansion", |e| e.describe())
                .into(),
        );
    }
    if ALWAYS_READ_ONLY.contains(&name) {
        return Rule::ReadOnly(name.into());
    }
    // A wrapper checks its own words, and the command it runs in turn; `[[` does not split
    // words, and checks where a value matters.
    let wrapper = matches!(
        name,
        "timeout" | "nice" | "time" | "command" | "xargs" | "[["
    );
    if !wrapper && args.iter().any(|a| a.expansion.is_some()) {
        return Rule::Mutating(format!(
            "a variable in an argument of `{name}` could expand to an option that writes"
        ));
    }
    let texts = || args.iter().map(|a| a.text.as_str());
    // A command below has options that write or run: a pattern could expand to one of them
    // (`sort *` in a directory holding a file named `-ofoo`, `find . -{delete,}`).
    let has_option_rules = [
        "find", "rg", "sed", "sort", "uniq", "tree", "date", "file", "less", "printf", "test", "[",
        "fd", "fdfind", "ss", "lsof", "hostname", "man", "gh", "docker", "read", "xargs",
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
        "test" | "[" => test(name, args),
        "[[" => conditional(args),
        "timeout" => timeout(words),
        "nice" => nice(words),
        "time" => wrapped(
            words,
            1 + usize::from(args.first().is_some_and(|a| a.text == "-p")),
        ),
        "command" => command(words),
        "xargs" => xargs(words),
        "fd" | "fdfind" => refused(
            texts().find(|t| {
                long_option_in(t, &["exec", "exec-batch"])
                    || short_cluster(t).is_some_and(|c| c.contains('x') || c.contains('X'))
            }),
            "runs a program",
        ),
        "hostname" => match texts().find(|t| !HOSTNAME_FLAGS.contains(t)) {
            Some(t) => Rule::Mutating(format!("`hostname {t}` may set the host name")),
            None => Rule::ReadOnly(name.into()),
        },
        "lsof" => refused(
            texts().find(|t| t.starts_with('+')),
            "is not known to be read-only",
        ),
        "ss" => refused(
            texts().find(|t| {
                long_option_in(t, &["kill", "diag"])
                    || short_cluster(t).is_some_and(|c| c.contains('K') || c.contains('D'))
            }),
            "closes sockets or writes a file",
        ),
        "man" => man(args),
        "docker" => docker(args),
        "gh" => gh(args),
        "read" => read(args),
        _ => match version_query(name, args) {
            Some(label) => Rule::ReadOnly(label),
            None => Rule::Mutating(format!("`{name}` is not a known read-only command")),
        },
    }
}

/// `test EXPR` and `[ EXPR ]`: `-v NAME` and `-R NAME` evaluate an array subscript in NAME
/// (`-v 'a[$(rm x)]'` runs `rm x`), so their operand must be a plain name.
fn test(name: &str, args: &[Word]) -> Rule {
    for (i, arg) in args.iter().enumerate() {
        if matches!(arg.text.as_str(), "-v" | "-R")
            && args.get(i + 1).is_some_and(|next| !is_name(&next.text))
        {
            return Rule::Mutating(format!(
                "`{name} {}` with a subscript may run a command",
                arg.text
            ));
        }
    }
    Rule::ReadOnly(name.into())
}

/// Whether `s` is a shell variable name.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[[ EXPR ]]`: no word splitting happens inside, but the operands of `-eq`, `-lt`, … are
/// evaluated as arithmetic (a value `a[$(rm x)]` runs `rm x`), and so are the subscripts of
/// `-v`/`-R` names: those operands must be literal numbers or names. `&&`, `||` and `( … )`
/// inside are not followed here: the expression then does not end in `]]`, and is refused.
fn conditional(args: &[Word]) -> Rule {
    let Some((last, inner)) = args.split_last() else {
        return Rule::Mutating("`[[` without `]]`".into());
    };
    if last.text != "]]" || inner.iter().any(|a| a.text == "]]") {
        return Rule::Mutating("`[[ … ]]` with `&&`, `||` or `(` inside is not followed".into());
    }
    const ARITHMETIC: &[&str] = &["-eq", "-ne", "-lt", "-le", "-gt", "-ge"];
    let number = |w: &Word| {
        let digits = w.text.strip_prefix('-').unwrap_or(&w.text);
        let literal = w.expansion.is_none() && !digits.is_empty();
        let special = ["$#", "$?", "$$", "$!"].contains(&w.text.as_str());
        (literal && digits.chars().all(|c| c.is_ascii_digit())) || special
    };
    for (i, arg) in inner.iter().enumerate() {
        let text = arg.text.as_str();
        if ARITHMETIC.contains(&text) {
            let sides = [
                i.checked_sub(1).and_then(|j| inner.get(j)),
                inner.get(i + 1),
            ];
            if !sides.iter().all(|w| w.is_some_and(number)) {
                return Rule::Mutating(format!(
                    "`[[ … {text} … ]]` evaluates an operand that is not a number as arithmetic"
                ));
            }
        }
        if matches!(text, "-v" | "-R")
            && inner
                .get(i + 1)
                .is_some_and(|n| n.expansion.is_some() || !is_name(&n.text))
        {
            return Rule::Mutating(format!(
                "`[[ {text} … ]]` with a subscript may run a command"
            ));
        }
    }
    Rule::ReadOnly("[[".into())
}

/// The command a wrapper runs: `words[from..]`, checked as a command of its own, or the
/// wrapper alone (`nice`, `time`) when there is none. The wrapper's own words must be literal.
fn wrapped(words: &[Word], from: usize) -> Rule {
    let name = &words[0].text;
    if let Some(word) = words[1..from.min(words.len())]
        .iter()
        .find(|w| w.expansion.is_some() || w.pattern)
    {
        return Rule::Mutating(format!(
            "`{name} {}`: an expansion in the wrapper's own arguments",
            word.text
        ));
    }
    match words.get(from..) {
        Some(inner) if !inner.is_empty() => match check(inner) {
            Rule::ReadOnly(label) => Rule::ReadOnly(format!("{name} {label}")),
            other => other,
        },
        _ => Rule::ReadOnly(name.clone()),
    }
}

/// `timeout [OPTION]… DURATION COMMAND…`: the command decides.
fn timeout(words: &[Word]) -> Rule {
    let mut i = 1;
    while let Some(word) = words.get(i) {
        match word.text.as_str() {
            "--preserve-status" | "--foreground" | "-v" | "--verbose" => i += 1,
            "-s" | "-k" | "--signal" | "--kill-after" => i += 2,
            t if t.starts_with("--signal=") || t.starts_with("--kill-after=") => i += 1,
            t if (t.starts_with("-s") || t.starts_with("-k")) && t.len() > 2 => i += 1,
            t if t.starts_with('-') => {
                return Rule::Mutating(format!("`timeout {t}` is not known to be read-only"));
            }
            _ => break,
        }
    }
    if words.len() <= i + 1 {
        return Rule::Mutating("`timeout` without a command".into());
    }
    wrapped(words, i + 1)
}

/// `nice [-n N | -N | --adjustment=N] [COMMAND…]`.
fn nice(words: &[Word]) -> Rule {
    let from = match words.get(1).map(|w| w.text.as_str()) {
        Some("-n" | "--adjustment") => 3,
        Some(t) if t.starts_with("--adjustment=") || (t.starts_with('-') && t.len() > 1) => {
            if t.starts_with("--") && !t.starts_with("--adjustment=") {
                return Rule::Mutating(format!("`nice {t}` is not known to be read-only"));
            }
            2
        }
        _ => 1,
    };
    wrapped(words, from)
}

/// `command -v|-V NAME…` only prints; `command [-p] COMMAND…` runs the command.
fn command(words: &[Word]) -> Rule {
    match words.get(1).map(|w| w.text.as_str()) {
        Some("-v" | "-V") => {
            if words[2..].iter().all(|w| w.expansion.is_none()) {
                Rule::ReadOnly(format!("command {}", words[1].text))
            } else {
                Rule::Mutating("`command -v` with an expansion".into())
            }
        }
        Some("-p") => wrapped(words, 2),
        Some(t) if t.starts_with('-') => {
            Rule::Mutating(format!("`command {t}` is not known to be read-only"))
        }
        Some(_) => wrapped(words, 1),
        None => Rule::ReadOnly("command".into()),
    }
}

/// `xargs [OPTION]… [COMMAND [ARG]…]` runs COMMAND with more arguments read from its input, so
/// COMMAND must be one that no argument makes write ([`any_argument_is_harmless`]); without
/// one it runs `echo`. Its replacement string (`-I {}`) may not stand in the command's name.
fn xargs(words: &[Word]) -> Rule {
    // Options that take a value (in the next word unless attached); the rest are flags.
    const VALUE: &str = "adEILnPs";
    const FLAGS: &str = "0prtxo";
    const LONG_VALUE: &[&str] = &[
        "arg-file",
        "delimiter",
        "max-args",
        "max-procs",
        "max-chars",
    ];
    const LONG_FLAGS: &[&str] = &[
        "null",
        "no-run-if-empty",
        "verbose",
        "exit",
        "interactive",
        "open-tty",
        "show-limits",
    ];
    let mut replace: Option<String> = None;
    let mut i = 1;
    while let Some(word) = words.get(i) {
        let text = word.text.as_str();
        if word.expansion.is_some() || word.pattern {
            return Rule::Mutating(format!(
                "`xargs {text}`: an expansion in an option of xargs"
            ));
        }
        if text == "--" {
            i += 1;
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (option, value) = long
                .split_once('=')
                .map_or((long, None), |(o, v)| (o, Some(v)));
            if LONG_FLAGS.contains(&option) {
                i += 1;
            } else if LONG_VALUE.contains(&option) {
                i += if value.is_some() { 1 } else { 2 };
            } else if ["replace", "eof", "max-lines"].contains(&option) {
                if option == "replace" {
                    replace = Some(value.unwrap_or("{}").to_owned());
                }
                i += 1;
            } else {
                return Rule::Mutating(format!("`xargs {text}` is not known to be read-only"));
            }
            continue;
        }
        let Some(cluster) = short_cluster(text) else {
            break;
        };
        let letter = cluster.chars().next().unwrap_or_default();
        let attached = &cluster[letter.len_utf8()..];
        if VALUE.contains(letter) {
            let value = if attached.is_empty() {
                i += 1;
                words.get(i).map_or("", |w| w.text.as_str())
            } else {
                attached
            };
            if letter == 'I' {
                replace = Some(value.to_owned());
            }
        } else if letter == 'i' {
            replace = Some(if attached.is_empty() { "{}" } else { attached }.to_owned());
        } else if letter == 'e' || letter == 'l' {
            // An optional value, attached only.
        } else if !cluster.chars().all(|c| FLAGS.contains(c)) {
            return Rule::Mutating(format!("`xargs {text}` is not known to be read-only"));
        }
        i += 1;
    }
    // A value read above (`-a $F`) may split into more words, the command among them.
    if let Some(word) = words[1..i.min(words.len())]
        .iter()
        .find(|w| !w.is_literal())
    {
        return Rule::Mutating(format!(
            "`xargs … {}`: an expansion in an option of xargs",
            word.text
        ));
    }
    let Some(target) = words.get(i) else {
        return Rule::ReadOnly("xargs echo".into());
    };
    if !target.is_literal() || replace.as_deref().is_some_and(|r| target.text.contains(r)) {
        return Rule::Mutating("the command `xargs` runs is not literal".into());
    }
    if !any_argument_is_harmless(&target.text) {
        return Rule::Mutating(format!(
            "`xargs {}`: arguments read from the input could make `{}` write",
            target.text, target.text
        ));
    }
    match check(&words[i..]) {
        Rule::ReadOnly(label) => Rule::ReadOnly(format!("xargs {label}")),
        other => other,
    }
}

/// The options of `hostname` that only print (an operand, `-F` or `-b` sets the name).
const HOSTNAME_FLAGS: &[&str] = &[
    "-f",
    "--fqdn",
    "--long",
    "-s",
    "--short",
    "-i",
    "--ip-address",
    "-I",
    "--all-ip-addresses",
    "-a",
    "--alias",
    "-d",
    "--domain",
    "-A",
    "--all-fqdns",
    "-v",
    "--verbose",
    "-h",
    "--help",
    "-V",
    "--version",
];

/// `man [-a|-f|-k|-w|-s SECTION]… PAGE…`: other options choose a pager, a browser or a
/// configuration file, which run programs.
fn man(args: &[Word]) -> Rule {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        match arg.text.as_str() {
            "-a" | "--all" | "-f" | "--whatis" | "-k" | "--apropos" | "-w" | "--where"
            | "--path" => {}
            "-s" | "-S" | "--sections" => i += 1,
            t if t.starts_with('-') => {
                return Rule::Mutating(format!("`man {t}` may run a pager or another program"));
            }
            _ => {}
        }
        i += 1;
    }
    Rule::ReadOnly("man".into())
}

/// `docker ps|images|logs|inspect|version|info` (and `image ls`, `container ls`, …) with no
/// global option (`-H`, `--context`, `--config` choose another daemon or configuration).
fn docker(args: &[Word]) -> Rule {
    let texts: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
    let label = match texts.as_slice() {
        [
            sub @ ("ps" | "images" | "logs" | "inspect" | "version" | "info"),
            ..,
        ] => sub.to_string(),
        ["--version" | "-v"] => "--version".into(),
        [
            group @ ("image" | "container" | "network" | "volume"),
            sub @ ("ls" | "list" | "inspect"),
            ..,
        ] => {
            format!("{group} {sub}")
        }
        _ => {
            return Rule::Mutating(format!(
                "`docker {}` is not a known read-only docker command",
                texts.first().unwrap_or(&"")
            ));
        }
    };
    Rule::ReadOnly(format!("docker {label}"))
}

/// `gh` commands that only show: the pull requests, issues, runs, releases and the rest of a
/// repository, and the login.
fn gh(args: &[Word]) -> Rule {
    const SHOWING: &[(&str, &[&str])] = &[
        ("pr", &["view", "list", "diff", "checks", "status"]),
        ("issue", &["view", "list", "status"]),
        ("repo", &["view"]),
        ("run", &["list", "view"]),
        ("auth", &["status"]),
        ("release", &["list", "view"]),
        ("workflow", &["list", "view"]),
        ("label", &["list"]),
        ("search", &["repos", "issues", "prs", "commits", "code"]),
    ];
    let texts: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
    if let Some(web) = texts
        .iter()
        .find(|t| **t == "-w" || long_option_in(t, &["web"]))
    {
        return Rule::Mutating(format!("`gh {web}` opens a browser"));
    }
    match texts.as_slice() {
        [group, sub, ..]
            if SHOWING
                .iter()
                .any(|(g, subs)| g == group && subs.contains(sub)) =>
        {
            Rule::ReadOnly(format!("gh {group} {sub}"))
        }
        ["--version"] => Rule::ReadOnly("gh --version".into()),
        _ => Rule::Mutating(format!(
            "`gh {}` is not a known read-only gh command",
            texts.iter().take(2).copied().collect::<Vec<_>>().join(" ")
        )),
    }
}

/// `read [-rs] [-d D] [-n N] [-p PROMPT] [-t T] [-u FD] [-a] NAME…` sets shell variables
/// from its input: each name must be one that cannot change what later commands run.
fn read(args: &[Word]) -> Rule {
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        let text = arg.text.as_str();
        if arg.expansion.is_some() {
            return Rule::Mutating("`read` with an expansion".into());
        }
        match short_cluster(text) {
            Some(cluster) if cluster.chars().all(|c| "rse".contains(c)) => {}
            Some("d" | "i" | "n" | "N" | "p" | "t" | "u") => i += 1,
            Some("a") => {}
            Some(_) => return Rule::Mutating(format!("`read {text}` is not known")),
            None if harmless_shell_variable(text) && is_name(text) => {}
            None => return Rule::Mutating(format!("`read {text}` sets a variable that matters")),
        }
        i += 1;
    }
    Rule::ReadOnly("read".into())
}

/// Whether `NAME ARG` only prints the version (or the help) of a well-known tool; the label.
fn version_query(name: &str, args: &[Word]) -> Option<String> {
    const TOOLS: &[(&str, &[&str])] = &[
        ("node", &["-v", "--version", "-h", "--help"]),
        ("npm", &["-v", "--version"]),
        ("python", &["--version", "-V"]),
        ("python3", &["--version", "-V"]),
        ("pip", &["--version", "-V"]),
        ("pip3", &["--version", "-V"]),
        ("ruby", &["-v", "--version"]),
        ("perl", &["-v", "--version"]),
        ("go", &["version"]),
        ("java", &["-version", "--version"]),
        ("javac", &["-version", "--version"]),
        ("gcc", &["--version"]),
        ("g++", &["--version"]),
        ("cc", &["--version"]),
        ("clang", &["--version"]),
        ("make", &["--version", "-v"]),
        ("cmake", &["--version"]),
        ("rustc", &["--version", "-V"]),
        ("cargo", &["--version", "-V"]),
        ("rustup", &["--version", "-V"]),
        ("deno", &["--version", "-V"]),
        ("bun", &["--version", "-v"]),
        ("claude", &["--version", "-v", "-h", "--help"]),
    ];
    let [only] = args else { return None };
    let (_, flags) = TOOLS.iter().find(|(tool, _)| *tool == name)?;
    (only.is_literal() && flags.contains(&only.text.as_str()))
        .then(|| format!("{name} {}", only.text))
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

#[cfg(test)]
mod tests {
    use super::super::classify;
    use serde_json::Value;

    /// The real Claude Code client's verdicts, as `examples/claude_code_coverage.rs` recorded
    /// them.
    const CLAUDE_CODE: &str = include_str!("../../../tests/shell-conformance/claude-code.json");

    /// The least share of the commands Claude Code runs without asking that must pass
    /// without the lock.
    const COVERAGE: f64 = 0.95;

    #[test]
    fn why_names_the_new_rules() {
        let why = |command: &str| classify(command).why;
        assert_eq!(
            why("find . -name '*.rs' | xargs grep -l x"),
            "every command is read-only: find, xargs grep"
        );
        assert_eq!(
            why("LANG=C timeout 5 git tag -l"),
            "every command is read-only: timeout git tag"
        );
        assert_eq!(
            why("sort $X f"),
            "a variable in an argument of `sort` could expand to an option that writes"
        );
        assert_eq!(
            why("xargs rm"),
            "`xargs rm`: arguments read from the input could make `rm` write"
        );
        assert_eq!(
            why("test -v 'a[$(rm f)]'"),
            "`test -v` with a subscript may run a command"
        );
        assert_eq!(
            why("PAGER=rm git log"),
            "assignment `PAGER=…` before a command"
        );
        assert_eq!(
            why("for PATH in .; do ls; done"),
            "`for PATH` sets a variable that matters"
        );
        assert_eq!(why("git tag v1"), "`git tag NAME` creates a tag");
    }

    #[test]
    fn commands_claude_code_runs_without_asking_pass_and_none_that_writes_does() {
        let corpus: Value = serde_json::from_str(CLAUDE_CODE).expect("claude-code.json is JSON");
        let entries = corpus["commands"].as_array().expect("commands is a list");
        assert!(entries.len() >= 300, "{} entries", entries.len());
        let (mut runs, mut passes, mut writes) = (0, 0, 0);
        let mut wrong = Vec::new();
        for entry in entries {
            let command = entry["command"].as_str().expect("command is a string");
            let claude_runs = match entry["claude_code"].as_str() {
                Some("runs") => true,
                Some("asks") => false,
                other => panic!("{command:?}: claude_code is {other:?}"),
            };
            let writes_here = entry["writes"].as_bool().expect("writes is a bool");
            let differs = entry.get("differs").and_then(Value::as_str);
            let got = classify(command);
            if writes_here {
                writes += 1;
                if got.read_only {
                    wrong.push(format!("{command:?} writes, yet passes: {}", got.why));
                }
            }
            if claude_runs {
                runs += 1;
                passes += usize::from(got.read_only);
            }
            // Claude Code's verdict, unless the corpus says why session-lock judges otherwise.
            if (got.read_only != claude_runs) != differs.is_some() {
                wrong.push(match differs {
                    Some(reason) => format!(
                        "{command:?}: recorded as differing ({reason}), but both say {}",
                        if claude_runs { "runs" } else { "asks" }
                    ),
                    None => format!(
                        "{command:?}: Claude Code {}, session-lock: {}",
                        if claude_runs { "runs it" } else { "asks" },
                        got.why
                    ),
                });
            }
        }
        assert!(writes >= 100, "only {writes} commands that write");
        assert!(
            wrong.is_empty(),
            "{} entries are wrong:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
        let share = passes as f64 / runs as f64;
        assert!(
            share >= COVERAGE,
            "{passes} of {runs} commands Claude Code runs pass ({:.1}%)",
            100.0 * share
        );
    }
}
