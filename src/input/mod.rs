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
