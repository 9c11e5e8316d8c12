//! The structure of a command line: its simple commands, in order, and everything between
//! them the classifier does not accept (subshells, background jobs, `case` syntax, heredocs).
//!
//! It keeps going past what it does not accept, so the directories of a command that is not
//! read-only can still be read.

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

/// What a command line is made of, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A simple command.
    Command(SimpleCommand),
    /// Something between commands that is not accepted: why, for people.
    Problem(String),
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
                    items.push(Item::Problem("heredoc `<<`".into()));
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
                    items.push(Item::Problem(problem.into()));
                }
            }
        }
    }
    if !current.is_empty() {
        items.push(Item::Command(current));
    } else if needs_more {
        items.push(Item::Problem(
            "a syntax error (the line ends with an operator)".into(),
        ));
    }
    items
}
