//! Test helpers: the stock-regex dump `/work/shared/docs/stock-filter-regexes.json`, read at
//! test time (absent and `CI` unset: the tests that need it are skipped).

pub const STOCK_JSON: &str = "/work/shared/docs/stock-filter-regexes.json";

pub fn stock_json() -> Option<serde_json::Value> {
    match std::fs::read_to_string(STOCK_JSON) {
        Ok(s) => Some(serde_json::from_str(&s).expect("stock JSON parses")),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "{STOCK_JSON}: {e}");
            eprintln!("skipped: {STOCK_JSON}: {e}");
            None
        }
    }
}

/// Every loadable filter and every variant: (filter name, object with the regex lists, label).
pub fn all_variants(json: &serde_json::Value) -> Vec<(String, &serde_json::Value, String)> {
    let mut out = Vec::new();
    for (name, f) in json["filters"].as_object().into_iter().flatten() {
        if f.get("failregex").is_none() {
            continue;
        }
        out.push((name.clone(), f, name.clone()));
        for (vname, v) in f
            .get("variants")
            .and_then(|v| v.as_object())
            .into_iter()
            .flatten()
        {
            out.push((name.clone(), v, format!("{name}[{vname}]")));
        }
    }
    out
}

/// (kind label, raw, final) for prefregex, failregexes and ignoreregexes of one variant.
pub fn regexes(f: &serde_json::Value) -> Vec<(String, String, String)> {
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut out = Vec::new();
    if f["prefregex"].is_object() {
        out.push((
            "prefregex".to_string(),
            s(&f["prefregex"], "raw"),
            s(&f["prefregex"], "final"),
        ));
    }
    for kind in ["failregex", "ignoreregex"] {
        for (i, r) in f[kind].as_array().into_iter().flatten().enumerate() {
            out.push((format!("{kind} {}", i + 1), s(r, "raw"), s(r, "final")));
        }
    }
    out
}

/// Whether failregexes of this variant are compiled with MULTILINE.
pub fn multiline(f: &serde_json::Value) -> bool {
    f["options"]["regex_compiled_with_MULTILINE"]
        .as_bool()
        .unwrap_or(false)
}
