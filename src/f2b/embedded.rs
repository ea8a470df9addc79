//! failscan's own filters, compiled into the binary so that `failscan regex LOG asterisk` works
//! on a machine without fail2ban. They are written by us in fail2ban's filter-file format (no
//! includes) and are used only when the config directory has no filter of that name.
//!
//! The filter texts live in `src/f2b/embedded/*.conf`. `scripts/check-embedded-filter.sh`
//! checks `asterisk.conf` with the real fail2ban-regex against the stock filter.

/// The embedded filters: (name, file text).
const FILTERS: &[(&str, &str)] = &[("asterisk", include_str!("embedded/asterisk.conf"))];

/// Returns the text of the embedded filter `name`, if failscan ships one.
pub fn embedded_filter(name: &str) -> Option<&'static str> {
    FILTERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asterisk_is_embedded() {
        let text = embedded_filter("asterisk").expect("asterisk filter is embedded");
        assert!(text.contains("[Definition]"));
        assert!(text.contains("\nprefregex = "));
        assert!(text.contains("\nfailregex = "));
        assert!(text.contains("\ndatepattern = {^LN-BEG}"));
    }

    #[test]
    fn unknown_name_is_none() {
        assert_eq!(embedded_filter("sshd"), None);
        assert_eq!(embedded_filter(""), None);
    }

    /// Embedded filters must stand alone and stay regular, so that they load without a
    /// config directory and run on the DFA.
    #[test]
    fn filters_are_self_contained_and_regular() {
        for (name, text) in FILTERS {
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(!code.contains("[INCLUDES]"), "{name}: has [INCLUDES]");
            for lookaround in ["(?=", "(?!", "(?<=", "(?<!", "(?P="] {
                assert!(!code.contains(lookaround), "{name}: uses {lookaround}");
            }
            // A lone '%' is fatal to fail2ban's INI reader; only %(name)s and %% are allowed.
            let mut rest = code.as_str();
            while let Some(i) = rest.find('%') {
                let after = &rest[i + 1..];
                assert!(
                    after.starts_with('(') || after.starts_with('%'),
                    "{name}: lone '%' near {:?}",
                    &rest[i..rest.len().min(i + 20)]
                );
                rest = after.strip_prefix('%').unwrap_or(after);
            }
        }
    }
}
