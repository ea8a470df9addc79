//! The replay loop: groups failures by ID, runs each ID's events through fail2ban's
//! FailManager / BanManager / Observer steps (see the model in the parent module), in parallel
//! across IDs, and assembles per-jail results in a deterministic order.

use std::collections::HashMap;

use rayon::prelude::*;

use super::increment::{formula, known_bad_weight, seeded_unit, BanRecord};
use super::{normalize_id, Ban, Failure, JailParams, JailReplay, ReplayOptions};

/// Regex tag given to the failures that [`replay_recidive`] makes from replayed bans.
pub const REPLAYED_BAN_TAG: u32 = u32::MAX;

/// One jail and its failures, for [`replay_jails`].
#[derive(Debug, Clone, Copy)]
pub struct JailInput<'a> {
    pub params: &'a JailParams,
    pub failures: &'a [Failure],
}

/// One event of one ID: (time, jail index, regex tag). Stored per ID in time order.
type Event = (f64, usize, u32);

/// The failure entry of FailManager (`FailTicket`).
#[derive(Debug, Clone)]
struct Entry {
    retry: u64,
    first: f64,
    last: f64,
    failures: u32,
    regexes: Vec<u32>,
}

/// What one jail knows about one ID.
#[derive(Debug, Default)]
struct JailState {
    entry: Option<Entry>,
    /// Index into `JailOut::bans` of the ban in force, if any.
    active: Option<usize>,
    ban_no: u32,
    record: Option<BanRecord>,
}

/// One jail's results for one ID.
#[derive(Debug, Default)]
struct JailOut {
    bans: Vec<Ban>,
    entry_changes: Vec<(f64, bool)>,
    fail_times: Vec<f64>,
    ignored: u64,
    dropped: u64,
}

/// The state of one ID across all jails; every fail2ban structure is keyed by ID, so IDs never
/// interact and can be replayed independently.
struct IdReplay<'a> {
    jails: &'a [&'a JailParams],
    opts: &'a ReplayOptions,
    id: &'a str,
    state: Vec<JailState>,
    out: Vec<JailOut>,
}

