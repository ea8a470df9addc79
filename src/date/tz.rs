//! Fixed-offset time zones as fail2ban 1.0.2 understands them (spec 4.7): `[ABBR][±hh[[:]mm]]`,
//! where ABBR comes from a built-in abbreviation table without DST logic. Used for `--timezone`
//! / `logtimezone` and for `%z`/`%Z` values found in log lines.

use super::DateError;

/// Zone abbreviations by offset in minutes east of UTC. The runtime test
/// `tests::table_matches_installed_fail2ban` checks this against the installed fail2ban.
const ABBREVIATIONS: &[(i32, &[&str])] = &[
    (-720, &["Y"]),
    (-660, &["X", "NUT", "SST"]),
    (-600, &["W", "CKT", "HAST", "HST", "TAHT", "TKT"]),
    (-540, &["V", "AKST", "GAMT", "GIT", "HADT", "HNY"]),
    (-480, &["U", "AKDT", "CIST", "HAY", "HNP", "PST", "PT"]),
    (-420, &["T", "HAP", "HNR", "MST", "PDT"]),
    (-360, &["S", "CST", "EAST", "GALT", "HAR", "HNC", "MDT"]),
    (
        -300,
        &[
            "R", "CDT", "COT", "EASST", "ECT", "EST", "ET", "HAC", "HNE", "PET",
        ],
    ),
    (
        -240,
        &[
            "Q", "AST", "BOT", "CLT", "COST", "EDT", "FKT", "GYT", "HAE", "HNA", "PYT",
        ],
    ),
    (
        -180,
        &[
            "P", "ADT", "ART", "BRT", "CLST", "FKST", "GFT", "HAA", "PMST", "PYST", "SRT", "UYT",
            "WGT",
        ],
    ),
    (-120, &["O", "BRST", "FNT", "PMDT", "UYST", "WGST"]),
    (-60, &["N", "AZOT", "CVT", "EGT"]),
    (0, &["Z", "EGST", "GMT", "UTC", "WET", "WT"]),
    (60, &["A", "CET", "DFT", "WAT", "WEDT", "WEST"]),
    (120, &["B", "CAT", "CEDT", "CEST", "EET", "SAST", "WAST"]),
    (180, &["C", "EAT", "EEDT", "EEST", "IDT", "MSK"]),
    (
        240,
        &[
            "D", "AMT", "AZT", "GET", "GST", "KUYT", "MSD", "MUT", "RET", "SAMT", "SCT",
        ],
    ),
    (
        300,
        &[
            "E", "AMST", "AQTT", "AZST", "HMT", "MAWT", "MVT", "PKT", "TFT", "TJT", "TMT", "UZT",
            "YEKT",
        ],
    ),
    (
        360,
        &[
            "F", "ALMT", "BIOT", "BTT", "IOT", "KGT", "NOVT", "OMST", "YEKST",
        ],
    ),
    (
        420,
        &[
            "G", "CXT", "DAVT", "HOVT", "ICT", "KRAT", "NOVST", "OMSST", "THA", "WIB",
        ],
    ),
    (
        480,
        &[
            "H", "ACT", "AWST", "BDT", "BNT", "CAST", "HKT", "IRKT", "KRAST", "MYT", "PHT", "SGT",
            "ULAT", "WITA", "WST",
        ],
    ),
    (
        540,
        &[
            "I", "AWDT", "IRKST", "JST", "KST", "PWT", "TLT", "WDT", "WIT", "YAKT",
        ],
    ),
    (600, &["K", "AEST", "ChST", "PGT", "VLAT", "YAKST", "YAPT"]),
    (
        660,
        &[
            "L", "AEDT", "LHDT", "MAGT", "NCT", "PONT", "SBT", "VLAST", "VUT",
        ],
    ),
    (
        720,
        &[
            "M", "ANAST", "ANAT", "FJT", "GILT", "MAGST", "MHT", "NZST", "PETST", "PETT", "TVT",
            "WFT",
        ],
    ),
    (780, &["FJST", "NZDT"]),
    (690, &["NFT"]),
    (630, &["ACDT", "LHST"]),
    (570, &["ACST"]),
    (390, &["CCT", "MMT"]),
    (345, &["NPT"]),
    (330, &["SLT"]),
    (270, &["AFT", "IRDT"]),
    (210, &["IRST"]),
    (-150, &["HAT", "NDT"]),
    (-210, &["HNT", "NST", "NT"]),
    (-270, &["HLV", "VET"]),
    (-570, &["MART", "MIT"]),
];

fn abbreviation_offset(abbr: &str) -> Option<i32> {
    ABBREVIATIONS
        .iter()
        .find(|(_, names)| names.contains(&abbr))
        .map(|(off, _)| *off)
}

