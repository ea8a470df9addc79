//! Differential tests against the installed fail2ban-regex (the oracle), and compile
//! checks over every stock regex. When `fail2ban-regex` is missing the oracle tests are
//! skipped, unless `CI` is set (then they fail).

use super::engine::{Engine, EngineOptions, FilterRegexes, LineOutcome};
use super::tags::expand_tags;
use super::testdata;
use super::translate::{translate, Target};
use super::UseDns;

/// Every stock regex (all variants) translates, compiles exactly (regex-automata or
/// fancy-regex) and its superset compiles with regex-automata.
#[test]
fn every_stock_regex_compiles() {
    let Some(json) = testdata::stock_json() else {
        return;
    };
    let mut n = 0;
    let mut fancy = 0;
    for (_, f, label) in testdata::all_variants(&json) {
        let ml = testdata::multiline(f);
        for (kind, raw, fin) in testdata::regexes(f) {
            let expanded = expand_tags(&raw, UseDns::Warn).expect("expands");
            assert_eq!(expanded, fin);
            let tr = translate(&fin, ml && kind.starts_with("failregex"))
                .unwrap_or_else(|e| panic!("{label} {kind}: {e}"));
            for t in [Target::Superset, Target::Gate] {
                let s = tr.emit(t).unwrap();
                regex_automata::meta::Regex::new(&s)
                    .unwrap_or_else(|e| panic!("{label} {kind} {t:?}: {e}\n{s}"));
            }
            if tr.is_regular() {
                let s = tr.emit(Target::Regular).unwrap();
                regex_automata::meta::Regex::new(&s)
                    .unwrap_or_else(|e| panic!("{label} {kind}: {e}\n{s}"));
            }
            if !tr.is_regular() || tr.has_word_boundary {
                fancy += 1;
                let s = tr.emit(Target::Fancy).unwrap();
                fancy_regex::Regex::new(&s)
                    .unwrap_or_else(|e| panic!("{label} {kind} fancy: {e}\n{s}"));
            }
            n += 1;
        }
    }
    eprintln!("{n} stock regexes compiled, {fancy} need fancy-regex");
    assert!(n > 500);
}

/// Every stock filter (default variant) builds into one engine.
#[test]
fn all_stock_filters_build_together() {
    let Some(json) = testdata::stock_json() else {
        return;
    };
    let mut filters = Vec::new();
    for (name, f) in json["filters"].as_object().into_iter().flatten() {
        if f.get("failregex").is_none() || testdata::multiline(f) {
            continue;
        }
        let raw = |v: &serde_json::Value| v["raw"].as_str().unwrap_or_default().to_string();
        filters.push(FilterRegexes {
            name: name.clone(),
            prefregex: f["prefregex"].is_object().then(|| raw(&f["prefregex"])),
            failregex: f["failregex"]
                .as_array()
                .into_iter()
                .flatten()
                .map(raw)
                .collect(),
            ignoreregex: f["ignoreregex"]
                .as_array()
                .into_iter()
                .flatten()
                .map(raw)
                .collect(),
        });
    }
    let e = Engine::build(&filters, &EngineOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut c = e.new_cache();
    let mut o = LineOutcome::default();
    e.match_line(&mut c, "nothing to see here", &mut o);
    assert!(o.failures.is_empty());
}
