//! The structure of a command line: its simple commands, in order, and everything between
//! them the classifier does not accept (subshells, background jobs, `case` syntax, heredocs).
//!
//! It keeps going past what it does not accept, so the directories of a command that is not
//! read-only can still be read.

use super::rules::{
    CLOSERS, OPENERS, harmless_environment, harmless_shell_variable, is_name, plain_variables,
};
use super::words::{Operator, Redirection, Token, Word};

/// One redirection of a simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The descriptor written before the operator, as written (`2` in `2>&1`).
    pub fd: Option<String>,
    /// The operator.
    pub op: Redirection,
    /// The word after the operator (absent: a syntax error).
    pub target: Option<Word>,
}

/// A simple command: assignments, then words, with its redirections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleCommand {
    /// The `NAME=value` words before the command name.
    pub assignments: Vec<Word>,
    /// The command name and its arguments.
    pub words: Vec<Word>,
    /// Its redirections, in order.
    pub redirects: Vec<Redirect>,
}

impl SimpleCommand {
    fn is_empty(&self) -> bool {
        self.assignments.is_empty() && self.words.is_empty() && self.redirects.is_empty()
    }
}

/// Why a heredoc is not accepted by the classifier, for people.
pub const HEREDOC: &str = "heredoc `<<`";

/// What a command line is made of, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A simple command.
    Command(SimpleCommand),
    /// A heredoc `<<`, just before the command it feeds: text for `cat > f` to write, a script
    /// for `bash` to run. Not accepted, like a [`Item::Problem`], but the scope tells the two
    /// apart.
    Heredoc,
    /// Something else between commands that is not accepted: why, for people.
    Problem(&'static str),
}

/// Splits tokens into simple commands at `|`, `|&`, `&&`, `||`, `;` and newlines; every other
/// operator, and a list that bash would refuse as a syntax error, becomes a [`Item::Problem`].
pub fn split(tokens: Vec<Token>) -> Vec<Item> {
    let mut items = Vec::new();
    let mut current = SimpleCommand::default();
    // Whether the last separator needs a command after it (`|`, `&&`, `||`).
    let mut needs_more = false;
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(word) => {
                if current.words.is_empty() && word.assignment {
                    current.assignments.push(word);
                } else {
                    current.words.push(word);
                }
            }
            Token::Redirect { fd, op } => {
                if op == Redirection::Heredoc {
                    items.push(Item::Heredoc);
                }
                let target = match tokens.peek() {
                    Some(Token::Word(_)) => match tokens.next() {
                        Some(Token::Word(word)) => Some(word),
                        _ => None,
                    },
                    _ => None,
                };
                current.redirects.push(Redirect { fd, op, target });
            }
            Token::Operator(op) => {
                let ended = !current.is_empty();
                if ended {
                    items.push(Item::Command(std::mem::take(&mut current)));
                    needs_more = false;
                }
                let problem = match op {
                    Operator::Pipe | Operator::PipeBoth | Operator::And | Operator::Or => {
                        needs_more = true;
                        (!ended).then_some("a syntax error (an operator without a command)")
                    }
                    Operator::Semicolon => {
                        (!ended).then_some("a syntax error (`;` without a command)")
                    }
                    // `ls &&`, a newline, then `pwd` is one list in bash: `needs_more` stays.
                    Operator::Newline => None,
                    Operator::Background => Some("background `&`"),
                    Operator::Open | Operator::Close => Some("subshell `( … )`"),
                    Operator::CaseEnd => Some("`case` syntax `;;`"),
                };
                if let Some(problem) = problem {
                    items.push(Item::Problem(problem));
                }
            }
        }
    }
    if !current.is_empty() {
        items.push(Item::Command(current));
    } else if needs_more {
        items.push(Item::Problem(
            "a syntax error (the line ends with an operator)",
        ));
    }
    items
}

