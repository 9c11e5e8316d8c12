//! The tokenizer: a command line split into words, operators and redirections, the way bash
//! splits it, but only as far as the classifier needs.
//!
//! It never expands anything. Instead each word records what bash *would* expand in it (a
//! variable, a command substitution, a glob), so the classifier can refuse what it cannot see
//! through. Quote removal is done, because `'ls'` and `ls` run the same command.

/// An expansion bash would perform inside a word: whatever it yields is unknown here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expansion {
    /// `$NAME`, `${…}`, `$1`, `$@`, `$"…"`.
    Variable,
    /// `$((…))`: it can assign variables.
    Arithmetic,
    /// `$(…)`.
    Command,
    /// `` `…` ``.
    Backtick,
    /// `<(…)` or `>(…)`.
    Process,
    /// `$'…'`: its escapes are not decoded here, so its text is not known.
    AnsiC,
}

impl Expansion {
    /// How the `why` line names it.
    pub fn describe(self) -> &'static str {
        match self {
            Expansion::Variable => "variable expansion `$…`",
            Expansion::Arithmetic => "arithmetic expansion `$((…))`",
            Expansion::Command => "command substitution `$(…)`",
            Expansion::Backtick => "command substitution `` `…` ``",
            Expansion::Process => "process substitution `<(…)`/`>(…)`",
            Expansion::AnsiC => "ANSI-C quoting `$'…'`",
        }
    }
}

/// One word after quote removal, with what bash would still do to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Word {
    /// The text after quote removal; expansions are kept as written (`$HOME` stays `$HOME`).
    pub text: String,
    /// The first expansion found in the word, if any.
    pub expansion: Option<Expansion>,
    /// Whether it holds an unquoted `*`, `?`, `[`, `~` or brace expansion (`{a,b}`, `{1..3}`):
    /// a glob, brace or tilde expansion may turn it into other text (or several words).
    pub pattern: bool,
    /// Whether its first character is an unquoted `*`, `?`, `[` or a brace expansion's `{`: it
    /// may expand to a word that starts with `-`, that is, to an option of the command.
    pub leading_pattern: bool,
    /// Whether it has the form `NAME=value` with `NAME=` unquoted: in command position, a
    /// variable assignment.
    pub assignment: bool,
}

impl Word {
    /// Whether the word reaches the command exactly as `text`: no expansion of any kind.
    pub fn is_literal(&self) -> bool {
        self.expansion.is_none() && !self.pattern
    }

    /// Whether expansion may turn it into an option the text does not show: a pattern at its
    /// start (`*` may match a file named `-delete`), or a pattern in a word that is already an
    /// option (`-{delete,}`, `-delet?`). A pattern after a literal first character keeps it.
    pub fn may_hide_an_option(&self) -> bool {
        self.leading_pattern || (self.pattern && self.text.starts_with('-'))
    }
}

/// A control operator: what separates or groups commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `|`.
    Pipe,
    /// `|&`: a pipe of stdout and stderr.
    PipeBoth,
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// `;`.
    Semicolon,
    /// An unquoted newline.
    Newline,
    /// `&`: runs the command in the background.
    Background,
    /// `(`: opens a subshell.
    Open,
    /// `)`.
    Close,
    /// `;;`, `;&` or `;;&`: only meaningful in `case`.
    CaseEnd,
}

/// A redirection operator; its target is the word that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirection {
    /// `<`.
    Input,
    /// `>`.
    Output,
    /// `>>`.
    Append,
    /// `>|`.
    Clobber,
    /// `<>`: opens for reading and writing, creating the file.
    ReadWrite,
    /// `<&`.
    DuplicateInput,
    /// `>&`.
    DuplicateOutput,
    /// `&>`.
    OutputBoth,
    /// `&>>`.
    AppendBoth,
    /// `<<` or `<<-`.
    Heredoc,
    /// `<<<`.
    HereString,
}

/// One token of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A word.
    Word(Word),
    /// A control operator.
    Operator(Operator),
    /// A redirection, with the descriptor number written before it (`2>`), if any.
    Redirect {
        /// The descriptor written before the operator, as written.
        fd: Option<String>,
        /// The operator.
        op: Redirection,
    },
}

