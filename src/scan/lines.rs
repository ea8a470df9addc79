//! Where a block's lines end: one pass over the block marks its newlines in a bitmap (one
//! bit per byte) and tells whether the block is ASCII.
//!
//! The scan asks for the end of every line, and most lines are 100-200 bytes: a `memchr`
//! call per line paid its setup on each, about 5% of a scan; a 64-byte window compared on
//! demand (four 16-byte compares per window, then the mask kept for the lines that end in
//! it) still cost ~90 instructions per line. The whole block (128 KB, in the core's cache)
//! is now compared in one tight loop, 32 bytes at a time where the CPU has AVX2, and the
//! same loads decide whether the block is ASCII (which made a pass of its own before). The
//! end of a line is then a bitmap word and a `trailing_zeros`.

/// The newlines of a block, asked for in increasing positions.
#[derive(Default)]
pub(crate) struct Newlines {
    /// Start of the block in the chunk.
    base: usize,
    /// Bit `i % 64` of word `i / 64`: byte `base + i` is a newline.
    bits: Vec<u64>,
}

impl Newlines {
    /// Marks the newlines of `block`, which starts at `base`; returns whether `block` is
    /// ASCII.
    pub(crate) fn fill(&mut self, base: usize, block: &[u8]) -> bool {
        self.base = base;
        self.bits.clear();
        self.bits.reserve(block.len() / 64 + 1);
        fill_bits(block, &mut self.bits)
    }

    /// The position of the first newline at or after `pos` (at or after the block's
    /// start) in the block, `None` when there is none.
    #[inline]
    pub(crate) fn next_from(&self, pos: usize) -> Option<usize> {
        let rel = pos.checked_sub(self.base)?;
        let mut i = rel / 64;
        let mut m = self.bits.get(i)? & (u64::MAX << (rel % 64));
        loop {
            if m != 0 {
                return Some(self.base + i * 64 + m.trailing_zeros() as usize);
            }
            i += 1;
            m = *self.bits.get(i)?;
        }
    }
}

/// Appends the newline mask of each 64-byte window of `block` (the last one zero-padded)
/// to `bits`; whether `block` is ASCII.
fn fill_bits(block: &[u8], bits: &mut Vec<u64>) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { fill_avx2(block, bits) };
    }
    fill_portable(block, bits)
}

/// [`fill_bits`] a window at a time with the plain mask function (SSE2 on x86_64).
fn fill_portable(block: &[u8], bits: &mut Vec<u64>) -> bool {
    let mut high = 0u8;
    let mut windows = block.chunks_exact(64);
    for w in &mut windows {
        let w: &[u8; 64] = w.try_into().unwrap_or(&[0; 64]);
        bits.push(mask64(w));
        high |= w.iter().fold(0, |a, &b| a | b);
    }
    let rest = windows.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 64];
        w[..rest.len()].copy_from_slice(rest);
        bits.push(mask64(&w));
        high |= rest.iter().fold(0, |a, &b| a | b);
    }
    high < 0x80
}