/// Why a zone string was refused; the caller picks the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ZoneError {
    /// Not of the form `[ABBR][±hh[[:]mm]]` (Python raises ValueError).
    Syntax,
    /// Well-formed abbreviation missing from the table (Python raises KeyError).
    UnknownAbbreviation(String),
}

/// Parses `[ABBR][±hh[[:]mm]]` (ABBR = 1 or 3–5 upper-case ASCII letters) into minutes east.
pub(crate) fn zone_minutes(s: &str) -> Result<i32, ZoneError> {
    let b = s.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    // The abbreviation group is optional and may be shorter than the letter run only by
    // backtracking, which can never help: an offset must start with a sign.
    let abbr_len = match letters {
        0 => 0,
        1 | 3..=5 => letters,
        _ => return Err(ZoneError::Syntax),
    };
    let rest = &s[abbr_len..];
    let off = if rest.is_empty() {
        0
    } else {
        let r = rest.as_bytes();
        let sign = match r[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(ZoneError::Syntax),
        };
        let dig = |i: usize| {
            r.get(i)
                .filter(|c| c.is_ascii_digit())
                .map(|c| i32::from(c - b'0'))
        };
        let (h1, h2) = match (dig(1), dig(2)) {
            (Some(a), Some(b)) if a <= 1 => (a, b),
            _ => return Err(ZoneError::Syntax),
        };
        let hh = h1 * 10 + h2;
        match r.len() {
            3 => sign * hh * 60,
            5 | 6 => {
                let m0 = if r.len() == 6 {
                    if r[3] != b':' {
                        return Err(ZoneError::Syntax);
                    }
                    4
                } else {
                    3
                };
                match (dig(m0), dig(m0 + 1)) {
                    (Some(a), Some(b)) => sign * (hh * 60 + a * 10 + b),
                    _ => return Err(ZoneError::Syntax),
                }
            }
            _ => return Err(ZoneError::Syntax),
        }
    };
    let base = if abbr_len == 0 {
        0
    } else {
        let abbr = &s[..abbr_len];
        abbreviation_offset(abbr).ok_or_else(|| ZoneError::UnknownAbbreviation(abbr.to_string()))?
    };
    Ok(base + off)
}

/// Parses a `--timezone` / `logtimezone` value into seconds east of UTC.
pub fn parse_timezone(s: &str) -> Result<i32, DateError> {
    match zone_minutes(s) {
        Ok(m) => Ok(m * 60),
        Err(ZoneError::Syntax) => Err(DateError::UnknownTimeZone(s.to_string())),
        Err(ZoneError::UnknownAbbreviation(a)) => Err(DateError::UnknownTimeZoneAbbreviation(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_the_spec() {
        assert_eq!(parse_timezone("UTC").unwrap(), 0);
        assert_eq!(parse_timezone("UTC+0200").unwrap(), 7200);
        assert_eq!(parse_timezone("GMT-05:30").unwrap(), -(5 * 3600 + 1800));
        assert_eq!(parse_timezone("-0130").unwrap(), -5400);
        assert_eq!(parse_timezone("+01").unwrap(), 3600);
        assert_eq!(parse_timezone("CET").unwrap(), 3600);
        assert_eq!(parse_timezone("CEST+01").unwrap(), 3 * 3600);
        assert_eq!(parse_timezone("EST").unwrap(), -5 * 3600);
        assert_eq!(parse_timezone("NPT").unwrap(), 345 * 60);
        let e = parse_timezone("Europe/Berlin").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unknown or unsupported time zone: 'Europe/Berlin'"
        );
        assert!(parse_timezone("+2").is_err());
        assert!(parse_timezone("+0200x").is_err());
        assert!(parse_timezone("+053").is_err());
        assert!(matches!(
            parse_timezone("ABC"),
            Err(DateError::UnknownTimeZoneAbbreviation(_))
        ));
    }

    /// Compares the whole abbreviation table with the installed fail2ban's, at run time.
    #[test]
    fn table_matches_installed_fail2ban() {
        let script = "import sys; sys.path.insert(0,'/usr/lib/python3/dist-packages')\n\
from fail2ban.server.strptime import TZ_ABBR_OFFS\n\
for k,v in TZ_ABBR_OFFS.items():\n  print(k, v) if k else None";
        let Some(out) = crate::date::oracle::python(script) else {
            return;
        };
        let mut n = 0;
        for line in out.lines() {
            let (k, v) = line.split_once(' ').unwrap_or_default();
            let v: i32 = v.parse().unwrap_or(i32::MIN);
            assert_eq!(abbreviation_offset(k), Some(v), "abbreviation {k}");
            n += 1;
        }
        let ours: usize = ABBREVIATIONS.iter().map(|(_, n)| n.len()).sum();
        assert_eq!(n, ours);
    }
}