impl<'a> IdReplay<'a> {
    fn new(jails: &'a [&'a JailParams], opts: &'a ReplayOptions, id: &'a str) -> Self {
        IdReplay {
            jails,
            opts,
            id,
            state: jails.iter().map(|_| JailState::default()).collect(),
            out: jails.iter().map(|_| JailOut::default()).collect(),
        }
    }

    fn end_of(&self, j: usize, idx: usize) -> Option<f64> {
        self.out[j].bans[idx].end
    }

    /// One failure at `t` in jail `j` (steps 1 to 8 of the model; ignoreip was checked by the
    /// caller, which knows the raw ID).
    fn failure(&mut self, t: f64, j: usize, tag: u32) {
        let jail = self.jails[j];
        // Unban check (BanManager.unBanList: now > end).
        if let Some(idx) = self.state[j].active {
            if self.end_of(j, idx).is_some_and(|e| t > e) {
                self.state[j].active = None;
            }
        }
        if self.opts.firewall_drops && self.state[j].active.is_some() {
            self.out[j].dropped += 1;
            return;
        }
        // FailManager.cleanup(now = t).
        let st = &mut self.state[j];
        if st
            .entry
            .as_ref()
            .is_some_and(|e| e.last <= t - jail.findtime)
        {
            st.entry = None;
        }
        // FailManager.addFailure.
        let entry = match st.entry.as_mut() {
            Some(e) => {
                if t > e.last {
                    if e.first < t - jail.findtime {
                        // Python: int(round(retry / float(t - first) * findtime)), half to even.
                        let scaled = e.retry as f64 / (t - e.first) * jail.findtime;
                        e.retry = scaled.round_ties_even() as u64;
                        e.first = t - jail.findtime;
                    }
                    e.last = t;
                }
                e.retry += 1;
                e.failures += 1;
                e.regexes.push(tag);
                e
            }
            None => st.entry.insert(Entry {
                retry: 1,
                first: t,
                last: t,
                failures: 1,
                regexes: vec![tag],
            }),
        };
        let mut retry = entry.retry;
        self.out[j].fail_times.push(t);
        self.out[j].entry_changes.push((t, true));
        if retry < u64::from(jail.maxretry) && jail.increment.is_some() {
            // Observers.failureFound: the weight of a known bad ID (this jail's record only).
            if let Some(rec) = self.state[j]
                .record
                .filter(|r| r.alive_at(t, self.opts.dbpurgeage))
            {
                let w = known_bad_weight(rec.count, jail.maxretry);
                if t > rec.timeofban && w > 1 {
                    if let Some(e) = self.state[j].entry.as_mut() {
                        e.retry += w - 1;
                        retry = e.retry;
                        // The observer's addFailure also increments failTotal.
                        self.out[j].fail_times.push(t);
                    }
                }
            }
        }
        if retry >= u64::from(jail.maxretry) {
            if let Some(e) = self.state[j].entry.take() {
                self.out[j].entry_changes.push((t, false));
                self.ban_ticket(t, j, e);
            }
        }
    }

    /// Actions.__checkBan / BanManager.addBanTicket / Observers.banFound for a ticket at `t`.
    fn ban_ticket(&mut self, t: f64, j: usize, entry: Entry) {
        let jail = self.jails[j];
        let base = jail.bantime;
        let permanent = base == -1.0;
        let new_end = if permanent { f64::INFINITY } else { t + base };
        if new_end < t {
            // "Ignore ..., expired bantime": any negative bantime other than -1.
            return;
        }
        if let Some(idx) = self.state[j].active {
            // Already banned: maybe prolong (6.4). The new ticket carries the base bantime.
            let ban = &mut self.out[j].bans[idx];
            let old_end = ban.end.unwrap_or(f64::INFINITY);
            if new_end > old_end {
                ban.end = if permanent {
                    None
                } else {
                    let diff = t - ban.start;
                    Some(ban.start + base + if diff > 0.0 { diff } else { 0.0 })
                };
            }
            return;
        }
        let (bantime, count) = self.increment(t, j);
        let st = &mut self.state[j];
        st.ban_no += 1;
        let mut regexes = entry.regexes;
        regexes.sort_unstable();
        regexes.dedup();
        let ban = Ban {
            jail: jail.name.clone(),
            id: self.id.to_string(),
            start: t,
            end: if permanent { None } else { Some(t + bantime) },
            bantime: if permanent { -1.0 } else { bantime },
            ban_no: st.ban_no,
            failures: entry.failures,
            regexes,
        };
        st.active = Some(self.out[j].bans.len());
        st.record = Some(BanRecord {
            count,
            timeofban: t.round_ties_even(),
            bantime: if permanent { -1.0 } else { bantime },
        });
        self.out[j].bans.push(ban);
    }

    /// Observers.incrBanTime: the length of a new ban at `t` in jail `j` and the ban count to
    /// store with it.
    fn increment(&self, t: f64, j: usize) -> (f64, u64) {
        let jail = self.jails[j];
        let base = jail.bantime;
        let Some(inc) = jail.increment.as_ref().filter(|_| base > 0.0) else {
            return (base, 1);
        };
        let alive = |r: &Option<BanRecord>| r.filter(|r| r.alive_at(t, self.opts.dbpurgeage));
        let previous: Option<u64> = if inc.overalljails {
            // SELECT sum(bancount) ... over every jail's record of this ID.
            let mut sum = None;
            for st in &self.state {
                if let Some(r) = alive(&st.record) {
                    sum = Some(sum.unwrap_or(0) + r.count);
                }
            }
            sum
        } else {
            alive(&self.state[j].record).map(|r| r.count)
        };
        match previous {
            Some(n) if n > 0 => {
                let mut bt = formula(inc, base, n);
                if let Some((rnd, seed)) = inc.rndtime {
                    let ban_no = self.state[j].ban_no + 1;
                    bt += seeded_unit(seed, &jail.name, self.id, ban_no) * rnd;
                }
                (bt, n + 1)
            }
            _ => (base, 1),
        }
    }
}

/// Replays the events of one ID (already in time order) and returns per-jail results.
fn replay_id(
    jails: &[&JailParams],
    opts: &ReplayOptions,
    id: &str,
    raw_ids: &[&str],
    events: &[Event],
) -> Vec<JailOut> {
    let mut r = IdReplay::new(jails, opts, id);
    for (k, &(t, j, tag)) in events.iter().enumerate() {
        // The ignore check sees the ID the filter produced; IgnoreList normalises it itself.
        if jails[j]
            .ignore
            .contains(raw_ids.get(k).copied().unwrap_or(id))
        {
            r.out[j].ignored += 1;
            continue;
        }
        r.failure(t, j, tag);
    }
    r.out
}

/// Failures grouped by normalised ID; each group in time order (stable, ties in input order).
struct Groups<'a> {
    ids: Vec<(String, Vec<Event>, Vec<&'a str>)>,
    invalid: Vec<u64>,
}

fn group<'a>(inputs: &[JailInput<'a>]) -> Groups<'a> {
    let mut by_id: HashMap<String, (Vec<Event>, Vec<&'a str>)> = HashMap::new();
    let mut invalid = vec![0u64; inputs.len()];
    for (j, input) in inputs.iter().enumerate() {
        for f in input.failures {
            if !f.time.is_finite() {
                invalid[j] += 1;
                continue;
            }
            let slot = by_id.entry(normalize_id(&f.id)).or_default();
            slot.0.push((f.time, j, f.regex));
            slot.1.push(f.id.as_str());
        }
    }
    let mut ids: Vec<_> = by_id
        .into_iter()
        .map(|(id, (events, raw))| {
            // Stable sort of (event, raw id) pairs by time keeps the input order for equal times.
            let mut pairs: Vec<(Event, &str)> = events.into_iter().zip(raw).collect();
            pairs.sort_by(|a, b| a.0 .0.total_cmp(&b.0 .0));
            let (events, raw): (Vec<Event>, Vec<&str>) = pairs.into_iter().unzip();
            (id, events, raw)
        })
        .collect();
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    Groups { ids, invalid }
}

