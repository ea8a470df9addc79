//! Log sources: plain files (memory-mapped, with a read fallback), compressed files (gzip,
//! bzip2, xz, zstd; detected by magic bytes, never by name) and standard input.
//!
//! The mmap-or-read decision lives in [`Opened`] only. Compressed data is exposed as a
//! streaming [`Read`] so that decompression can be pipelined with matching.

pub mod sigbus;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use thiserror::Error;

/// Errors opening or reading one input; they always name the input.
#[derive(Debug, Error)]
pub enum InputError {
    #[error("{path}: cannot open: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: is a directory")]
    Directory { path: PathBuf },
}

/// Compression formats, identified by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    /// Detects the format from the first bytes of a file. Names are never trusted: rotated
    /// logs are often compressed without a `.gz` suffix, or renamed.
    pub fn detect(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [b'B', b'Z', b'h', ..] => Compression::Bzip2,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::Plain,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Plain => "plain",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// An opened input: either all bytes at hand (mapped or read), or a decoding stream.
pub enum Opened {
    /// A memory-mapped plain file.
    Mapped(Mmap),
    /// Bytes read into memory (fallback when mapping is impossible, e.g. pipes, empty files).
    Bytes(Vec<u8>),
    /// A compressed file or a pipe, decoded while it is read.
    Stream(Compression, Box<dyn Read + Send>),
}

impl Opened {
    /// The bytes of an in-memory input; `None` for streams.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Opened::Mapped(m) => Some(&m[..]),
            Opened::Bytes(b) => Some(b),
            Opened::Stream(..) => None,
        }
    }
}

/// Opens `path` (`-` = standard input), detecting compression by magic bytes.
pub fn open(path: &Path) -> Result<Opened, InputError> {
    if path == Path::new("-") {
        return open_reader(Box::new(io::stdin()), path);
    }
    let err_open = |source| InputError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(err_open)?;
    let meta = file.metadata().map_err(err_open)?;
    if meta.is_dir() {
        return Err(InputError::Directory {
            path: path.to_path_buf(),
        });
    }
    let mut head = [0u8; 6];
    let n = read_up_to(&mut file, &mut head).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let compression = Compression::detect(&head[..n]);
    if compression != Compression::Plain || !meta.is_file() {
        // Re-open instead of seeking so that pipes and FIFOs work too.
        let file = if meta.is_file() {
            File::open(path).map_err(err_open)?
        } else {
            return open_reader(
                Box::new(io::Cursor::new(head[..n].to_vec()).chain(file)),
                path,
            );
        };
        return Ok(Opened::Stream(
            compression,
            decoder(compression, Box::new(file)),
        ));
    }
    if meta.len() == 0 {
        return Ok(Opened::Bytes(Vec::new()));
    }
    // SAFETY: the map is read-only. If another process truncates the file while it is mapped,
    // reading past the new end raises SIGBUS; `crate::input::sigbus` turns that into an error
    // message naming the file instead of a bare crash.
    match unsafe { Mmap::map(&file) } {
        Ok(map) => Ok(Opened::Mapped(map)),
        Err(_) => {
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            File::open(path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|source| InputError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
            Ok(Opened::Bytes(bytes))
        }
    }
}

/// Drops the page-table entries of the whole pages inside `range` of a mapping that has
/// been read through: the pages stay in the page cache, and a later read of them faults
/// them in again, so this only frees the mapping's share of the process.
///
/// Unmapping a large file at the end of a scan walked all its entries on one core (~5 ms
/// for 150 MB, ~30 ms for 1 GB, while the other cores were idle); released as the scan
/// reads the file (by the workers, in batches: see [`Releaser`]), the same work is spread
/// over the scan, and the resident size of a scan stays a batch and a few chunks instead of
/// the whole file.
pub fn release_mapped(map: &Mmap, range: std::ops::Range<usize>) {
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 && (p as usize).is_power_of_two() => p as usize,
        _ => return,
    };
    let base = map.as_ptr() as usize;
    // Whole pages only: the pages at the edges may hold lines of neighbouring chunks.
    let lo = (base + range.start).next_multiple_of(page) - base;
    let hi = ((base + range.end.min(map.len())) & !(page - 1)).saturating_sub(base);
    if hi > lo {
        // SAFETY: `DontNeed` on a read-only file mapping discards nothing that cannot be
        // read again: the next access to these pages maps them from the file anew. (A
        // failure only leaves the pages mapped.)
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, lo, hi - lo) };
    }
}

/// Bytes a [`Releaser`] lets the read part of a mapping grow before it releases it.
const RELEASE_BATCH: usize = 16 << 20;

/// Releases a mapping's pages ([`release_mapped`]) as its chunks are read, in batches of
/// [`RELEASE_BATCH`] bytes of the read prefix. A release on a process whose other threads
/// run makes the kernel interrupt their cores to flush their TLBs: released chunk by chunk
/// (4 MB, then smaller ones at the end of a file), that cost ~25 µs of wall time per chunk
/// on a 2-core VM, 2 ms over the bench log; batched, ten releases do the same work.
pub struct Releaser<'a> {
    map: &'a Mmap,
    frontier: std::sync::Mutex<ReadFrontier>,
}

