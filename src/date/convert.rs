//! Turning matched date fields into a Unix time (spec 4.6), like fail2ban's
//! `reGroupDictStrptime`: year/day inference from "now", fixed offsets, `timegm` vs local
//! `mktime`. The local-time conversion is cached per hour so the hot path does not call
//! `mktime` for every line.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

use super::tz::zone_minutes;

/// The strptime fields of one match, in the order fail2ban would visit them. Numeric values
/// are already parsed; `None` = group absent or did not participate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fields {
    pub year: Option<i32>,
    pub month: Option<u32>,
    pub day: Option<u32>,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Weekday 0 = Monday (from %a/%A/%w).
    pub weekday: Option<u32>,
    pub julian: Option<i64>,
    /// (week of year, week starts Monday)
    pub week: Option<(i64, bool)>,
    /// Offset in minutes from `%z`/`%Z`.
    pub tzoffset: Option<i32>,
    /// A value Python would reject (ValueError): the time is None.
    pub invalid: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const MONTHS_FULL: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAYS_FULL: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Python's `int(s)` for the values the directive regexes can capture: optional surrounding
/// spaces, ASCII digits. Non-ASCII digits (which Python would accept) give None.
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim_matches(' ');
    if t.is_empty() || t.len() > 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

impl Fields {
    /// Reads the named groups (name, value) in definition order.
    pub(crate) fn from_groups<'a>(groups: impl Iterator<Item = (&'a str, &'a str)>) -> Fields {
        let mut f = Fields::default();
        let mut ampm: Option<String> = None;
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (k, v) in groups {
            if k == "p" {
                ampm = Some(v.to_lowercase());
            }
            pairs.push((k, v));
        }
        for (key, val) in pairs {
            let num = || py_int(val);
            macro_rules! num_or_invalid {
                () => {
                    match num() {
                        Some(n) => n,
                        None => {
                            f.invalid = true;
                            continue;
                        }
                    }
                };
            }
            match key {
                "y" => {
                    let mut y = num_or_invalid!();
                    if y <= 2000 {
                        y += 2000;
                    }
                    f.year = Some(y as i32);
                }
                "Y" => f.year = Some(num_or_invalid!() as i32),
                "m" => f.month = Some(num_or_invalid!() as u32),
                "B" | "b" => {
                    let l = val.to_lowercase();
                    let list: &[&str] = if key == "B" { &MONTHS_FULL } else { &MONTHS };
                    match list.iter().position(|m| *m == l) {
                        Some(i) => f.month = Some(i as u32 + 1),
                        None => f.invalid = true,
                    }
                }
                "d" => f.day = Some(num_or_invalid!() as u32),
                "H" => f.hour = num_or_invalid!() as u32,
                "I" => {
                    let h = num_or_invalid!();
                    // No AM/PM means AM; 12 AM is midnight, 12 PM is noon.
                    f.hour = match ampm.as_deref() {
                        Some("pm") if h != 12 => h + 12,
                        Some("pm") => h,
                        None | Some("") | Some("am") if h == 12 => 0,
                        _ => h,
                    } as u32;
                }
                "M" => f.minute = num_or_invalid!() as u32,
                "S" => f.second = num_or_invalid!() as u32,
                "A" | "a" => {
                    let l = val.to_lowercase();
                    let list: &[&str] = if key == "A" { &DAYS_FULL } else { &DAYS };
                    match list.iter().position(|d| *d == l) {
                        Some(i) => f.weekday = Some(i as u32),
                        None => f.invalid = true,
                    }
                }
                "w" => {
                    let w = num_or_invalid!() - 1;
                    f.weekday = Some(if w < 0 { 6 } else { w as u32 });
                }
                "j" => f.julian = Some(num_or_invalid!()),
                "U" | "W" => f.week = Some((num_or_invalid!(), key == "W")),
                "z" | "Z" => {
                    if matches!(val, "Z" | "UTC" | "GMT") {
                        f.tzoffset = Some(0);
                    } else {
                        match zone_minutes(val) {
                            Ok(m) => f.tzoffset = Some(m),
                            // Python raises ValueError (caught: no time) or KeyError (not
                            // caught); both leave the line without a time here.
                            Err(_) => f.invalid = true,
                        }
                    }
                }
                _ => {}
            }
        }
        f
    }
}