/// Splits `line` into tokens. Fails only where bash would fail to read the line at all
/// (an unterminated quote or substitution); the reason says which.
pub fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut lexer = Lexer {
        chars: line.chars().collect(),
        at: 0,
        tokens: Vec::new(),
        word: None,
        heredoc_next: None,
        heredocs: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

/// The word being read, before it is finished.
#[derive(Default)]
struct Partial {
    word: Word,
    /// The length of `text` when the first quoted or escaped character was added: an
    /// assignment's `NAME=` must come before it.
    quoted_from: Option<usize>,
    /// Set by an unquoted `{` (true: it came first); the word is a brace pattern if it also
    /// holds a `,` or `..` (quoted or not: a false pattern only makes the classifier stricter).
    brace: Option<bool>,
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    tokens: Vec<Token>,
    word: Option<Partial>,
    /// Set by `<<`/`<<-` (true: strip leading tabs): the next word is a heredoc delimiter.
    heredoc_next: Option<bool>,
    /// Heredoc delimiters whose bodies start after the next newline.
    heredocs: Vec<(String, bool)>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn partial(&mut self) -> &mut Partial {
        self.word.get_or_insert_with(Partial::default)
    }

    /// Adds an unquoted character.
    fn push(&mut self, c: char) {
        self.partial().word.text.push(c);
    }

    /// Notes that quoting starts here; it also starts a word (`''` is a word, if empty).
    fn mark_quoted(&mut self) {
        let partial = self.partial();
        partial.quoted_from.get_or_insert(partial.word.text.len());
    }

    /// Adds a quoted or escaped character: never special.
    fn push_quoted(&mut self, c: char) {
        self.mark_quoted();
        self.partial().word.text.push(c);
    }

    /// Records an expansion (keeping the first) and adds its text as written.
    fn expand(&mut self, kind: Expansion, text: &str) {
        let partial = self.partial();
        partial.word.expansion.get_or_insert(kind);
        partial.word.text.push_str(text);
    }

    fn finish_word(&mut self) {
        let Some(mut partial) = self.word.take() else {
            return;
        };
        let word = &mut partial.word;
        if let Some(first) = partial.brace
            && (word.text.contains(',') || word.text.contains(".."))
        {
            word.pattern = true;
            word.leading_pattern |= first;
        }
        if let Some(eq) = word.text.find('=') {
            let name = &word.text[..eq];
            word.assignment = is_name(name) && partial.quoted_from.is_none_or(|q| q > eq);
        }
        if let Some(strip) = self.heredoc_next.take() {
            self.heredocs.push((word.text.clone(), strip));
        }
        self.tokens.push(Token::Word(partial.word));
    }

    fn operator(&mut self, op: Operator, len: usize) {
        self.finish_word();
        self.tokens.push(Token::Operator(op));
        self.at += len;
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' => {
                    self.finish_word();
                    self.at += 1;
                }
                '\n' => {
                    self.operator(Operator::Newline, 1);
                    self.skip_heredoc_bodies();
                }
                // A comment starts only where a word could start: `a#b` is one word.
                '#' if self.word.is_none() => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.at += 1;
                    }
                }
                '\\' => match self.peek(1) {
                    // A line continuation: both characters vanish.
                    Some('\n') => self.at += 2,
                    Some(next) => {
                        self.push_quoted(next);
                        self.at += 2;
                    }
                    None => {
                        self.push('\\');
                        self.at += 1;
                    }
                },
                '\'' => {
                    let end = self.find_from(self.at + 1, '\'').ok_or("unterminated '")?;
                    self.mark_quoted();
                    let quoted: String = self.chars[self.at + 1..end].iter().collect();
                    for c in quoted.chars() {
                        self.push_quoted(c);
                    }
                    self.at = end + 1;
                }
                '"' => self.double_quoted()?,
                '$' => self.dollar(false)?,
                '`' => self.backtick()?,
                '|' => match self.peek(1) {
                    Some('|') => self.operator(Operator::Or, 2),
                    Some('&') => self.operator(Operator::PipeBoth, 2),
                    _ => self.operator(Operator::Pipe, 1),
                },
                '&' => match (self.peek(1), self.peek(2)) {
                    (Some('&'), _) => self.operator(Operator::And, 2),
                    (Some('>'), Some('>')) => self.redirect(None, Redirection::AppendBoth, 3),
                    (Some('>'), _) => self.redirect(None, Redirection::OutputBoth, 2),
                    _ => self.operator(Operator::Background, 1),
                },
                ';' => match (self.peek(1), self.peek(2)) {
                    (Some(';'), Some('&')) => self.operator(Operator::CaseEnd, 3),
                    (Some(';' | '&'), _) => self.operator(Operator::CaseEnd, 2),
                    _ => self.operator(Operator::Semicolon, 1),
                },
                '(' => self.operator(Operator::Open, 1),
                ')' => self.operator(Operator::Close, 1),
                '<' | '>' if self.peek(1) == Some('(') => {
                    // Process substitution: bash reads it as (part of) a word.
                    let end = self.balanced(self.at + 1, '(', ')')?;
                    let text: String = self.chars[self.at..end].iter().collect();
                    self.expand(Expansion::Process, &text);
                    self.at = end;
                }
                '<' | '>' => self.redirection(c),
                '*' | '?' | '[' | '{' | '~' => {
                    let partial = self.partial();
                    let first = partial.word.text.is_empty() && partial.quoted_from.is_none();
                    if c == '{' {
                        // A brace expansion only if a `,` or `..` follows: `{}` stays `{}`.
                        partial.brace = Some(first);
                    } else {
                        partial.word.pattern = true;
                        partial.word.leading_pattern |= first && c != '~';
                    }
                    self.push(c);
                    self.at += 1;
                }
                _ => {
                    self.push(c);
                    self.at += 1;
                }
            }
        }
        self.finish_word();
        Ok(())
    }

    /// Reads `<…` or `>…` at `self.at`, taking an all-digit word just before it as the
    /// descriptor (`2>`), as bash does.
    fn redirection(&mut self, c: char) {
        let fd = match &self.word {
            Some(p)
                if p.quoted_from.is_none()
                    && p.word.expansion.is_none()
                    && !p.word.text.is_empty()
                    && p.word.text.chars().all(|c| c.is_ascii_digit()) =>
            {
                self.word.take().map(|p| p.word.text)
            }
            _ => None,
        };
        let (op, len) = match (c, self.peek(1), self.peek(2)) {
            ('<', Some('<'), Some('<')) => (Redirection::HereString, 3),
            ('<', Some('<'), Some('-')) => {
                self.heredoc_next = Some(true);
                (Redirection::Heredoc, 3)
            }
            ('<', Some('<'), _) => {
                self.heredoc_next = Some(false);
                (Redirection::Heredoc, 2)
            }
            ('<', Some('&'), _) => (Redirection::DuplicateInput, 2),
            ('<', Some('>'), _) => (Redirection::ReadWrite, 2),
            ('<', _, _) => (Redirection::Input, 1),
            (_, Some('>'), _) => (Redirection::Append, 2),
            (_, Some('&'), _) => (Redirection::DuplicateOutput, 2),
            (_, Some('|'), _) => (Redirection::Clobber, 2),
            _ => (Redirection::Output, 1),
        };
        self.redirect(fd, op, len);
    }

    fn redirect(&mut self, fd: Option<String>, op: Redirection, len: usize) {
        self.finish_word();
        self.tokens.push(Token::Redirect { fd, op });
        self.at += len;
    }

    /// Reads `"…"` at `self.at`: only `$`, `` ` `` and some escapes are special inside.
    fn double_quoted(&mut self) -> Result<(), String> {
        self.mark_quoted();
        self.at += 1;
        loop {
            match self.peek(0) {
                None => return Err("unterminated \"".into()),
                Some('"') => break,
                Some('\\') => match self.peek(1) {
                    Some('\n') => self.at += 2,
                    Some(next @ ('$' | '`' | '"' | '\\')) => {
                        self.push_quoted(next);
                        self.at += 2;
                    }
                    _ => {
                        self.push_quoted('\\');
                        self.at += 1;
                    }
                },
                Some('$') => self.dollar(true)?,
                Some('`') => self.backtick()?,
                Some(c) => {
                    self.push_quoted(c);
                    self.at += 1;
                }
            }
        }
        self.at += 1;
        Ok(())
    }

    /// Reads what starts with `$` at `self.at`.
    fn dollar(&mut self, in_double_quotes: bool) -> Result<(), String> {
        let (kind, end) = match self.peek(1) {
            Some('(') if self.peek(2) == Some('(') => {
                (Expansion::Arithmetic, self.balanced(self.at + 1, '(', ')')?)
            }
            Some('(') => (Expansion::Command, self.balanced(self.at + 1, '(', ')')?),
            Some('{') => (Expansion::Variable, self.balanced(self.at + 1, '{', '}')?),
            Some('\'') if !in_double_quotes => {
                let mut i = self.at + 2;
                loop {
                    match self.chars.get(i) {
                        None => return Err("unterminated $'".into()),
                        Some('\\') => i += 2,
                        Some('\'') => break (Expansion::AnsiC, i + 1),
                        Some(_) => i += 1,
                    }
                }
            }
            // `$"…"`: the quotes are then read as ordinary double quotes.
            Some('"') if !in_double_quotes => (Expansion::Variable, self.at + 1),
            Some(c) if c.is_ascii_alphanumeric() || "_@*#?-$!".contains(c) => {
                let mut i = self.at + 2;
                if c.is_ascii_alphabetic() || c == '_' {
                    while self
                        .chars
                        .get(i)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                    {
                        i += 1;
                    }
                }
                (Expansion::Variable, i)
            }
            // A `$` that starts nothing is a literal dollar sign.
            _ => {
                if in_double_quotes {
                    self.push_quoted('$');
                } else {
                    self.push('$');
                }
                self.at += 1;
                return Ok(());
            }
        };
        let text: String = self.chars[self.at..end].iter().collect();
        self.expand(kind, &text);
        self.at = end;
        Ok(())
    }

    /// Reads `` `…` `` at `self.at`.
    fn backtick(&mut self) -> Result<(), String> {
        let mut i = self.at + 1;
        loop {
            match self.chars.get(i) {
                None => return Err("unterminated `".into()),
                Some('\\') => i += 2,
                Some('`') => break,
                Some(_) => i += 1,
            }
        }
        let text: String = self.chars[self.at..=i].iter().collect();
        self.expand(Expansion::Backtick, &text);
        self.at = i + 1;
        Ok(())
    }

    /// The index just after the `close` that matches the `open` at `start`, skipping quoted
    /// text. Only where the substitution ends matters: what is inside is never trusted.
    fn balanced(&self, start: usize, open: char, close: char) -> Result<usize, String> {
        let mut depth = 0usize;
        let mut i = start;
        while let Some(&c) = self.chars.get(i) {
            match c {
                '\\' => i += 1,
                '\'' | '"' | '`' => {
                    let mut j = i + 1;
                    while let Some(&d) = self.chars.get(j) {
                        if d == c {
                            break;
                        }
                        j += if d == '\\' && c != '\'' { 2 } else { 1 };
                    }
                    i = j;
                }
                _ if c == open => depth += 1,
                _ if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        Err(format!("unterminated `{}{open}`", self.chars[start - 1]))
    }

    fn find_from(&self, from: usize, c: char) -> Option<usize> {
        (from..self.chars.len()).find(|&i| self.chars[i] == c)
    }

    /// Skips the bodies of the heredocs opened on the line just ended: they are text, not
    /// commands.
    fn skip_heredoc_bodies(&mut self) {
        for (delimiter, strip_tabs) in std::mem::take(&mut self.heredocs) {
            while self.at < self.chars.len() {
                let end = self.find_from(self.at, '\n').unwrap_or(self.chars.len());
                let line: String = self.chars[self.at..end].iter().collect();
                self.at = (end + 1).min(self.chars.len());
                let line = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                if line == delimiter {
                    break;
                }
            }
        }
    }
}

/// Whether `s` is a shell variable name.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|t| match t {
                Token::Word(w) => w.text,
                Token::Operator(op) => format!("<{op:?}>"),
                Token::Redirect { fd, op } => format!("<{}{op:?}>", fd.unwrap_or_default()),
            })
            .collect()
    }

    fn word(line: &str) -> Word {
        match tokenize(line).unwrap().as_slice() {
            [Token::Word(w)] => w.clone(),
            other => panic!("{line:?} is not one word: {other:?}"),
        }
    }

    #[test]
    fn quotes_are_removed_and_keep_operators_inside() {
        assert_eq!(words("grep 'a|b' f"), ["grep", "a|b", "f"]);
        assert_eq!(words(r#"echo "a;b" 'x > y'"#), ["echo", "a;b", "x > y"]);
        assert_eq!(
            words(r#"echo "it's" 'say "hi"'"#),
            ["echo", "it's", "say \"hi\""]
        );
        assert_eq!(words("echo 'a'\"b\"c"), ["echo", "abc"]);
        assert_eq!(words("echo '' \"\""), ["echo", "", ""]);
        assert_eq!(words(r#"echo "a\"b\$c\d""#), ["echo", "a\"b$c\\d"]);
    }

    #[test]
    fn backslashes_escape_one_character_and_join_lines() {
        assert_eq!(words(r"echo a\;b a \> b"), ["echo", "a;b", "a", ">", "b"]);
        assert_eq!(words("ls \\\n -la"), ["ls", "-la"]);
        assert_eq!(words(r"l\s \*"), ["ls", "*"]);
        assert!(!word(r"\*").pattern);
    }

    #[test]
    fn operators_and_redirections() {
        assert_eq!(
            words("a|b||c&&d;e\nf&g|&h"),
            [
                "a",
                "<Pipe>",
                "b",
                "<Or>",
                "c",
                "<And>",
                "d",
                "<Semicolon>",
                "e",
                "<Newline>",
                "f",
                "<Background>",
                "g",
                "<PipeBoth>",
                "h"
            ]
        );
        assert_eq!(
            words("ls 2>&1 >/dev/null &>x &>>y >>z >|w <in <>rw 3<&0"),
            [
                "ls",
                "<2DuplicateOutput>",
                "1",
                "<Output>",
                "/dev/null",
                "<OutputBoth>",
                "x",
                "<AppendBoth>",
                "y",
                "<Append>",
                "z",
                "<Clobber>",
                "w",
                "<Input>",
                "in",
                "<ReadWrite>",
                "rw",
                "<3DuplicateInput>",
                "0"
            ]
        );
        // Digits are a descriptor only when they are the whole word.
        assert_eq!(words("echo a2>f"), ["echo", "a2", "<Output>", "f"]);
        assert_eq!(words("echo '2'>f"), ["echo", "2", "<Output>", "f"]);
        assert_eq!(
            words("(ls) ;; x"),
            ["<Open>", "ls", "<Close>", "<CaseEnd>", "x"]
        );
    }

    #[test]
    fn comments_start_only_at_a_word() {
        assert_eq!(words("ls # hi && rm x"), ["ls"]);
        assert_eq!(words("echo a#b"), ["echo", "a#b"]);
        assert_eq!(
            words("ls;# x\npwd"),
            ["ls", "<Semicolon>", "<Newline>", "pwd"]
        );
        assert_eq!(words("echo '#' \\#"), ["echo", "#", "#"]);
    }

    #[test]
    fn expansions_are_recorded_not_performed() {
        assert_eq!(word("$HOME").expansion, Some(Expansion::Variable));
        assert_eq!(word("\"${X:-a b}\"").expansion, Some(Expansion::Variable));
        assert_eq!(word("a$(ls \")\")b").expansion, Some(Expansion::Command));
        assert_eq!(word("$((1+2))").expansion, Some(Expansion::Arithmetic));
        assert_eq!(word("\"`ls`\"").expansion, Some(Expansion::Backtick));
        assert_eq!(word("<(ls)").expansion, Some(Expansion::Process));
        assert_eq!(word("$'\\n'").expansion, Some(Expansion::AnsiC));
        assert_eq!(word("'$HOME'").expansion, None);
        assert_eq!(word("\\$HOME").expansion, None);
        // A `$` that starts nothing is literal.
        assert_eq!(word("a$").expansion, None);
        assert_eq!(word("\"a$\"").expansion, None);
        assert_eq!(words("echo $(a b) c"), ["echo", "$(a b)", "c"]);
    }

    #[test]
    fn patterns_and_assignments() {
        assert!(word("*.rs").leading_pattern);
        assert!(word("src/*.rs").pattern && !word("src/*.rs").leading_pattern);
        assert!(word("~/x").pattern && !word("~/x").leading_pattern);
        assert!(!word("'*.rs'").pattern);
        assert!(!word("{}").pattern);
        assert!(word("{a,b}").leading_pattern);
        assert!(word("x{1..3}").pattern && !word("x{1..3}").leading_pattern);
        assert!(word("-{delete,}").may_hide_an_option());
        assert!(word("-delet?").may_hide_an_option());
        assert!(!word("src/-*").may_hide_an_option());
        assert!(word("FOO=1").assignment);
        assert!(word("FOO=").assignment);
        assert!(word("FOO='a b'").assignment);
        assert!(!word("'FOO'=1").assignment);
        assert!(!word("1X=1").assignment);
        assert!(!word("--x=1").assignment);
    }

    #[test]
    fn heredoc_bodies_are_skipped() {
        assert_eq!(
            words("cat <<EOF\ncd x\nEOF\nls"),
            ["cat", "<Heredoc>", "EOF", "<Newline>", "ls"]
        );
        assert_eq!(
            words("cat <<-'E'\n\trm x\n\tE\npwd"),
            ["cat", "<Heredoc>", "E", "<Newline>", "pwd"]
        );
        assert_eq!(words("cat <<<x"), ["cat", "<HereString>", "x"]);
    }

    #[test]
    fn unterminated_input_is_refused() {
        for line in [
            "echo 'a", "echo \"a", "echo $(a", "echo `a", "echo ${a", "echo $'a", "diff <(a",
        ] {
            assert!(tokenize(line).is_err(), "{line:?}");
        }
    }
}
