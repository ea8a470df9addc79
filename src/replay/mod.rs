//! Offline replay of fail2ban 1.0.2's jail arithmetic: failure events in, bans out. Pure code:
//! no I/O and no wall clock; the clock is the time of the event being processed.
//!
//! # Model (spec 6.2 to 6.8, "recommended replay model" of 6.5)
//!
//! Events are processed in time order (a stable sort, so equal times keep their input order; in a
//! multi-jail replay equal times keep the order of the jails as given). For each failure of ID `x`
//! in jail `j`, at time `t`:
//!
//! 1. The ID is normalised like fail2ban's `IPAddr` ([`normalize_id`]), then checked against the
//!    jail's `ignoreip` ([`IgnoreList`]); an ignored failure is dropped before counting. There is
//!    no `ignoreself` or `ignorecommand` offline.
//! 2. Expired bans end: a ban is lifted once `t > end` (strictly), as in `BanManager.unBanList`.
//! 3. With [`ReplayOptions::firewall_drops`] (a counterfactual, not fail2ban behaviour), a failure
//!    of an ID that is banned in this jail at `t` is dropped: the firewall would have stopped it.
//! 4. Failure cleanup with `now = t`: an entry whose last failure is `<= t - findtime` is deleted.
//!    The live server does this every few seconds; doing it before every failure is the model the
//!    spec recommends (without it a quiet entry comes back with a scaled-down count).
//! 5. `FailManager.addFailure`: a new entry starts at retry 1; an existing one is first scaled to
//!    the window (`retry = round_half_even(retry / (t - first) * findtime)`, `first = t - findtime`)
//!    when `first < t - findtime`, then gets `+1`.
//! 6. `retry >= maxretry` makes a ban ticket with the time of this (the last) failure; the entry
//!    is removed. Otherwise, with `bantime.increment`, the observer's known-bad-IP weighting runs
//!    synchronously (it is an asynchronous thread in fail2ban): an ID with a live ban record in
//!    this jail, whose failure is newer than that record, gets `min(2^(count-1) + 1, maxretry) - 1`
//!    extra attempts (2, 3, 5, 9 in total), which may ban it now. Like fail2ban, this extra
//!    `addFailure` also adds one to the jail's "Total failed".
//! 7. A ban ticket for an ID that is already banned prolongs the ban when `t + bantime` is later
//!    than the current end (the end becomes `t + bantime`; a permanent ban stays permanent); no new
//!    ban is counted and no ban record is written (6.4). The comparison uses the base bantime even
//!    when the current ban was incremented. `bantime = -1` is permanent; any other negative
//!    bantime makes every ticket "expired" (no ban at all); `bantime = 0` gives a ban whose end is
//!    its start, lifted by the next event after it.
//! 8. A new ban computes its length (6.6): without increment, or with a bantime `<= 0`, the base
//!    bantime. With increment, the ban count of the ID's live ban record (this jail's, or the sum
//!    over all jails with `overalljails`) is `n`; when `n > 0` the length is the default formula
//!    `max(bantime, bantime * 2^min(n,20) * factor)` or, with multipliers,
//!    `bantime * factor * mult[min(n, len-1)]`, then capped by `maxtime`, then `rndtime` adds a
//!    seeded deterministic random part. The new ban record stores count `n + 1` (or 1), the ban
//!    time rounded half-to-even (fail2ban stores `int(round(t))`) and the computed length.
//!    Records are written for every jail, with increment or not, because `overalljails` of
//!    another jail reads them (fail2ban writes every ban into its database).
//! 9. Ban records are forgotten once `now > timeofban + dbpurgeage + 3 * bantime` (never for
//!    permanent ones), checked whenever a record is read. fail2ban purges hourly, so a live server
//!    may remember a record for up to an hour longer.
//!
//! Deliberate choices:
//! - A database (`dbfile`) is assumed, as in Debian's default config; without one fail2ban never
//!   increments.
//! - Everything fail2ban does is keyed by ID (failure entries, bans, ban records), so each ID is
//!   replayed on its own and IDs run in parallel with rayon; the result is sorted and does not
//!   depend on the thread count (a test compares it with a single global event loop).
//! - [`Ban::ban_no`] is the ordinal of the ban of this ID in this jail within the replay (1, 2, ...),
//!   independent of the database count, which the purge resets.
//! - [`Ban::bantime`] is the length given at ban time (after increment); [`Ban::end`] includes
//!   prolongations.
//! - [`Ban::failures`] counts the failure events in the entry that triggered the ban (not the
//!   window-scaled or weighted retry); [`Ban::regexes`] holds their distinct tags, ascending.
//! - Failures with a non-finite time are skipped and counted in [`JailReplay::invalid_times`].
//! - [`replay_recidive`] feeds the ban starts of the other jails (never recidive's own) into the
//!   recidive jail (6.8: the live log carries the action time, a little later). Its ban history
//!   for `overalljails` holds only its own bans.

mod engine;
mod ignore;
mod increment;
#[cfg(test)]
mod tests;

pub use engine::{replay_jail, replay_jails, replay_recidive, JailInput, REPLAYED_BAN_TAG};
pub use ignore::{normalize_id, IgnoreList};

/// Errors in replay parameters.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReplayError {
    /// fail2ban resolves such entries at every check; an offline replay cannot.
    #[error(
        "ignoreip entry '{0}' is a DNS name; failscan does not resolve names offline, give its addresses"
    )]
    IgnoreDnsName(String),
    /// An address with an unusable prefix length or mask.
    #[error("ignoreip entry '{entry}': {reason}")]
    IgnoreEntry { entry: String, reason: String },
}