/// How far ahead [`fill_avx2`] asks for the bytes it will read. The pass is the first
/// touch of a mapped block, read from memory at a few GB/s, and the hardware prefetcher
/// stops at each 4 KB page; asking half a page ahead took 5-9 ms of CPU off a two-thread
/// scan of the bench log (3 interleaved comparisons, 16-24 runs each; 1024 and 4096 did
/// less).
#[cfg(target_arch = "x86_64")]
const PREFETCH: usize = 2048;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_avx2(block: &[u8], bits: &mut Vec<u64>) -> bool {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8, _mm256_setzero_si256, _mm_prefetch, _MM_HINT_T0,
    };
    let nl = _mm256_set1_epi8(b'\n' as i8);
    let mut acc = _mm256_setzero_si256();
    let mut window = |w: &[u8; 64]| {
        let p = w.as_ptr().cast::<__m256i>();
        // A prefetch never faults, even past the end of the mapping.
        _mm_prefetch(w.as_ptr().wrapping_add(PREFETCH).cast::<i8>(), _MM_HINT_T0);
        // SAFETY: two unaligned 32-byte loads inside the 64 bytes of `w`.
        let (a, b) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
        acc = _mm256_or_si256(acc, _mm256_or_si256(a, b));
        let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(a, nl)) as u32;
        let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(b, nl)) as u32;
        u64::from(lo) | u64::from(hi) << 32
    };
    let mut windows = block.chunks_exact(64);
    for w in &mut windows {
        bits.push(window(w.try_into().unwrap_or(&[0; 64])));
    }
    let rest = windows.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 64];
        w[..rest.len()].copy_from_slice(rest);
        bits.push(window(&w));
    }
    // A byte >= 0x80 has its top bit set; the OR of all bytes keeps it.
    _mm256_movemask_epi8(acc) == 0
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn mask64(w: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let p = w.as_ptr().cast::<__m128i>();
    // SAFETY: SSE2 is part of every x86_64 target; each unaligned load reads 16 of the 64
    // bytes of `w`.
    let lane = |i: usize| unsafe {
        let eq = _mm_cmpeq_epi8(_mm_loadu_si128(p.add(i)), _mm_set1_epi8(b'\n' as i8));
        u64::from(_mm_movemask_epi8(eq) as u16)
    };
    lane(0) | lane(1) << 16 | lane(2) << 32 | lane(3) << 48
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn mask64(w: &[u8; 64]) -> u64 {
    w.iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | u64::from(b == b'\n') << i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Vec<Vec<u8>> {
        let mut seed = 7u64;
        let mut next = || (crate::testutil::lcg(&mut seed) >> 33) as usize;
        let mut out = Vec::new();
        for len in (0..200).chain([255, 256, 257, 1000, 4096]) {
            for density in [1, 3, 40, 200] {
                out.push(
                    (0..len)
                        .map(|_| {
                            if next() % density == 0 {
                                b'\n'
                            } else {
                                b'a' + (next() % 26) as u8
                            }
                        })
                        .collect(),
                );
            }
        }
        out
    }

    /// Every line end, as the scan asks for them, equals `memchr`'s, for blocks of every
    /// length around the window size with newlines anywhere, at any offset in the chunk.
    #[test]
    fn newlines_are_memchr_s() {
        let mut nl = Newlines::default();
        for data in texts() {
            for base in [0, 5, 64] {
                assert!(nl.fill(base, &data));
                let mut pos = base;
                while pos < base + data.len() {
                    let want = memchr::memchr(b'\n', &data[pos - base..]).map(|i| pos + i);
                    assert_eq!(nl.next_from(pos), want, "len {}, pos {pos}", data.len());
                    pos = want.map_or(base + data.len(), |e| e + 1);
                }
                // Asking at a later position, past windows with no newline.
                if data.len() > 130 {
                    let at = base + data.len() - 70;
                    let want = memchr::memchr(b'\n', &data[at - base..]).map(|i| at + i);
                    assert_eq!(nl.next_from(at), want, "len {}, from {at}", data.len());
                }
            }
        }
    }

    /// The block is ASCII exactly when `is_ascii` says so, with a high byte anywhere, on
    /// both paths.
    #[test]
    fn the_ascii_verdict_is_is_ascii_s() {
        let mut bits = Vec::new();
        for mut data in texts().into_iter().filter(|d| d.len() < 300) {
            assert!(fill_bits(&data, &mut bits));
            assert!(fill_portable(&data, &mut bits));
            for i in 0..data.len() {
                let keep = data[i];
                data[i] = 0x80 | keep;
                assert!(!fill_bits(&data, &mut bits), "byte {i} of {}", data.len());
                assert!(
                    !fill_portable(&data, &mut bits),
                    "byte {i} of {}",
                    data.len()
                );
                data[i] = keep;
            }
        }
    }

    /// Both paths mark the same newlines.
    #[test]
    fn both_paths_mark_the_same_newlines() {
        for data in texts() {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            fill_bits(&data, &mut a);
            fill_portable(&data, &mut b);
            assert_eq!(a, b, "len {}", data.len());
        }
    }
}