impl<'a> Releaser<'a> {
    pub fn new(map: &'a Mmap) -> Releaser<'a> {
        Releaser {
            map,
            frontier: std::sync::Mutex::new(ReadFrontier::new(RELEASE_BATCH)),
        }
    }

    /// Notes that `range` has been read; releases the read prefix once it has grown enough.
    pub fn done(&self, range: std::ops::Range<usize>) {
        let ready = match self.frontier.lock() {
            Ok(mut f) => f.done(range),
            Err(_) => None,
        };
        if let Some(r) = ready {
            release_mapped(self.map, r);
        }
    }
}

/// The read prefix of a mapping, from ranges read in any order (see [`Releaser`]).
#[derive(Debug)]
struct ReadFrontier {
    /// End of the read prefix.
    next: usize,
    /// Ranges read beyond the prefix, by start.
    ahead: std::collections::BTreeMap<usize, usize>,
    /// End of what has been handed out for release.
    released: usize,
    batch: usize,
}

impl ReadFrontier {
    fn new(batch: usize) -> ReadFrontier {
        ReadFrontier {
            next: 0,
            ahead: Default::default(),
            released: 0,
            batch,
        }
    }

    /// Adds `range`; the part of the prefix to release now, once it is `batch` bytes long.
    fn done(&mut self, range: std::ops::Range<usize>) -> Option<std::ops::Range<usize>> {
        self.ahead.insert(range.start, range.end);
        while let Some(end) = self.ahead.remove(&self.next) {
            self.next = end;
        }
        (self.next - self.released >= self.batch).then(|| {
            let r = self.released..self.next;
            self.released = self.next;
            r
        })
    }
}

/// Wraps a non-seekable reader (stdin, pipe): sniffs the magic bytes, then decodes.
fn open_reader(mut reader: Box<dyn Read + Send>, path: &Path) -> Result<Opened, InputError> {
    let mut head = [0u8; 6];
    let n = read_up_to(&mut reader, &mut head).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let compression = Compression::detect(&head[..n]);
    let rejoined: Box<dyn Read + Send> =
        Box::new(io::Cursor::new(head[..n].to_vec()).chain(reader));
    Ok(Opened::Stream(compression, decoder(compression, rejoined)))
}

/// The decoder for `compression`. Gzip uses `MultiGzDecoder` because rotated and
/// concatenated logs (`cat a.gz b.gz`) are multi-member files.
pub fn decoder(compression: Compression, inner: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    let inner = io::BufReader::with_capacity(1 << 16, inner);
    match compression {
        Compression::Plain => Box::new(inner),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(inner)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(inner)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(inner)),
        Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(inner) {
            Ok(d) => Box::new(d),
            Err(e) => Box::new(FailingReader(Some(e))),
        },
    }
}

/// A reader that reports one stored error (a decoder that could not even start).
struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("decoder failed")))
    }
}

/// Reads until `buf` is full or EOF; returns the byte count.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads a whole input into memory (decoding it if compressed). Used by `regex`, which like
/// fail2ban-regex processes one file sequentially.
pub fn read_all(path: &Path) -> Result<Vec<u8>, InputError> {
    match open(path)? {
        Opened::Mapped(m) => {
            let _guard = sigbus::guard_mapped(path, &m);
            Ok(m.to_vec())
        }
        Opened::Bytes(b) => Ok(b),
        Opened::Stream(_, mut r) => {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map_err(|source| InputError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Released pages read back the file's bytes, wherever the range starts and ends
    /// (inside a page, past the end, empty).
    #[test]
    fn released_pages_read_back_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let want: Vec<u8> = (0..5 * 4096 + 123).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &want).unwrap();
        let Opened::Mapped(map) = open(&path).unwrap() else {
            panic!("not mapped");
        };
        assert_eq!(&map[..], &want[..]);
        for range in [100..9000, 0..map.len(), 4096..8192, 7..7, 20_000..1 << 30] {
            release_mapped(&map, range.clone());
            assert_eq!(&map[..], &want[..], "{range:?}");
        }
    }

    /// The frontier releases each byte of the read prefix once, in order, in pieces of at
    /// least the batch, whatever the order the ranges arrive in.
    #[test]
    fn the_read_prefix_is_released_once_in_batches() {
        let mut seed = 5u64;
        for batch in [1, 7, 100] {
            let cuts: Vec<usize> = (0..=40).map(|i| i * 13).collect();
            let mut ranges: Vec<_> = cuts.windows(2).map(|w| w[0]..w[1]).collect();
            // Shuffle a little: neighbours swap, as chunks finish out of order.
            for i in 1..ranges.len() {
                if crate::testutil::lcg(&mut seed) >> 62 == 0 {
                    ranges.swap(i - 1, i);
                }
            }
            let mut f = ReadFrontier::new(batch);
            let mut out = Vec::new();
            for r in ranges {
                out.extend(f.done(r));
            }
            let mut at = 0;
            for r in &out {
                assert_eq!(r.start, at, "batch {batch}: {out:?}");
                assert!(r.end - r.start >= batch, "batch {batch}: {out:?}");
                at = r.end;
            }
            // All but less than a batch of the 520 bytes.
            assert!(520 - at < batch.max(13), "batch {batch}: {out:?}");
        }
    }

    #[test]
    fn detects_magic_bytes() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(Compression::detect(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(
            Compression::detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
            Compression::Xz
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"[2024-01-01"), Compression::Plain);
        assert_eq!(Compression::detect(b""), Compression::Plain);
    }

    #[test]
    fn multi_member_gzip_reads_all_members() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut bytes = Vec::new();
        for part in ["a\n", "b\n"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part.as_bytes()).unwrap();
            bytes.extend(enc.finish().unwrap());
        }
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read_all(&path).unwrap(), b"a\nb\n");
    }

    #[test]
    fn missing_file_names_path() {
        let err = open(Path::new("/nonexistent/x.log")).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/x.log"), "{err}");
    }
}
