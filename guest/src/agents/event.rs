//! A hook event as the agents send it: the fields any agent's protocol reads. Every other field
//! is ignored (agents add new ones), and large ones (a `Write` carries the whole file) are
//! skipped without being kept.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The fields of a hook event the policy reads.
#[derive(Debug, Default, Deserialize)]
pub struct Event {
    /// The event's name, such as `PreToolUse`.
    pub hook_event_name: Option<String>,
    /// The session (every agent but Cursor).
    pub session_id: Option<String>,
    /// Cursor's session.
    pub conversation_id: Option<String>,
    /// The directory the agent works in now.
    pub cwd: Option<String>,
    /// Cursor's open folders.
    pub workspace_roots: Option<Vec<String>>,
    /// The tool the event is about.
    pub tool_name: Option<String>,
    /// The tool's arguments, as far as they name what it touches.
    #[serde(default)]
    pub tool_input: ToolInput,
    /// Cursor's shell command (at the top level of its events).
    pub command: Option<String>,
    /// Cursor's edited file (at the top level of `afterFileEdit`).
    pub file_path: Option<String>,
    /// Claude Code's `PostToolUseFailure`: whether the person interrupted the tool.
    pub is_interrupt: Option<bool>,
    /// Claude Code's `Stop`: work still running in the background.
    pub background_tasks: Option<Tasks>,
    /// Present on Codex events only.
    pub turn_id: Option<IgnoredAny>,
    /// Present on Gemini CLI events only.
    pub timestamp: Option<IgnoredAny>,
}

impl Event {
    /// Reads an event: a JSON object. The error says why the bytes are not one.
    pub fn parse(bytes: &[u8]) -> Result<Event, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("hook input is not a hook event: {e}"))
    }

    /// The event's name (empty when it has none).
    pub fn name(&self) -> &str {
        self.hook_event_name.as_deref().unwrap_or("")
    }

    /// The tool's name (empty when it has none).
    pub fn tool(&self) -> &str {
        self.tool_name.as_deref().unwrap_or("")
    }

    /// Whether the tool is one of `tools` (names joined by `|`, as a matcher lists them).
    pub fn tool_in(&self, tools: &str) -> bool {
        tools.split('|').any(|t| t == self.tool())
    }
}

/// What a tool's arguments say about what it touches. Any JSON value is accepted (Cursor sends
/// an MCP tool's input as a string); only an object's known keys are kept.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ToolInput {
    /// A shell command: a command line, or a program and its arguments (Codex).
    pub command: Option<Command>,
    /// A file tool's target.
    pub file_path: Option<String>,
    /// Claude Code's `NotebookEdit` target.
    pub notebook_path: Option<String>,
    /// Claude Code's `Bash` time limit, in milliseconds.
    pub timeout: Option<u64>,
    /// Codex's shell time limit, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Codex's `apply_patch` patch.
    pub input: Option<String>,
    /// Gemini CLI's shell directory (`dir_path`; `directory` in older versions).
    pub dir_path: Option<String>,
    /// A shell tool's working directory (Codex's `workdir`).
    pub workdir: Option<String>,
}

/// A shell command as a tool gives it.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// One command line, for the shell to read.
    Line(String),
    /// A program and its arguments, run without a shell.
    Argv(Vec<String>),
}

impl Command {
    /// The command as one shell command line: a line as it is; a shell run with `-c` (or
    /// `-lc`, as Codex runs its commands), its script; other argument lists quoted word by
    /// word, so the shell would read them back as given.
    pub fn line(&self) -> String {
        match self {
            Command::Line(line) => line.clone(),
            Command::Argv(words) => match words.as_slice() {
                [shell, flag, script] if is_shell(shell) && is_command_flag(flag) => script.clone(),
                words => words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
            },
        }
    }
}

fn is_shell(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    matches!(name, "sh" | "bash" | "zsh" | "dash")
}

/// `-c`, or a cluster of single-letter options ending in `c` such as `-lc`.
fn is_command_flag(flag: &str) -> bool {
    flag.strip_prefix('-')
        .is_some_and(|f| f.ends_with('c') && f.chars().all(|c| c.is_ascii_lowercase()))
}

/// A word as the shell reads it back unchanged: bare when it is plain, else single-quoted.
fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@=%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Background work an event reports: only whether there is any matters.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tasks {
    /// How many entries the list or object had.
    pub count: usize,
}

impl<'de> Deserialize<'de> for ToolInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ToolInputVisitor)
    }
}

struct ToolInputVisitor;

