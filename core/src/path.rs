//! ZooKeeper path validation and joining.

use crate::error::{Error, Result};

/// Checks that `path` is a legal absolute ZooKeeper path; `what` names it in the error.
pub fn validate(path: &str, what: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid(format!(
            "{what} {path:?} is not a valid ZooKeeper path: {why}"
        )))
    };
    if path.is_empty() {
        return bad("it is empty");
    }
    if !path.starts_with('/') {
        return bad("it must be absolute (start with '/')");
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return bad("it must not end with '/'");
    }
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            return bad("it has an empty segment ('//')");
        }
        if segment == "." || segment == ".." {
            return bad("relative segments ('.' or '..') are not allowed");
        }
    }
    if let Some(c) = path.chars().find(|&c| illegal_char(c)) {
        return bad(&format!("it contains the illegal character {c:?}"));
    }
    Ok(())
}

fn illegal_char(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..='\u{ffff}')
}

/// Checks that `name` is a legal single path segment (a child name); `what` names it.
pub fn validate_name(name: &str, what: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    if name.contains('/') {
        return Err(Error::invalid(format!(
            "{what} {name:?} must not contain '/'"
        )));
    }
    validate(&format!("/{name}"), what)
}

/// Joins a parent path and a child name or relative path.
pub fn join(parent: &str, child: &str) -> String {
    let child = child.trim_start_matches('/');
    if parent == "/" || parent.is_empty() {
        format!("/{child}")
    } else if child.is_empty() {
        parent.to_string()
    } else {
        format!("{parent}/{child}")
    }
}

/// The parent of `path` (`/` for top-level nodes).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last segment of `path`.
pub fn name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Normalises a namespace root: `""`, `"/"` and `"flink"` become `""`, `""` and `"/flink"`.
pub fn normalize_root(root: &str, what: &str) -> Result<String> {
    let trimmed = root.trim();
    if trimmed.is_empty() || trimmed == "/" {
        return Ok(String::new());
    }
    let with_slash = if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    };
    let normal = with_slash.trim_end_matches('/').to_string();
    validate(&normal, what)?;
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_paths() {
        for ok in ["/", "/a", "/a/b-c_d.e", "/flink/default/leader/latch"] {
            validate(ok, "path").unwrap();
        }
        for (bad, why) in [
            ("", "empty"),
            ("a/b", "absolute"),
            ("/a/", "end with"),
            ("/a//b", "empty segment"),
            ("/a/../b", "relative"),
            ("/a\u{1}", "illegal character"),
        ] {
            let msg = validate(bad, "latch path").unwrap_err().to_string();
            assert!(
                msg.contains(why) && msg.contains("latch path"),
                "{bad:?}: {msg}"
            );
        }
    }

    #[test]
    fn join_parent_and_roots() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "/b/c"), "/a/b/c");
        assert_eq!(join("", "/b"), "/b");
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(name("/a/b"), "b");
        assert_eq!(normalize_root("flink/", "root").unwrap(), "/flink");
        assert_eq!(normalize_root("/", "root").unwrap(), "");
        assert!(normalize_root("/a//b", "root").is_err());
    }
}
