//! SIGBUS guard for memory-mapped inputs.
//!
//! A log file that another process truncates while failscan has it mapped makes every read past
//! the new end fault with SIGBUS, which by default kills the process with no word about why.
//! This module owns the process-wide SIGBUS handler and the registry of the files that are
//! mapped right now, so that such a fault ends the run with
//!
//! ```text
//! failscan: error: <path> was truncated while being read (SIGBUS); re-run on a stable copy
//! ```
//!
//! on standard error and exit status 3.
//!
//! Usage: keep a [`MapGuard`] alive for as long as a mapping is read ([`guard_mapped`] when the
//! mapped bytes are at hand, [`guard`] otherwise). Creating a guard installs the handler.
//!
//! The registry is a fixed array of slots in static memory; each slot is a seqlock over plain
//! atomics, so the handler reads it without locks, allocation or any non-async-signal-safe call
//! (it only uses `write(2)`, `sigaction(2)`, `raise(3)` and `_exit(2)`). When several files are
//! mapped at once, the handler names the one whose mapping contains the faulting address, and
//! otherwise the most recently registered one. A SIGBUS that no registered mapping explains is
//! handed back to the handler that was installed before ours (the Rust runtime's, or the
//! default), so unrelated faults still crash the way they would without this module.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Exit status after a truncated mapping was detected.
pub const EXIT_TRUNCATED: i32 = 3;

/// How many mappings can be registered at once; further guards are inert (a fault in such a
/// mapping is then reported under the most recent registered path, or not at all).
const SLOTS: usize = 64;
/// Longest path kept, in bytes (Linux `PATH_MAX`); longer paths are cut.
const PATH_CAP: usize = 4096;

const PREFIX: &[u8] = b"failscan: error: ";
const SUFFIX: &[u8] = b" was truncated while being read (SIGBUS); re-run on a stable copy\n";
const UNNAMED: &[u8] = b"an input file";

/// One registry entry. `claimed` says which guard owns the slot (writers only); everything the
/// handler reads is published under the `seq` seqlock (odd while the owner writes).
struct Slot {
    claimed: AtomicBool,
    seq: AtomicU64,
    active: AtomicBool,
    order: AtomicU64,
    start: AtomicUsize,
    end: AtomicUsize,
    len: AtomicUsize,
    path: [AtomicU8; PATH_CAP],
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            claimed: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            active: AtomicBool::new(false),
            order: AtomicU64::new(0),
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            path: [const { AtomicU8::new(0) }; PATH_CAP],
        }
    }

    /// Runs `write` as the seqlock writer. Only the owner of the slot (the holder of `claimed`)
    /// calls this, so writers never race each other.
    fn publish(&self, write: impl FnOnce(&Slot)) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        write(self);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }
}

static REGISTRY: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
/// Registration counter; a larger value is a more recent guard.
static NEXT_ORDER: AtomicU64 = AtomicU64::new(1);
/// The SIGBUS action that was in place before [`install`], restored for faults that are not ours.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Registers a mapped file for as long as it lives; dropping it unregisters the file.
#[derive(Debug)]
#[must_use = "the path is unregistered as soon as the guard is dropped"]
pub struct MapGuard {
    slot: Option<usize>,
}

impl MapGuard {
    /// Whether the path could be registered (false only when all slots are taken).
    pub fn is_registered(&self) -> bool {
        self.slot.is_some()
    }
}

impl Drop for MapGuard {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let slot = &REGISTRY[i];
            slot.publish(|s| {
                s.active.store(false, Ordering::Relaxed);
                s.len.store(0, Ordering::Relaxed);
            });
            slot.claimed.store(false, Ordering::Release);
        }
    }
}

/// Registers `path` as being read through a memory map, installing the handler if needed.
/// With several guards alive, a fault is attributed to the most recent one.
pub fn guard(path: &Path) -> MapGuard {
    register(path, None)
}

/// Like [`guard`], and also records the address range of `mapped`, so that a fault inside it is
/// attributed to `path` even when other files were mapped after it.
pub fn guard_mapped(path: &Path, mapped: &[u8]) -> MapGuard {
    let start = mapped.as_ptr() as usize;
    register(path, Some((start, start + mapped.len())))
}