impl<'de> Visitor<'de> for ToolInputVisitor {
    type Value = ToolInput;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tool's input")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ToolInput, A::Error> {
        let mut input = ToolInput::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "command" => input.command = map.next_value::<Option<Command>>()?,
                "file_path" | "path" => input.file_path = lenient_string(&mut map)?,
                "notebook_path" => input.notebook_path = lenient_string(&mut map)?,
                "timeout" => input.timeout = lenient_number(&mut map)?,
                "timeout_ms" => input.timeout_ms = lenient_number(&mut map)?,
                "input" | "patch" => input.input = lenient_string(&mut map)?,
                "dir_path" | "directory" => input.dir_path = lenient_string(&mut map)?,
                "workdir" => input.workdir = lenient_string(&mut map)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(input)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<ToolInput, E> {
        Ok(ToolInput::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<ToolInput, E> {
        Ok(ToolInput::default())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ToolInput, E> {
        Ok(ToolInput::default())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<ToolInput, E> {
        Ok(ToolInput::default())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<ToolInput, E> {
        Ok(ToolInput::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<ToolInput, E> {
        Ok(ToolInput::default())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ToolInput, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ToolInput::default())
    }
}

/// A value kept when it is a string; any other value is skipped, not an error: an odd field
/// must not turn the whole event unreadable.
fn lenient_string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<String>, A::Error> {
    map.next_value::<Lenient<String>>().map(|l| l.0)
}

/// A value kept when it is a whole number; any other value is skipped.
fn lenient_number<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<u64>, A::Error> {
    map.next_value::<Lenient<u64>>().map(|l| l.0)
}

/// A `T`, or `None` for a value of another type (skipped without being kept).
struct Lenient<T>(Option<T>);

/// Skips what is left of a list or object.
fn drain_seq<'de, A: de::SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements the visitor methods a lenient value ignores: every kind of value but the one it
/// keeps yields `None`.
macro_rules! ignore_others {
    ($($method:ident($ty:ty)),*) => {
        $(fn $method<E: de::Error>(self, _: $ty) -> Result<Self::Value, E> {
            Ok(Lenient(None))
        })*
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Lenient(None))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            drain_seq(seq).map(|()| Lenient(None))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            drain_map(map).map(|()| Lenient(None))
        }
    };
}

impl<'de> Deserialize<'de> for Lenient<String> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Lenient<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Lenient(Some(text.to_owned())))
            }
            ignore_others!(
                visit_bool(bool),
                visit_i64(i64),
                visit_u64(u64),
                visit_f64(f64)
            );
        }
        deserializer.deserialize_any(Text)
    }
}

impl<'de> Deserialize<'de> for Lenient<u64> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Number;
        impl<'de> Visitor<'de> for Number {
            type Value = Lenient<u64>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(Lenient(Some(n)))
            }
            ignore_others!(
                visit_bool(bool),
                visit_i64(i64),
                visit_f64(f64),
                visit_str(&str)
            );
        }
        deserializer.deserialize_any(Number)
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = Command;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command line or a list of words")
            }
            fn visit_str<E: de::Error>(self, line: &str) -> Result<Command, E> {
                Ok(Command::Line(line.to_owned()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut words = Vec::new();
                while let Some(Lenient(word)) = seq.next_element::<Lenient<String>>()? {
                    // A word that is not a string: nothing anyone could run as given, so a
                    // line nobody can prove read-only.
                    let Some(word) = word else {
                        return drain_seq(seq).map(|()| Command::Line(String::new()));
                    };
                    words.push(word);
                }
                Ok(Command::Argv(words))
            }
            // Anything else is no command anyone could run: an empty line, never read-only.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Command, A::Error> {
                drain_map(map).map(|()| Command::Line(String::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Command, E> {
                Ok(Command::Line(String::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Command, E> {
                Ok(Command::Line(String::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Command, E> {
                Ok(Command::Line(String::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Command, E> {
                Ok(Command::Line(String::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Command, E> {
                Ok(Command::Line(String::new()))
            }
        }
        deserializer.deserialize_any(CommandVisitor)
    }
}

impl<'de> Deserialize<'de> for Tasks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let IgnoredAnyCount(count) = IgnoredAnyCount::deserialize(deserializer)?;
        Ok(Tasks { count })
    }
}

/// Counts the entries of a list or object without keeping them (anything else counts 0).
struct IgnoredAnyCount(usize);

impl<'de> Deserialize<'de> for IgnoredAnyCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> Visitor<'de> for Counter {
            type Value = usize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list or object")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
                let mut n = 0;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
            fn visit_unit<E: de::Error>(self) -> Result<usize, E> {
                Ok(0)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<usize, E> {
                Ok(0)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<usize, E> {
                Ok(0)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<usize, E> {
                Ok(0)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<usize, E> {
                Ok(0)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<usize, E> {
                Ok(0)
            }
        }
        deserializer.deserialize_any(Counter).map(IgnoredAnyCount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_input_keeps_what_names_targets_and_skips_the_rest() {
        let event = Event::parse(
            br#"{"tool_input":{"file_path":"/r/a.txt","content":"x","timeout":5,"command":["bash","-lc","ls"]},"background_tasks":[{"id":1},{"id":2}]}"#,
        )
        .unwrap();
        assert_eq!(event.tool_input.file_path.as_deref(), Some("/r/a.txt"));
        assert_eq!(event.tool_input.timeout, Some(5));
        assert_eq!(
            event.tool_input.command,
            Some(Command::Argv(vec![
                "bash".into(),
                "-lc".into(),
                "ls".into()
            ]))
        );
        assert_eq!(event.background_tasks, Some(Tasks { count: 2 }));
    }

    #[test]
    fn commands_become_one_line() {
        let argv = |words: &[&str]| Command::Argv(words.iter().map(|w| w.to_string()).collect());
        assert_eq!(argv(&["bash", "-lc", "git status"]).line(), "git status");
        assert_eq!(argv(&["/bin/sh", "-c", "ls"]).line(), "ls");
        assert_eq!(
            argv(&["git", "commit", "-m", "a b"]).line(),
            "git commit -m 'a b'"
        );
        assert_eq!(argv(&["echo", "it's"]).line(), r"echo 'it'\''s'");
    }

    #[test]
    fn odd_tool_inputs_are_not_errors() {
        let event = Event::parse(br#"{"tool_input":"{\"a\":1}"}"#).unwrap();
        assert_eq!(event.tool_input, ToolInput::default());
        let event = Event::parse(br#"{"tool_input":{"file_path":7,"timeout":"soon"}}"#).unwrap();
        assert_eq!(event.tool_input, ToolInput::default());
    }
}