/// Fixed conversion context of one detector: "now" and the default zone.
///
/// Times are handled as "naive seconds": seconds since 1970-01-01 00:00 of a wall clock
/// without zone (what Python's naive `datetime` holds), so the per-line work is integer
/// arithmetic; chrono and the C library are only used off the hot path.
#[derive(Debug, Clone)]
pub(crate) struct Converter {
    now_local: NaiveDateTime,
    /// `now_local` in naive seconds.
    now_secs: i64,
    default_tz_min: Option<i32>,
    /// (naive hour number, Unix time of hh:00:00): the local-time cache, valid when the hour
    /// is linear (no DST jump inside).
    cache: Option<(i64, i64)>,
    /// The last hour of the line-level fast path: fields (year as read, month, day, hour)
    /// without zone whose 3600 seconds all convert to `base + mm * 60 + ss`.
    hour: Option<(HourKey, i64)>,
}

/// (year as read, month, day, hour) of a field set.
type HourKey = (Option<i32>, u32, u32, u32);

/// Local broken-down time of a Unix time, through the C library (process TZ).
pub(crate) fn local_naive(t: i64) -> NaiveDateTime {
    // SAFETY: `localtime_r` only writes into the `tm` we own; `time_t` is i64 on the
    // supported (64-bit Linux) targets.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tt: libc::time_t = t as libc::time_t;
    let ok = unsafe { !libc::localtime_r(&tt, &mut tm).is_null() };
    let fallback = || {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.naive_utc())
            .unwrap_or_default()
    };
    if !ok {
        return fallback();
    }
    NaiveDate::from_ymd_opt(tm.tm_year + 1900, (tm.tm_mon + 1) as u32, tm.tm_mday as u32)
        .and_then(|d| {
            d.and_hms_opt(
                tm.tm_hour as u32,
                tm.tm_min as u32,
                tm.tm_sec.min(59) as u32,
            )
        })
        .unwrap_or_else(fallback)
}

/// `time.mktime(dt.timetuple())`: local wall time to Unix time, DST decided by the C library.
fn mktime(dt: &NaiveDateTime) -> Option<i64> {
    // SAFETY: plain C call on a fully initialised `tm` that we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = dt.year() - 1900;
    tm.tm_mon = dt.month0() as i32;
    tm.tm_mday = dt.day() as i32;
    tm.tm_hour = dt.hour() as i32;
    tm.tm_min = dt.minute() as i32;
    tm.tm_sec = dt.second() as i32;
    tm.tm_isdst = -1;
    let r = unsafe { libc::mktime(&mut tm) };
    if r == -1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31) {
        return None;
    }
    Some(r as i64)
}

const DAY: i64 = 86_400;

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
#[inline]
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i32) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// `datetime.date(y, m, d)` validity (years 1..=9999) and its day number.
#[inline]
fn py_days(y: i32, m: u32, d: u32) -> Option<i64> {
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let len = match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (d <= len).then(|| days_from_civil(y, m, d))
}

/// Naive seconds of 0001-01-01 00:00 and of 10000-01-01 00:00 (Python's datetime range).
const MIN_NAIVE: i64 = -62_135_596_800;
const MAX_NAIVE: i64 = 253_402_300_800;

fn naive_secs(dt: &NaiveDateTime) -> i64 {
    dt.and_utc().timestamp()
}

fn from_naive_secs(t: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.naive_utc())
}

impl Converter {
    pub(crate) fn new(now: i64, default_tz_sec: Option<i32>) -> Self {
        let now_local = local_naive(now);
        Converter {
            now_local,
            now_secs: naive_secs(&now_local),
            default_tz_min: default_tz_sec.map(|s| s / 60),
            cache: None,
            hour: None,
        }
    }

    pub(crate) fn now_local(&self) -> NaiveDateTime {
        self.now_local
    }

    /// Local wall time (naive seconds) to Unix time, with a one-hour cache (logs are mostly
    /// in time order). The flag says whether the hour is linear (the cache was used).
    fn local_to_unix(&mut self, t: i64) -> Option<(i64, bool)> {
        let hour = t.div_euclid(3600);
        let secs = t.rem_euclid(3600);
        if let Some((k, base)) = self.cache {
            if k == hour {
                return Some((base + secs, true));
            }
        }
        let start = from_naive_secs(hour * 3600)?;
        let base = mktime(&start)?;
        let end = mktime(&(start + Duration::seconds(3599)))?;
        if end == base + 3599 {
            self.cache = Some((hour, base));
            Some((base + secs, true))
        } else {
            Some((mktime(&from_naive_secs(t)?)?, false))
        }
    }

