//! The ban history of `failscan bans --csv`: one row per ban, in jail order, then ban start,
//! then ID (the order of [`crate::replay::JailReplay::bans`]).
//!
//! Columns: `jail, ip, ban_start, ban_end, ban_start_epoch, ban_end_epoch, bantime, ban_no,
//! failures, regexes`.
//! - Times are RFC 3339 UTC (`2024-03-10T08:15:01Z`, with `.mmm` only when the time has a
//!   fractional part) and epoch seconds as the shortest decimal that round-trips.
//! - `ban_end` is the end after any prolongation (6.4); both end columns are empty for a
//!   permanent ban, and `bantime` is then `-1`.
//! - `regexes` is the space-separated list of the labels of the regexes whose failures made the
//!   ban (`asterisk#3` = third failregex of filter asterisk, 1-based like the scan report).

use std::io::Write;

use crate::replay::Ban;

/// The header row.
pub const HEADER: [&str; 10] = [
    "jail",
    "ip",
    "ban_start",
    "ban_end",
    "ban_start_epoch",
    "ban_end_epoch",
    "bantime",
    "ban_no",
    "failures",
    "regexes",
];

/// The bans of one jail and how to name its regex tags.
pub struct JailBans<'a> {
    pub bans: &'a [Ban],
    /// Label of a [`crate::replay::Failure::regex`] tag of this jail.
    pub label: &'a dyn Fn(u32) -> String,
}

/// Epoch seconds as RFC 3339 UTC, with milliseconds only when they are not zero.
pub fn rfc3339(t: f64) -> String {
    let ms = (t * 1000.0).round();
    if !ms.is_finite() {
        return String::new();
    }
    // `as` saturates; times outside chrono's range come out empty below.
    let ms = ms as i64;
    let (secs, rem) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let Some(dt) = chrono::DateTime::from_timestamp(secs, 0) else {
        return String::new();
    };
    let base = dt.format("%Y-%m-%dT%H:%M:%S");
    if rem == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{rem:03}Z")
    }
}

/// Epoch seconds as the shortest decimal that reads back as the same number (`1710058501`,
/// `1710058501.25`).
pub fn epoch(t: f64) -> String {
    format!("{t}")
}

/// Writes the header and one row per ban.
pub fn write_bans_csv<W: Write>(w: W, jails: &[JailBans<'_>]) -> Result<(), csv::Error> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(HEADER)?;
    for j in jails {
        for b in j.bans {
            let regexes: Vec<String> = b.regexes.iter().map(|&r| (j.label)(r)).collect();
            out.write_record([
                b.jail.clone(),
                b.id.clone(),
                rfc3339(b.start),
                b.end.map(rfc3339).unwrap_or_default(),
                epoch(b.start),
                b.end.map(epoch).unwrap_or_default(),
                epoch(b.bantime),
                b.ban_no.to_string(),
                b.failures.to_string(),
                regexes.join(" "),
            ])?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(id: &str, start: f64, end: Option<f64>, regexes: Vec<u32>) -> Ban {
        Ban {
            jail: "asterisk".into(),
            id: id.into(),
            start,
            end,
            bantime: end.map_or(-1.0, |e| e - start),
            ban_no: 2,
            failures: 10,
            regexes,
        }
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(1710058501.0), "2024-03-10T08:15:01Z");
        assert_eq!(rfc3339(1710058501.25), "2024-03-10T08:15:01.250Z");
        assert_eq!(rfc3339(1710058501.9996), "2024-03-10T08:15:02Z");
        assert_eq!(rfc3339(f64::NAN), "");
        assert_eq!(epoch(1710058501.0), "1710058501");
        assert_eq!(epoch(1710058501.25), "1710058501.25");
        assert_eq!(epoch(-1.0), "-1");
    }

    #[test]
    fn rows() {
        let bans = vec![
            ban("192.0.2.1", 1710058501.0, Some(1710062101.0), vec![0, 4]),
            ban("a,b", 1710058502.5, None, vec![]),
        ];
        let label = |r: u32| format!("asterisk#{}", r + 1);
        let mut out = Vec::new();
        write_bans_csv(
            &mut out,
            &[JailBans {
                bans: &bans,
                label: &label,
            }],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "jail,ip,ban_start,ban_end,ban_start_epoch,ban_end_epoch,bantime,ban_no,failures,regexes\n\
             asterisk,192.0.2.1,2024-03-10T08:15:01Z,2024-03-10T09:15:01Z,1710058501,1710062101,3600,2,10,asterisk#1 asterisk#5\n\
             asterisk,\"a,b\",2024-03-10T08:15:02.500Z,,1710058502.5,,-1,2,10,\n"
        );
    }
}
