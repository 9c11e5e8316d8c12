//! MCP tools (`mcp__<server>__<tool>`): which calls need the lock.
//!
//! An MCP tool names no path the component could read: the server decides what it touches.
//! Most are read-only (a search, a lookup, a listing); refusing each of them while another
//! session holds the lock would stop a session's reading for nothing, and letting every one
//! through unseen would leave the writing ones (create, update, delete, push, …) unguarded. So
//! a tool whose name starts with a reading verb runs without the lock, and any other tool needs
//! the session's own workspace's lock. A name is read by its words (`get_issue`, `listFiles`,
//! `search-docs`).

/// Verbs that name a reading tool when its name starts with one.
const READING_VERBS: &[&str] = &[
    "get", "list", "read", "search", "find", "query", "fetch", "describe", "show", "view",
    "lookup", "inspect", "count", "status", "info", "explain", "resolve",
];

/// The prefix of every MCP tool's name.
pub const PREFIX: &str = "mcp__";

/// Whether `tool` is an MCP tool.
pub fn is_mcp(tool: &str) -> bool {
    tool.starts_with(PREFIX)
}

/// Whether the MCP tool `tool` reads only, judged by the first word of its own name (the part
/// after `mcp__<server>__`).
pub fn reads_only(tool: &str) -> bool {
    let Some(rest) = tool.strip_prefix(PREFIX) else {
        return false;
    };
    let own_name = rest.split_once("__").map_or(rest, |(_, name)| name);
    first_word(own_name).is_some_and(|word| READING_VERBS.contains(&word.as_str()))
}

/// The first word of a name, lowercased: up to `_`, `-`, `.`, a space or a lower-to-upper
/// case change (`listFiles` gives `list`).
fn first_word(name: &str) -> Option<String> {
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        let boundary = matches!(c, '_' | '-' | '.' | ' ') || (previous_lower && c.is_uppercase());
        if boundary && !word.is_empty() {
            break;
        }
        if !boundary {
            word.extend(c.to_lowercase());
        }
        previous_lower = c.is_lowercase();
    }
    (!word.is_empty()).then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_named_by_a_reading_verb_read_only() {
        for tool in [
            "mcp__github__get_issue",
            "mcp__github__list_pull_requests",
            "mcp__context7__resolve-library-id",
            "mcp__docs__searchDocs",
            "mcp__fs__read_file",
        ] {
            assert!(reads_only(tool), "{tool}");
        }
    }

    #[test]
    fn every_other_tool_needs_the_lock() {
        for tool in [
            "mcp__fs__write_file",
            "mcp__github__create_or_update_file",
            "mcp__github__push_files",
            "mcp__db__execute",
            "mcp__playwright__browser_take_screenshot",
            "mcp__x__getaway",
            "mcp__x__",
            "mcp__",
            "Write",
        ] {
            assert!(!reads_only(tool), "{tool}");
        }
        assert!(is_mcp("mcp__x__y") && !is_mcp("Bash"));
    }
}