    /// The Unix time of the fields, or None where fail2ban's conversion fails (ValueError).
    #[inline]
    pub(crate) fn unix_time(&mut self, f: &Fields) -> Option<f64> {
        if let (false, Some(m), Some(d), None) = (f.invalid, f.month, f.day, f.tzoffset) {
            let key = (f.year, m, d, f.hour);
            match self.hour {
                Some((k, base)) if k == key => {
                    if f.minute > 59 || f.second > 59 {
                        return None;
                    }
                    return Some((base + i64::from(f.minute * 60 + f.second)) as f64);
                }
                _ => return self.unix_time_new_hour(f, key),
            }
        }
        self.unix_time_full(f).map(|(t, _)| t as f64)
    }

    /// [`Self::unix_time`] on an hour not cached yet: converts, and caches the hour when its
    /// first and last second convert linearly (then so do all between: the year inference
    /// and the range check are monotonic, and a local hour counts only when `mktime` is).
    #[cold]
    fn unix_time_new_hour(&mut self, f: &Fields, key: HourKey) -> Option<f64> {
        let edge = |minute, second| Fields {
            minute,
            second,
            ..*f
        };
        if let (Some((t0, true)), Some((t1, true))) = (
            self.unix_time_full(&edge(0, 0)),
            self.unix_time_full(&edge(59, 59)),
        ) {
            if t1 == t0 + 3599 {
                self.hour = Some((key, t0));
            }
        }
        self.unix_time_full(f).map(|(t, _)| t as f64)
    }

    /// The full conversion: the Unix time and whether its hour is linear.
    fn unix_time_full(&mut self, f: &Fields) -> Option<(i64, bool)> {
        if f.invalid {
            return None;
        }
        let (y, m, d, assume_year, assume_today) = match (f.month, f.day) {
            // The hot case (every default template): no julian/week inference.
            (Some(m), Some(d)) => match f.year {
                Some(y) => (y, m, d, false, false),
                None => (self.now_local.year(), m, d, true, false),
            },
            _ => self.infer_date(f)?,
        };
        if f.hour > 23 || f.minute > 59 || f.second > 59 {
            return None;
        }
        let clock = i64::from(f.hour * 3600 + f.minute * 60 + f.second);
        let mut dt = py_days(y, m, d)? * DAY + clock;
        let tzoffset = f.tzoffset.or(self.default_tz_min);
        if let Some(off) = tzoffset {
            dt -= i64::from(off) * 60;
        }
        let now = self.now_secs;
        if assume_today && dt > now {
            dt -= DAY;
        }
        if assume_year && dt > now + DAY {
            // Python's `replace(year=year-1, month=month, day=day)` keeps the (offset-adjusted)
            // clock time but resets the calendar date to the one read from the line.
            dt = py_days(y - 1, m, d)? * DAY + dt.rem_euclid(DAY);
        }
        if !(MIN_NAIVE..MAX_NAIVE).contains(&dt) {
            return None;
        }
        match tzoffset {
            Some(_) => Some((dt, true)),
            None => self.local_to_unix(dt),
        }
    }

    /// Year, month and day when month or day is missing: julian day, week + weekday, or
    /// today. Returns (year, month, day, year assumed, date assumed to be today).
    #[cold]
    fn infer_date(&self, f: &Fields) -> Option<(i32, u32, u32, bool, bool)> {
        let now = self.now_local;
        let (mut y, assume_year) = match f.year {
            Some(y) => (y, false),
            None => (now.year(), true),
        };
        let (mut month, mut day) = (f.month, f.day);
        let mut julian = f.julian;
        if julian.is_none() {
            if let (Some((week, starts_mon)), Some(wd)) = (f.week, f.weekday) {
                julian = Some(julian_from_week(y, week, wd, starts_mon)?);
            }
        }
        if let Some(j) = julian {
            let d = py_date(y, 1, 1)?.checked_add_signed(Duration::days(j - 1))?;
            if d.year() < 1 {
                return None;
            }
            y = d.year();
            month = Some(d.month());
            day = Some(d.day());
        }
        let mut assume_today = false;
        if month.is_none() && day.is_none() {
            month = Some(now.month());
            day = Some(now.day());
            assume_today = true;
        }
        // Only one of month/day known: Python fails with a TypeError.
        Some((y, month?, day?, assume_year, assume_today))
    }
}

