//! `bantime.increment` (spec 6.6): the ban records fail2ban keeps in its database table `bips`
//! (one per ID and jail, replaced by each new ban), their purge, the ban-time formula, the
//! known-bad-IP weight, and a seeded stand-in for Python's `random()` used by `bantime.rndtime`.

use super::Increment;

/// A `bips` row: the latest ban of an ID in one jail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BanRecord {
    /// Ban count stored with the ban (1 for a first ban).
    pub count: u64,
    /// `int(round(ticket time))`, as fail2ban stores it.
    pub timeofban: f64,
    /// Stored ban length; `-1` = permanent (never purged).
    pub bantime: f64,
}

impl BanRecord {
    /// Whether the hourly purge (`Fail2BanDb._purge_bips`) would have kept the record at `now`.
    /// The replay applies the purge condition exactly at `now` instead of hourly.
    pub fn alive_at(&self, now: f64, dbpurgeage: f64) -> bool {
        let limit = now - dbpurgeage;
        !(self.timeofban < limit
            && self.bantime != -1.0
            && self.timeofban + self.bantime * 3.0 < limit)
    }
}

/// The new ban length for an ID with `count` previous bans (`ban.Count`, > 0), before rndtime.
pub(crate) fn formula(inc: &Increment, base: f64, count: u64) -> f64 {
    let mut t = if inc.multipliers.is_empty() {
        // Default formula; fail2ban takes max(ban.Time, formula) only on this branch.
        let shift = count.min(20) as i32;
        base.max(base * 2f64.powi(shift) * inc.factor)
    } else {
        let last = inc.multipliers.len() - 1;
        let idx = usize::try_from(count).map_or(last, |c| c.min(last));
        base * inc.factor * inc.multipliers[idx]
    };
    if let Some(max) = inc.maxtime {
        t = t.min(max);
    }
    t
}

/// Attempts one failure of a known bad ID counts for (`Observers.failureFound`):
/// `(1 << min(count, 20)) / 2 + 1`, capped at maxretry.
pub(crate) fn known_bad_weight(count: u64, maxretry: u32) -> u64 {
    let w = (1u64 << count.min(20)) / 2 + 1;
    w.min(u64::from(maxretry))
}

/// A deterministic number in [0, 1) for the `n`-th ban of `id` in `jail`. Derived from the seed
/// and the ban's identity rather than from a shared stream, so the value does not depend on the
/// order in which parallel workers reach the bans.
pub(crate) fn seeded_unit(seed: u64, jail: &str, id: &str, n: u32) -> f64 {
    // FNV-1a over the identity, then splitmix64 to spread the bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in jail
        .bytes()
        .chain([0])
        .chain(id.bytes())
        .chain([0])
        .chain(n.to_le_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc() -> Increment {
        Increment::default()
    }

    /// Ban time of ban number `n` (1-based), `n - 1` previous bans.
    fn nth(inc: &Increment, n: u64) -> f64 {
        if n == 1 {
            600.0
        } else {
            formula(inc, 600.0, n - 1)
        }
    }

    // Table of spec 6.6, verified with fail2ban's own Jail, Observer and an in-memory database.
    #[test]
    fn increment_table() {
        let default = inc();
        let factor2 = Increment {
            factor: 2.0,
            ..inc()
        };
        let maxtime = Increment {
            maxtime: Some(3600.0),
            ..inc()
        };
        let mult = Increment {
            multipliers: vec![1.0, 5.0, 30.0],
            ..inc()
        };
        let rows = [
            [600.0, 600.0, 600.0, 600.0],
            [1200.0, 2400.0, 1200.0, 3000.0],
            [2400.0, 4800.0, 2400.0, 18000.0],
            [4800.0, 9600.0, 3600.0, 18000.0],
            [9600.0, 19200.0, 3600.0, 18000.0],
        ];
        for (i, row) in rows.iter().enumerate() {
            let n = i as u64 + 1;
            assert_eq!(nth(&default, n), row[0], "default #{n}");
            assert_eq!(nth(&factor2, n), row[1], "factor 2 #{n}");
            assert_eq!(nth(&maxtime, n), row[2], "maxtime #{n}");
            assert_eq!(nth(&mult, n), row[3], "multipliers #{n}");
        }
        // The shift stops at 20.
        assert_eq!(formula(&default, 1.0, 40), (1u64 << 20) as f64);
    }

    #[test]
    fn known_bad_weights() {
        // Verified: 2, 3, 5, then capped at maxretry 5.
        let w: Vec<u64> = (1..=5).map(|c| known_bad_weight(c, 5)).collect();
        assert_eq!(w, vec![2, 3, 5, 5, 5]);
        assert_eq!(known_bad_weight(4, 100), 9);
        assert_eq!(known_bad_weight(64, u32::MAX), (1 << 19) + 1);
    }

    #[test]
    fn purge_boundary() {
        let r = BanRecord {
            count: 1,
            timeofban: 0.0,
            bantime: 600.0,
        };
        // Kept until now - 1d > 0 + 1800.
        assert!(r.alive_at(86400.0 + 1800.0, 86400.0));
        assert!(!r.alive_at(86400.0 + 1800.5, 86400.0));
        let p = BanRecord { bantime: -1.0, ..r };
        assert!(p.alive_at(1e12, 86400.0));
    }

    #[test]
    fn seeded_unit_is_stable_and_in_range() {
        let a = seeded_unit(7, "sshd", "192.0.2.1", 2);
        assert_eq!(a, seeded_unit(7, "sshd", "192.0.2.1", 2));
        assert_ne!(a, seeded_unit(8, "sshd", "192.0.2.1", 2));
        assert_ne!(a, seeded_unit(7, "sshd", "192.0.2.1", 3));
        for n in 0..1000 {
            let u = seeded_unit(1, "j", "x", n);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