/// A simple command once the reserved words of a compound command around it are set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    /// What runs: the assignments before the command (its own, or the words after a reserved
    /// word that have the form `NAME=value`), then the command's words (empty: assignments
    /// only).
    Command {
        /// The `NAME=value` words.
        assignments: Vec<&'a Word>,
        /// The command name and its arguments.
        words: &'a [Word],
    },
    /// Only reserved words (`then`, `fi`, `done`) or a loop's head (`for f in *.rs`): nothing
    /// runs here.
    Keywords,
}

/// Sets aside the reserved words that open (`if`, `then`, `elif`, `else`, `while`, `until`,
/// `do`, `!`) or close (`fi`, `done`) a compound command, and reads `for NAME in WORDS`, whose
/// words are a list, not a command. Bash recognises them only first in a command, which is
/// where they are looked for; the commands between them are checked as any other. A closer
/// followed by words, or a loop variable that may change what later commands run, is refused.
pub fn compound_part(command: &SimpleCommand) -> Result<Part<'_>, String> {
    if !command.assignments.is_empty() {
        return Ok(Part::Command {
            assignments: command.assignments.iter().collect(),
            words: &command.words,
        });
    }
    let opened = command
        .words
        .iter()
        .take_while(|w| w.is_literal() && OPENERS.contains(&w.text.as_str()))
        .count();
    let words = &command.words[opened..];
    let Some(first) = words.first() else {
        return Ok(if opened > 0 {
            Part::Keywords
        } else {
            Part::Command {
                assignments: Vec::new(),
                words,
            }
        });
    };
    if first.is_literal() && CLOSERS.contains(&first.text.as_str()) {
        return match words {
            [_] => Ok(Part::Keywords),
            _ => Err(format!("`{}` followed by words", first.text)),
        };
    }
    if first.is_literal() && first.text == "for" {
        return for_head(&words[1..]).map(|()| Part::Keywords);
    }
    let assigned = words.iter().take_while(|w| w.assignment).count();
    Ok(Part::Command {
        assignments: words[..assigned].iter().collect(),
        words: &words[assigned..],
    })
}

/// `for NAME [in WORD…]`: NAME must be a variable no later command depends on, and each word
/// may hold globs and plain variables only.
fn for_head(words: &[Word]) -> Result<(), String> {
    let Some((name, rest)) = words.split_first() else {
        return Err("`for` without a variable".into());
    };
    if !name.is_literal() || !is_name(&name.text) || !harmless_shell_variable(&name.text) {
        return Err(format!("`for {}` sets a variable that matters", name.text));
    }
    match rest.split_first() {
        None => Ok(()),
        Some((keyword, list)) if keyword.text == "in" => {
            match list.iter().find(|w| !plain_variables(w)) {
                Some(word) => Err(format!(
                    "{} in the list of `for`",
                    word.expansion.map_or("an expansion", |e| e.describe())
                )),
                None => Ok(()),
            }
        }
        Some((other, _)) => Err(format!(
            "`for {} {}` is not a loop head",
            name.text, other.text
        )),
    }
}

/// Whether an assignment may stand where it is: before a command, only a variable in the
/// harmless list ([`harmless_environment`]: `LANG`, `LC_*`, `TZ`, …); alone, any variable no
/// later command depends on ([`harmless_shell_variable`]). Its value may hold plain variables,
/// not a command substitution.
pub fn check_assignment(word: &Word, before_command: bool) -> Result<(), String> {
    let name = word.text.split('=').next().unwrap_or_default();
    let harmless = if before_command {
        harmless_environment(name)
    } else {
        harmless_shell_variable(name)
    };
    if !harmless {
        return Err(if before_command {
            format!("assignment `{name}=…` before a command")
        } else {
            format!("assignment `{name}=…` sets a variable that matters")
        });
    }
    if !plain_variables(word) {
        return Err(format!(
            "{} in the assignment `{name}=…`",
            word.expansion.map_or("an expansion", |e| e.describe())
        ));
    }
    Ok(())
}
