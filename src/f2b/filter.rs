//! Filters: resolving a REGEX argument or filter spec `name[k=v]` to a [`FilterDef`].

use std::path::PathBuf;

/// Where a filter definition came from; decides fail2ban-regex's `Use ...` header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterOrigin {
    /// Standard loading from `basedir/filter.d/NAME.conf` (+ `.d/`, `.local`).
    Standard { basedir: PathBuf },
    /// A filter file outside the config dir: only it, its includes and their `.local` siblings.
    Foreign { path: PathBuf },
    /// failscan's own filter, compiled into the binary (no such filter in the config dir).
    Embedded,
}

/// A filter after configuration reading: regexes are in Python `re` syntax with config
/// interpolation done, but fail2ban's regex tags (`<HOST>`, `<F-...>`) not yet expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterDef {
    /// Filter name (file basename without extension).
    pub name: String,
    pub origin: FilterOrigin,
    /// Options given in the spec `name[key=value, ...]`, in the order given.
    pub options: Vec<(String, String)>,
    pub prefregex: Option<String>,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    pub maxlines: Option<usize>,
    pub datepattern: Option<String>,
}
