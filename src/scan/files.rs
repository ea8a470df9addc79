//! Expanding LOG arguments: globs, and ordering rotated sets oldest first.
//!
//! logrotate names rotations `messages.1`, `messages.2.gz`, ... (higher = older) or
//! `messages-20240310[.gz]` (dated). A set is read oldest first so that events come out in
//! time order: `messages.3.gz, messages.2.gz, messages.1, messages`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Expands globs (a pattern matching nothing is an error: a typo must not be silent) and
/// keeps literal paths as given (`-` is standard input). Duplicates are removed.
pub fn expand(args: &[String]) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = Vec::new();
    for a in args {
        if a == "-" || !a.contains(['*', '?', '[']) {
            out.push(PathBuf::from(a));
            continue;
        }
        let mut found: Vec<PathBuf> = glob::glob(a)
            .with_context(|| format!("bad glob pattern '{a}'"))?
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect();
        if found.is_empty() {
            bail!("'{a}' matches no file");
        }
        out.append(&mut found);
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out.sort_by_key(|p| rotation_key(p));
    Ok(out)
}

/// Sort key: (base name, age rank), where older rotations sort first. Files that do not
/// look rotated keep their argument order relative to each other only within a base name.
fn rotation_key(p: &std::path::Path) -> (PathBuf, i64, String) {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for ext in [".gz", ".bz2", ".xz", ".zst"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
            break;
        }
    }
    let dir = p.parent().map(|d| d.to_path_buf()).unwrap_or_default();
    // messages.N -> (messages, -N): bigger N is older, so it sorts first.
    if let Some((base, num)) = stem.rsplit_once('.') {
        if let Ok(n) = num.parse::<i64>() {
            return (dir.join(base), -n, String::new());
        }
    }
    // messages-YYYYMMDD -> (messages, date - big): dated rotations before the live file.
    if let Some((base, date)) = stem.rsplit_once('-') {
        if date.len() >= 8 && date.bytes().all(|b| b.is_ascii_digit()) {
            return (dir.join(base), i64::MIN / 2, date.to_string());
        }
    }
    (dir.join(stem), 0, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(names: &[&str]) -> Vec<String> {
        let mut v: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
        v.sort_by_key(|p| rotation_key(p));
        v.iter().map(|p| p.display().to_string()).collect()
    }

    #[test]
    fn numbered_rotations_oldest_first() {
        assert_eq!(
            order(&[
                "/l/messages",
                "/l/messages.1",
                "/l/messages.3.gz",
                "/l/messages.2.gz"
            ]),
            [
                "/l/messages.3.gz",
                "/l/messages.2.gz",
                "/l/messages.1",
                "/l/messages"
            ]
        );
    }

    #[test]
    fn dated_rotations_oldest_first() {
        assert_eq!(
            order(&[
                "/l/messages",
                "/l/messages-20240317.gz",
                "/l/messages-20240310"
            ]),
            [
                "/l/messages-20240310",
                "/l/messages-20240317.gz",
                "/l/messages"
            ]
        );
    }
}
