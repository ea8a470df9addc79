//! Test-only access to the installed fail2ban (the oracle): runs its Python package or
//! `fail2ban-regex`. Missing fail2ban skips the checks, except under `CI`, where it fails.

use std::process::Command;

/// Path of the real fail2ban-regex.
pub(crate) const FAIL2BAN_REGEX: &str = "/usr/bin/fail2ban-regex";

/// True if the oracle is installed; panics when it is missing and env `CI` is set.
pub(crate) fn available() -> bool {
    let ok = std::path::Path::new(FAIL2BAN_REGEX).exists();
    if !ok && std::env::var_os("CI").is_some() {
        panic!("{FAIL2BAN_REGEX} is required when CI is set");
    }
    ok
}

/// Runs a Python snippet with the system interpreter fail2ban is installed for. The time
/// zone (TZ) is inherited, so the oracle and our code convert local times alike.
pub(crate) fn python(script: &str) -> Option<String> {
    python_args(script, &[])
}

/// Like [`python`], with arguments for `sys.argv[1..]`.
pub(crate) fn python_args(script: &str, args: &[&str]) -> Option<String> {
    if !available() {
        return None;
    }
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs fail2ban-regex (inheriting TZ, see [`python`]); returns (exit code, stdout).
pub(crate) fn fail2ban_regex(args: &[&str]) -> Option<(i32, String)> {
    if !available() {
        return None;
    }
    let out = Command::new(FAIL2BAN_REGEX)
        .args(args)
        .env("LANG", "C.UTF-8")
        .output()
        .ok()?;
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}