fn assemble(
    inputs: &[JailInput<'_>],
    groups: Groups<'_>,
    per_id: Vec<Vec<JailOut>>,
) -> Vec<JailReplay> {
    let mut result: Vec<JailReplay> = inputs
        .iter()
        .zip(&groups.invalid)
        .map(|(input, &invalid)| JailReplay {
            jail: input.params.name.clone(),
            bans: Vec::new(),
            ignored: 0,
            dropped: 0,
            invalid_times: invalid,
            findtime: input.params.findtime,
            entry_changes: Vec::new(),
            fail_times: Vec::new(),
        })
        .collect();
    for ((id, _, _), outs) in groups.ids.into_iter().zip(per_id) {
        for (jr, out) in result.iter_mut().zip(outs) {
            jr.bans.extend(out.bans);
            jr.ignored += out.ignored;
            jr.dropped += out.dropped;
            jr.fail_times.extend(out.fail_times);
            if !out.entry_changes.is_empty() {
                jr.entry_changes.push((id.clone(), out.entry_changes));
            }
        }
    }
    for jr in &mut result {
        jr.bans
            .sort_by(|a, b| a.start.total_cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
        jr.fail_times.sort_by(f64::total_cmp);
    }
    result
}

/// Replays several jails at once. Needed when a jail uses `bantime.overalljails`, whose ban
/// counts include the other jails' bans; otherwise equal to calling [`replay_jail`] per jail.
/// Returns one [`JailReplay`] per input, in input order.
pub fn replay_jails(inputs: &[JailInput<'_>], opts: &ReplayOptions) -> Vec<JailReplay> {
    let jails: Vec<&JailParams> = inputs.iter().map(|i| i.params).collect();
    let groups = group(inputs);
    let per_id: Vec<Vec<JailOut>> = groups
        .ids
        .par_iter()
        .map(|(id, events, raw)| replay_id(&jails, opts, id, raw, events))
        .collect();
    assemble(inputs, groups, per_id)
}

/// Replays one jail. `failures` may come in any order; they are sorted stably by time.
pub fn replay_jail(jail: &JailParams, failures: &[Failure], opts: &ReplayOptions) -> JailReplay {
    let mut v = replay_jails(
        &[JailInput {
            params: jail,
            failures,
        }],
        opts,
    );
    // One input gives exactly one result.
    v.pop()
        .unwrap_or_else(|| unreachable!("replay_jails returns one result per input"))
}

/// Replays the recidive jail (6.8). Its failures are the starts of `bans_of_other_jails` (bans of
/// a jail with recidive's own name are skipped, as the recidive filter skips its own lines) plus
/// `extra_ban_lines`, e.g. `Ban` lines of an existing fail2ban.log that the replay did not make;
/// the caller must not pass the same ban both ways.
pub fn replay_recidive(
    recidive: &JailParams,
    bans_of_other_jails: &[Ban],
    extra_ban_lines: &[Failure],
    opts: &ReplayOptions,
) -> JailReplay {
    let mut failures: Vec<Failure> = bans_of_other_jails
        .iter()
        .filter(|b| b.jail != recidive.name)
        .map(|b| Failure {
            time: b.start,
            id: b.id.clone(),
            regex: REPLAYED_BAN_TAG,
        })
        .collect();
    failures.extend_from_slice(extra_ban_lines);
    replay_jail(recidive, &failures, opts)
}

/// A reference implementation for tests: one global event loop over all IDs in time order, as
/// the fail2ban server runs, with the same per-event steps.
#[cfg(test)]
pub(crate) fn replay_jails_sequential(
    inputs: &[JailInput<'_>],
    opts: &ReplayOptions,
) -> Vec<JailReplay> {
    let jails: Vec<&JailParams> = inputs.iter().map(|i| i.params).collect();
    let groups = group(inputs);
    let mut all: Vec<(f64, usize, usize)> = Vec::new();
    for (g, (_, events, _)) in groups.ids.iter().enumerate() {
        all.extend(events.iter().enumerate().map(|(k, e)| (e.0, g, k)));
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut states: Vec<IdReplay<'_>> = groups
        .ids
        .iter()
        .map(|(id, _, _)| IdReplay::new(&jails, opts, id))
        .collect();
    for (_, g, k) in all {
        let (_, events, raw) = &groups.ids[g];
        let (t, j, tag) = events[k];
        if jails[j].ignore.contains(raw[k]) {
            states[g].out[j].ignored += 1;
            continue;
        }
        states[g].failure(t, j, tag);
    }
    let per_id = states.into_iter().map(|s| s.out).collect();
    assemble(inputs, groups, per_id)
}
