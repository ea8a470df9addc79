//! Where a chunk's lines end: the newlines of each 64-byte window as one bit mask.
//!
//! The scan asks for the end of every line, and most lines are 100-200 bytes: a `memchr`
//! call per line paid its setup (alignment, the short-haystack checks) on each, about 5%
//! of a scan. A window's mask costs four 16-byte compares and serves all the lines that end
//! in it; the next newline is then a `trailing_zeros`.

/// The newlines of `data`, asked for in increasing positions.
pub(crate) struct Newlines<'a> {
    data: &'a [u8],
    /// Start of the window `mask` describes (a multiple of 64 from the start of `data`).
    win: usize,
    /// Bit `i`: `data[win + i]` is a newline (bits below the last position asked for may
    /// be cleared).
    mask: u64,
}

impl<'a> Newlines<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Newlines {
            data,
            win: usize::MAX,
            mask: 0,
        }
    }

    /// The position of the first newline at or after `pos`, `None` when there is none.
    #[inline]
    pub(crate) fn next_from(&mut self, pos: usize) -> Option<usize> {
        let w = pos & !63;
        if w != self.win {
            if w >= self.data.len() {
                return None;
            }
            self.win = w;
            self.mask = window(self.data, w);
        }
        self.mask &= u64::MAX << (pos - w);
        loop {
            if self.mask != 0 {
                return Some(self.win + self.mask.trailing_zeros() as usize);
            }
            if self.win + 64 >= self.data.len() {
                return None;
            }
            self.win += 64;
            self.mask = window(self.data, self.win);
        }
    }
}

/// The newline mask of `data[at..at + 64]`; past the end of `data`, no newlines.
#[inline]
fn window(data: &[u8], at: usize) -> u64 {
    match data.get(at..at + 64) {
        Some(w) => mask64(w.try_into().unwrap_or(&[0; 64])),
        None => {
            let mut buf = [0u8; 64];
            let rest = data.get(at..).unwrap_or_default();
            buf[..rest.len()].copy_from_slice(rest);
            mask64(&buf)
        }
    }
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

    /// Every line end, as the scan asks for them, equals `memchr`'s, for texts of every
    /// length around the window size with newlines anywhere.
    #[test]
    fn newlines_are_memchr_s() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for len in (0..200).chain([255, 256, 257, 1000, 4096]) {
            for density in [1, 3, 40, 200] {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        if next() % density == 0 {
                            b'\n'
                        } else {
                            b'a' + (next() % 26) as u8
                        }
                    })
                    .collect();
                let mut nl = Newlines::new(&data);
                let mut pos = 0;
                while pos < data.len() {
                    let want = memchr::memchr(b'\n', &data[pos..]).map(|i| pos + i);
                    assert_eq!(nl.next_from(pos), want, "len {len}, pos {pos}");
                    pos = want.map_or(data.len(), |e| e + 1);
                }
                // Asking again at a later position, past a window with no newline.
                if len > 130 {
                    let mut nl = Newlines::new(&data);
                    let at = len - 70;
                    let want = memchr::memchr(b'\n', &data[at..]).map(|i| at + i);
                    assert_eq!(nl.next_from(at), want, "len {len}, from {at}");
                }
            }
        }
    }
}