/// `datetime.date(y, m, d)` with Python's year range.
fn py_date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    if !(1..=9999).contains(&y) {
        return None;
    }
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Python's `_calc_julian_from_U_or_W`.
fn julian_from_week(year: i32, week: i64, weekday: u32, starts_mon: bool) -> Option<i64> {
    let mut first = i64::from(py_date(year, 1, 1)?.weekday().num_days_from_monday());
    let mut dow = i64::from(weekday);
    if !starts_mon {
        first = (first + 1) % 7;
        dow = (dow + 1) % 7;
    }
    let week0 = (7 - first) % 7;
    Some(if week == 0 {
        1 + dow - first
    } else {
        1 + week0 + 7 * (week - 1) + dow
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(now: &str, tz: Option<i32>) -> Converter {
        let n = NaiveDateTime::parse_from_str(now, "%Y-%m-%d %H:%M:%S").unwrap();
        Converter {
            now_local: n,
            now_secs: naive_secs(&n),
            default_tz_min: tz.map(|s| s / 60),
            cache: None,
            hour: None,
        }
    }

    /// The chrono-based conversion this module used before the integer one: the reference
    /// the property test compares with.
    fn reference(c: &Converter, f: &Fields) -> Option<f64> {
        if f.invalid {
            return None;
        }
        let now = c.now_local;
        let mut year = f.year;
        let mut month = f.month;
        let mut day = f.day;
        let mut assume_year = false;
        if year.is_none() {
            year = Some(now.year());
            assume_year = true;
        }
        let mut y = year?;
        if month.is_none() || day.is_none() {
            let mut julian = f.julian;
            if julian.is_none() {
                if let (Some((week, starts_mon)), Some(wd)) = (f.week, f.weekday) {
                    julian = Some(julian_from_week(y, week, wd, starts_mon)?);
                }
            }
            if let Some(j) = julian {
                let d = py_date(y, 1, 1)?.checked_add_signed(Duration::days(j - 1))?;
                if d.year() < 1 {
                    return None;
                }
                y = d.year();
                month = Some(d.month());
                day = Some(d.day());
            }
        }
        let mut assume_today = false;
        if month.is_none() && day.is_none() {
            month = Some(now.month());
            day = Some(now.day());
            assume_today = true;
        }
        let (m, d) = (month?, day?);
        let mut dt = py_date(y, m, d)?.and_hms_opt(f.hour, f.minute, f.second)?;
        let tzoffset = f.tzoffset.or(c.default_tz_min);
        if let Some(off) = tzoffset {
            dt = dt.checked_sub_signed(Duration::minutes(i64::from(off)))?;
        }
        if assume_today && dt > now {
            dt -= Duration::days(1);
        }
        if assume_year && dt > now + Duration::days(1) {
            dt = py_date(y - 1, m, d)?.and_time(dt.time());
        }
        if dt.year() < 1 || dt.year() > 9999 {
            return None;
        }
        match tzoffset {
            Some(_) => Some(dt.and_utc().timestamp() as f64),
            None => mktime(&dt).map(|t| t as f64),
        }
    }

    fn fields_strategy() -> impl proptest::strategy::Strategy<Value = Fields> {
        use proptest::prelude::*;
        let year = prop_oneof![
            3 => Just(None),
            3 => (2020..2030i32).prop_map(Some),
            1 => prop_oneof![Just(0), Just(1), Just(2), Just(9998), Just(9999), Just(10000)]
                .prop_map(Some),
        ];
        let small = |hi: u32| prop_oneof![4 => 0..hi, 1 => 0..hi + 8];
        (
            (
                year,
                proptest::option::weighted(0.9, 0u32..14),
                proptest::option::weighted(0.9, 0u32..33),
                small(24),
                small(60),
                small(60),
            ),
            (
                proptest::option::weighted(0.2, 0u32..7),
                proptest::option::weighted(0.1, -5i64..370),
                proptest::option::weighted(0.1, ((-1i64..54), any::<bool>())),
                proptest::option::weighted(0.3, -900i32..900),
                proptest::bool::weighted(0.05),
            ),
        )
            .prop_map(
                |((year, month, day, hour, minute, second), (weekday, julian, week, tz, inv))| {
                    Fields {
                        year,
                        month,
                        day,
                        hour,
                        minute,
                        second,
                        weekday,
                        julian,
                        week,
                        tzoffset: tz,
                        invalid: inv,
                    }
                },
            )
    }

    /// An hour that straddles the year-inference cut (now + 1 day) or the midnight of a
    /// Feb 29 must not be cached as one linear hour.
    #[test]
    fn hour_cache_respects_year_inference_cut() {
        for tz in [None, Some(0), Some(5400)] {
            let mut c = conv("2026-11-24 10:30:00", tz);
            for (mo, d, h) in [(11, 25, 10), (11, 25, 9), (11, 25, 11), (2, 29, 0)] {
                for minute in [0, 10, 29, 30, 31, 59, 0, 45] {
                    for second in [0, 1, 59, 60] {
                        let x = Fields {
                            minute,
                            second,
                            ..f(None, Some(mo), Some(d), h, 0)
                        };
                        assert_eq!(c.unix_time(&x), reference(&c, &x), "{x:?} tz {tz:?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]

        /// The integer conversion agrees with the chrono/mktime one, for every default zone
        /// kind and "now" near a year end (year inference) or mid-year.
        #[test]
        fn integer_conversion_matches_chrono_reference(
            fs in proptest::collection::vec(
                (fields_strategy(), proptest::bool::weighted(0.6), 0u32..62, 0u32..62),
                1..12,
            ),
            now in proptest::sample::select(&[
                "2026-11-25 11:41:00", "2026-12-31 23:30:00", "2027-01-01 00:10:00",
                "2024-02-29 12:00:00", "2025-03-30 01:30:00", "2026-11-24 10:30:00",
            ][..]),
            tz in proptest::sample::select(&[None, Some(0), Some(3600), Some(-19800)][..]),
        ) {
            // One converter for the whole sequence, so the hour caches are hit; `same` reuses
            // the previous date and hour with another minute and second.
            let mut c = conv(now, tz);
            let mut prev: Option<Fields> = None;
            for (f, same, minute, second) in fs {
                let f = match prev {
                    Some(p) if same => Fields { minute, second, ..p },
                    _ => f,
                };
                proptest::prop_assert_eq!(c.unix_time(&f), reference(&c, &f), "{:?}", f);
                prev = Some(f);
            }
        }
    }

    fn f(y: Option<i32>, mo: Option<u32>, d: Option<u32>, h: u32, mi: u32) -> Fields {
        Fields {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            ..Fields::default()
        }
    }

    fn utc(s: &str) -> f64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp() as f64
    }

    #[test]
    fn year_rollover_examples_from_spec() {
        // now 2026-11-25 11:41 UTC, converted with a fixed zone so no mktime is involved
        let mut c = conv("2026-11-25 11:41:00", Some(0));
        assert_eq!(
            c.unix_time(&f(None, Some(11), Some(26), 10, 0)),
            Some(utc("2026-11-26 10:00:00"))
        );
        assert_eq!(
            c.unix_time(&f(None, Some(11), Some(26), 12, 0)),
            Some(utc("2025-11-26 12:00:00"))
        );
        assert_eq!(
            c.unix_time(&f(None, Some(12), Some(31), 0, 0)),
            Some(utc("2025-12-31 00:00:00"))
        );
        assert_eq!(
            c.unix_time(&f(None, Some(1), Some(15), 0, 0)),
            Some(utc("2026-01-15 00:00:00"))
        );
        // time only, in the future: yesterday
        assert_eq!(
            c.unix_time(&f(None, None, None, 23, 59)),
            Some(utc("2026-11-24 23:59:00"))
        );
        // impossible dates
        assert_eq!(c.unix_time(&f(Some(2024), Some(2), Some(30), 0, 0)), None);
        assert_eq!(c.unix_time(&f(None, Some(2), Some(29), 0, 0)), None);
        let mut bad = f(Some(2024), Some(1), Some(1), 24, 0);
        assert_eq!(c.unix_time(&bad), None);
        bad.hour = 0;
        bad.second = 60;
        assert_eq!(c.unix_time(&bad), None);
    }

    #[test]
    fn offsets() {
        let mut c = conv("2026-11-25 11:41:00", None);
        let mut x = f(Some(2024), Some(1), Some(15), 10, 0);
        x.tzoffset = Some(120);
        assert_eq!(c.unix_time(&x), Some(1705305600.0));
        let mut c = conv("2026-11-25 11:41:00", Some(-5 * 3600));
        let x = f(Some(2024), Some(1), Some(15), 10, 0);
        assert_eq!(c.unix_time(&x), Some(utc("2024-01-15 15:00:00")));
    }

    #[test]
    fn fields_from_groups() {
        let g = [
            ("b", "MAR"),
            ("d", " 5"),
            ("H", "8"),
            ("y", "24"),
            ("z", "utc"),
        ];
        let x = Fields::from_groups(g.iter().copied());
        assert_eq!(x.month, Some(3));
        assert_eq!(x.day, Some(5));
        assert_eq!(x.year, Some(2024));
        assert!(x.invalid, "lower-case utc is not a known zone");
        let g = [("I", "12"), ("p", "AM")];
        assert_eq!(Fields::from_groups(g.iter().copied()).hour, 0);
        let g = [("I", "8"), ("p", "PM")];
        assert_eq!(Fields::from_groups(g.iter().copied()).hour, 20);
    }

    #[test]
    fn julian_weeks() {
        // 2024-01-01 is a Monday; %W week 1 Monday = Jan 1.
        assert_eq!(julian_from_week(2024, 1, 0, true), Some(1));
        assert_eq!(julian_from_week(2024, 0, 6, false), Some(0));
    }
}