fn register(path: &Path, range: Option<(usize, usize)>) -> MapGuard {
    install();
    let Some(i) = REGISTRY.iter().position(|s| {
        s.claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }) else {
        return MapGuard { slot: None };
    };
    let bytes = path.as_os_str().as_bytes();
    let bytes = &bytes[..bytes.len().min(PATH_CAP)];
    let (start, end) = range.unwrap_or((0, 0));
    let order = NEXT_ORDER.fetch_add(1, Ordering::Relaxed);
    REGISTRY[i].publish(|s| {
        for (dst, &b) in s.path.iter().zip(bytes) {
            dst.store(b, Ordering::Relaxed);
        }
        s.len.store(bytes.len(), Ordering::Relaxed);
        s.start.store(start, Ordering::Relaxed);
        s.end.store(end, Ordering::Relaxed);
        s.order.store(order, Ordering::Relaxed);
        s.active.store(true, Ordering::Relaxed);
    });
    MapGuard { slot: Some(i) }
}

/// Installs the SIGBUS handler once per process; later calls do nothing. [`guard`] calls it, so
/// calling it directly is only needed to install the handler before any file is mapped.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sigaction` is given valid, fully initialised structs (zeroed is a valid
        // `sigaction`: empty mask, no flags). `on_sigbus` has the three-argument signature that
        // SA_SIGINFO requires and only makes async-signal-safe calls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                on_sigbus;
            action.sa_sigaction = handler as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            // Store the previous action before ours can run, so the handler always finds it.
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) == 0 {
                let _ = PREVIOUS.set(previous);
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            }
        }
    });
}

/// A path copied out of the registry, on the handler's stack.
struct Named {
    bytes: [u8; PATH_CAP],
    len: usize,
}

/// Picks the registered mapping to blame for a fault at `addr`: the one containing it, or else
/// the most recent one. Returns `None` when nothing is registered. Async-signal-safe: atomics
/// and stack memory only.
fn blame(addr: usize) -> Option<Named> {
    // A slot rewritten while we copy it is detected by the seqlock; retry a few times, which
    // cannot loop forever even if other threads keep registering.
    for _ in 0..8 {
        // (slot, its seq, whether it contains addr, its order)
        let mut best: Option<(usize, u64, bool, u64)> = None;
        for (i, s) in REGISTRY.iter().enumerate() {
            let seq = s.seq.load(Ordering::Acquire);
            if seq % 2 == 1 {
                continue;
            }
            let active = s.active.load(Ordering::Relaxed);
            let order = s.order.load(Ordering::Relaxed);
            let (start, end) = (
                s.start.load(Ordering::Relaxed),
                s.end.load(Ordering::Relaxed),
            );
            fence(Ordering::Acquire);
            if !active || s.seq.load(Ordering::Relaxed) != seq {
                continue;
            }
            let contains = start <= addr && addr < end;
            let better = match best {
                None => true,
                Some((_, _, best_contains, best_order)) => {
                    (contains && !best_contains)
                        || (contains == best_contains && order > best_order)
                }
            };
            if better {
                best = Some((i, seq, contains, order));
            }
        }
        let (i, seq, _, _) = best?;
        let s = &REGISTRY[i];
        let mut named = Named {
            bytes: [0; PATH_CAP],
            len: 0,
        };
        named.len = s.len.load(Ordering::Relaxed).min(PATH_CAP);
        for (dst, src) in named.bytes[..named.len].iter_mut().zip(&s.path) {
            *dst = src.load(Ordering::Relaxed);
        }
        fence(Ordering::Acquire);
        if s.seq.load(Ordering::Relaxed) == seq && s.active.load(Ordering::Relaxed) {
            return Some(named);
        }
    }
    None
}

/// Writes all of `bytes` to standard error with `write(2)`, ignoring failures (there is
/// nothing left to do about them).
fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable buffer of `bytes.len()` bytes; write(2) is
        // async-signal-safe.
        let n = unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// The message the handler prints for `path` (for tests and callers that want the same text).