/// The ban-related settings of one jail, already parsed into numbers (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct JailParams {
    pub name: String,
    pub maxretry: u32,
    pub findtime: f64,
    /// Seconds; `-1` is permanent, any other negative value means no ban ever takes effect.
    pub bantime: f64,
    /// `bantime.increment = true` and its options.
    pub increment: Option<Increment>,
    pub ignore: IgnoreList,
    /// The jail's action names (`name=` of each action), e.g. `asterisk-tcp`, `asterisk-udp`;
    /// every ban goes into the sets of all of them.
    pub set_names: Vec<String>,
}

/// `bantime.*` options, used when `bantime.increment` is on.
#[derive(Debug, Clone, PartialEq)]
pub struct Increment {
    /// `bantime.factor` (default 1).
    pub factor: f64,
    /// `bantime.multipliers`; empty when unset. When set it replaces the formula.
    pub multipliers: Vec<f64>,
    /// `bantime.maxtime`, a cap in seconds.
    pub maxtime: Option<f64>,
    /// `bantime.overalljails`: count previous bans of the ID in every jail.
    pub overalljails: bool,
    /// `bantime.rndtime` in seconds, and the seed that replaces Python's `random()`.
    pub rndtime: Option<(f64, u64)>,
    pub formula: Formula,
}

impl Default for Increment {
    fn default() -> Self {
        Increment {
            factor: 1.0,
            multipliers: Vec::new(),
            maxtime: None,
            overalljails: false,
            rndtime: None,
            formula: Formula::Default,
        }
    }
}

/// `bantime.formula`. Only fail2ban's default is supported; the config reader rejects others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Formula {
    /// `ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor`, then max with ban.Time.
    #[default]
    Default,
}

/// One failure: a matched line (or multi-line match) for one ID.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Unix time in seconds.
    pub time: f64,
    pub id: String,
    /// Opaque tag saying which failregex matched (e.g. filter * 1000 + index).
    pub regex: u32,
}

/// One ban of one ID in one jail.
#[derive(Debug, Clone, PartialEq)]
pub struct Ban {
    pub jail: String,
    /// Normalised ID (see [`normalize_id`]).
    pub id: String,
    /// Time of the failure that triggered the ban.
    pub start: f64,
    /// End after any prolongation; `None` = permanent. The ban is active while `now <= end`.
    pub end: Option<f64>,
    /// Length given at ban time (after `bantime.increment`); `-1` for permanent.
    pub bantime: f64,
    /// 1 for the first ban of this ID in this jail within the replay.
    pub ban_no: u32,
    /// Failure events in the entry that triggered the ban.
    pub failures: u32,
    /// Distinct regex tags of those failures, ascending.
    pub regexes: Vec<u32>,
}

impl Ban {
    /// Whether the ban is in force at `t` (started, and not yet lifted by `t > end`).
    pub fn is_active_at(&self, t: f64) -> bool {
        self.start <= t && self.end.map_or(true, |e| t <= e)
    }
}

/// Replay switches that are not jail settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayOptions {
    /// Counterfactual: failures of an ID during its active ban in the same jail are not counted,
    /// as if the firewall had dropped them (historical logs often contain them).
    pub firewall_drops: bool,
    /// `dbpurgeage` of fail2ban.conf in seconds (default 1d): how long ban records are kept.
    pub dbpurgeage: f64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            firewall_drops: false,
            dbpurgeage: 86400.0,
        }
    }
}

/// `fail2ban-client status JAIL` at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct JailStatus {
    pub currently_failed: usize,
    pub total_failed: u64,
    pub currently_banned: usize,
    pub total_banned: usize,
    /// IDs banned at that instant, ordered by ban start then ID.
    pub banned: Vec<String>,
}

/// The outcome of replaying one jail.
#[derive(Debug, Clone, PartialEq)]
pub struct JailReplay {
    pub jail: String,
    /// All bans, ordered by start time, then ID.
    pub bans: Vec<Ban>,
    /// Failures dropped by `ignoreip`.
    pub ignored: u64,
    /// Failures dropped by the `firewall_drops` counterfactual.
    pub dropped: u64,
    /// Failures skipped because their time was NaN or infinite.
    pub invalid_times: u64,
    findtime: f64,
    /// Per ID: after each change of its failure entry, (time, entry exists). Lets `status_at`
    /// answer "currently failed" for any instant without replaying again.
    entry_changes: Vec<(String, Vec<(f64, bool)>)>,
    /// Time of every increment of fail2ban's `failTotal`, ascending.
    fail_times: Vec<f64>,
}

impl JailReplay {
    /// Bans in force at `t`, ordered by start then ID.
    pub fn active_at(&self, t: f64) -> Vec<&Ban> {
        self.bans.iter().filter(|b| b.is_active_at(t)).collect()
    }

    /// The jail's status at `t`, as if a failure cleanup and an unban check had just run at `t`.
    pub fn status_at(&self, t: f64) -> JailStatus {
        let currently_failed = self
            .entry_changes
            .iter()
            .filter(|(_, changes)| {
                let n = changes.partition_point(|(ct, _)| *ct <= t);
                n > 0 && matches!(changes[n - 1], (ct, true) if ct > t - self.findtime)
            })
            .count();
        let total_failed = self.fail_times.partition_point(|ft| *ft <= t) as u64;
        let active = self.active_at(t);
        JailStatus {
            currently_failed,
            total_failed,
            currently_banned: active.len(),
            total_banned: self.bans.iter().filter(|b| b.start <= t).count(),
            banned: active.iter().map(|b| b.id.clone()).collect(),
        }
    }

    /// Time of the last counted failure, if any: the spec's default instant for outputs.
    pub fn last_failure_time(&self) -> Option<f64> {
        self.fail_times.last().copied()
    }
}