pub fn message(path: &Path) -> String {
    format!(
        "{}{}{}",
        String::from_utf8_lossy(PREFIX),
        path.display(),
        String::from_utf8_lossy(SUFFIX)
    )
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO; for SIGBUS `si_addr` is the
    // member the kernel fills in.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // Only a fault on a nonexistent page of a mapped object (BUS_ADRERR) is a truncation;
    // anything else (alignment, hardware error, `kill -BUS`) is not ours to explain.
    let named = if code == libc::BUS_ADRERR {
        blame(addr)
    } else {
        None
    };
    match named {
        Some(named) => {
            write_stderr(PREFIX);
            if named.len == 0 {
                write_stderr(UNNAMED);
            } else {
                write_stderr(&named.bytes[..named.len]);
            }
            write_stderr(SUFFIX);
            // SAFETY: _exit is async-signal-safe and skips atexit handlers and buffered I/O,
            // which must not run from a signal handler.
            unsafe { libc::_exit(EXIT_TRUNCATED) }
        }
        None => {
            // SAFETY: sigaction and raise are async-signal-safe. Reinstating the previous action
            // (or the default) and returning re-executes the faulting access, which then
            // faults under that action; a signal not caused by a fault is re-raised, stays
            // blocked until we return, and is then delivered under that action.
            unsafe {
                let mut fallback: libc::sigaction = std::mem::zeroed();
                fallback.sa_sigaction = libc::SIG_DFL;
                let previous = PREVIOUS.get().unwrap_or(&fallback);
                libc::sigaction(sig, previous, std::ptr::null_mut());
                if code <= 0 {
                    libc::raise(sig);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The registry is process-wide; tests that inspect it must not interleave.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn blamed(addr: usize) -> Option<String> {
        blame(addr).map(|n| String::from_utf8_lossy(&n.bytes[..n.len]).into_owned())
    }

    #[test]
    fn most_recent_guard_is_blamed_and_drop_unregisters() {
        let _lock = SERIAL.lock().unwrap();
        assert_eq!(blamed(0), None);
        let a = guard(Path::new("/var/log/a.log"));
        assert!(a.is_registered());
        assert_eq!(blamed(0).as_deref(), Some("/var/log/a.log"));
        let b = guard(Path::new("/var/log/b.log"));
        assert_eq!(blamed(0).as_deref(), Some("/var/log/b.log"));
        drop(b);
        assert_eq!(blamed(0).as_deref(), Some("/var/log/a.log"));
        drop(a);
        assert_eq!(blamed(0), None);
    }

    #[test]
    fn mapping_containing_the_address_wins_over_recency() {
        let _lock = SERIAL.lock().unwrap();
        let first = vec![0u8; 100];
        let second = vec![0u8; 100];
        let a = guard_mapped(Path::new("first"), &first);
        let b = guard_mapped(Path::new("second"), &second);
        let inside_first = first.as_ptr() as usize + 50;
        assert_eq!(blamed(inside_first).as_deref(), Some("first"));
        assert_eq!(blamed(second.as_ptr() as usize).as_deref(), Some("second"));
        // Outside both: the most recent.
        assert_eq!(blamed(1).as_deref(), Some("second"));
        drop((a, b));
    }

    #[test]
    fn slots_are_reused_and_overflow_is_inert() {
        let _lock = SERIAL.lock().unwrap();
        let guards: Vec<_> = (0..SLOTS + 3)
            .map(|i| guard(Path::new(&format!("f{i}"))))
            .collect();
        assert_eq!(guards.iter().filter(|g| g.is_registered()).count(), SLOTS);
        assert_eq!(blamed(0).as_deref(), Some(&*format!("f{}", SLOTS - 1)));
        drop(guards);
        assert_eq!(blamed(0), None);
        let g = guard(Path::new("again"));
        assert!(g.is_registered());
        assert_eq!(blamed(0).as_deref(), Some("again"));
    }

    #[test]
    fn long_paths_are_cut_not_rejected() {
        let _lock = SERIAL.lock().unwrap();
        let long = "x".repeat(PATH_CAP + 10);
        let g = guard(Path::new(&long));
        assert_eq!(blamed(0).map(|p| p.len()), Some(PATH_CAP));
        drop(g);
    }

    #[test]
    fn message_text() {
        assert_eq!(
            message(Path::new("/var/log/x")),
            "failscan: error: /var/log/x was truncated while being read (SIGBUS); \
             re-run on a stable copy\n"
        );
    }
}
