//! The zip writer: DEFLATE-compressed entries, zip64 (APPNOTE 6.3.x section 4.5.3) where a
//! size, an offset or the number of entries does not fit the classic 32- and 16-bit fields,
//! and a fixed timestamp so that the same files always give the same bytes. Used for the
//! xlsx record of processing and for the exports of access and portability requests. Pure:
//! bytes in, bytes out. Tests read its archives back with independent readers (Python's
//! `zipfile`, `unzip -t`).

/// CRC-32 (IEEE 802.3, reflected), as zip requires, eight bytes a step ("slice-by-8"): the
/// byte-at-a-time loop took a noticeable share of a large export's time.
fn crc32(data: &[u8]) -> u32 {
    const fn tables() -> [[u32; 256]; 8] {
        let mut t = [[0u32; 256]; 8];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[0][i] = c;
            i += 1;
        }
        // t[k][i]: the CRC of byte i followed by k zero bytes.
        let mut k = 1;
        while k < 8 {
            let mut i = 0;
            while i < 256 {
                let prev = t[k - 1][i];
                t[k][i] = t[0][(prev & 0xff) as usize] ^ (prev >> 8);
                i += 1;
            }
            k += 1;
        }
        t
    }
    const T: [[u32; 256]; 8] = tables();
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let hi = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        crc = T[7][(lo & 0xff) as usize]
            ^ T[6][((lo >> 8) & 0xff) as usize]
            ^ T[5][((lo >> 16) & 0xff) as usize]
            ^ T[4][(lo >> 24) as usize]
            ^ T[3][(hi & 0xff) as usize]
            ^ T[2][((hi >> 8) & 0xff) as usize]
            ^ T[1][((hi >> 16) & 0xff) as usize]
            ^ T[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = T[0][((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// 1980-01-01 00:00, the zip epoch: a fixed time keeps the output reproducible (and the
/// core away from the clock).
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u64le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The classic fields' "see the zip64 record" values.
const U32_SENTINEL: u32 = u32::MAX;
const U16_SENTINEL: u16 = u16::MAX;

/// Where the classic fields stop: a value at or above it is written as the sentinel, with
/// the real value in a zip64 field. `force` writes every entry and the end record as zip64,
/// so that tests exercise that path without gigabytes of data.
#[derive(Clone, Copy)]
struct Limits {
    force: bool,
}

impl Limits {
    fn over32(self, v: u64) -> bool {
        self.force || v >= u64::from(U32_SENTINEL)
    }
    fn over16(self, v: u64) -> bool {
        self.force || v >= u64::from(U16_SENTINEL)
    }
}

fn usize64(n: usize) -> u64 {
    // usize is at most 64 bits on every target Rust supports.
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Entries from this size on are compressed on a thread of their own.
const PARALLEL_FROM: usize = 256 * 1024;

/// Each file's CRC and DEFLATE stream. Large files are compressed side by side on scoped
/// threads (an export's JSON, HTML and CSV files are of similar size), small ones in turn.
fn compress_all(files: &[(&str, &[u8])]) -> Vec<(u32, Vec<u8>)> {
    // Level 1: exports of thousands of people spent most of their time compressing at
    // level 6 for a zip only a fifth smaller.
    let compress = |data: &[u8]| (crc32(data), miniz_oxide::deflate::compress_to_vec(data, 1));
    std::thread::scope(|scope| {
        let pending: Vec<_> = files
            .iter()
            .map(|(_, data)| {
                if data.len() >= PARALLEL_FROM {
                    Err(scope.spawn(move || compress(data)))
                } else {
                    Ok(compress(data))
                }
            })
            .collect();
        pending
            .into_iter()
            .map(|entry| match entry {
                Ok(done) => done,
                // A panic on the thread (out of memory) is a panic here, as it would have been
                // without the thread.
                Err(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            })
            .collect()
    })
}

/// A zip archive of the files, each compressed with DEFLATE.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(files, Limits { force: false })
}

/// The same archive with zip64 fields on every entry and a zip64 end record, whatever the
/// sizes: what [`zip`] writes for an archive over 4 GiB or 65,535 entries, for checking
/// that path against other readers without gigabytes of data.
pub fn zip64(files: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(files, Limits { force: true })
}

fn zip_with(files: &[(&str, &[u8])], limits: Limits) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for ((name, data), (crc, compressed)) in files.iter().zip(compress_all(files)) {
        let offset = usize64(out.len());
        let (size, csize) = (usize64(data.len()), usize64(compressed.len()));
        // A name longer than 65,535 bytes cannot be written: cut (our names are table names).
        let name = &name.as_bytes()[..name.len().min(usize::from(u16::MAX))];
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        // Bit 11: the name is UTF-8 (table names need not be ASCII).
        let flags: u16 = if name.is_ascii() { 0 } else { 0x0800 };
        let sizes64 = limits.over32(size) || limits.over32(csize);
        let offset64 = limits.over32(offset);
        // 4.5 (zip64) or 2.0 (DEFLATE).
        let version: u16 = if sizes64 || offset64 { 45 } else { 20 };
        let field32 = |v: u64, wide: bool| {
            if wide {
                U32_SENTINEL
            } else {
                // Below the sentinel, so it fits.
                u32::try_from(v).unwrap_or(U32_SENTINEL)
            }
        };

        // Local file header. Its zip64 field, when the sizes need one, holds both sizes.
        let local_extra: Vec<u8> = if sizes64 {
            let mut e = Vec::with_capacity(20);
            u16le(&mut e, 0x0001);
            u16le(&mut e, 16);
            u64le(&mut e, size);
            u64le(&mut e, csize);
            e
        } else {
            Vec::new()
        };
        u32le(&mut out, 0x0403_4b50);
        u16le(&mut out, version); // version needed
        u16le(&mut out, flags);
        u16le(&mut out, 8); // method: DEFLATE
        u16le(&mut out, DOS_TIME);
        u16le(&mut out, DOS_DATE);
        u32le(&mut out, crc);
        u32le(&mut out, field32(csize, sizes64));
        u32le(&mut out, field32(size, sizes64));
        u16le(&mut out, name_len);
        u16le(&mut out, u16::try_from(local_extra.len()).unwrap_or(0));
        out.extend_from_slice(name);
        out.extend_from_slice(&local_extra);
        out.extend_from_slice(&compressed);

        // Central directory entry. Its zip64 field holds, in this order, only the values
        // whose classic field is the sentinel.
        let mut extra = Vec::new();
        if sizes64 {
            u64le(&mut extra, size);
            u64le(&mut extra, csize);
        }
        if offset64 {
            u64le(&mut extra, offset);
        }
        if !extra.is_empty() {
            let len = u16::try_from(extra.len()).unwrap_or(0);
            extra.splice(
                0..0,
                [0x01, 0x00, len.to_le_bytes()[0], len.to_le_bytes()[1]],
            );
        }
        u32le(&mut central, 0x0201_4b50);
        u16le(&mut central, version); // version made by (MS-DOS attributes)
        u16le(&mut central, version); // version needed
        u16le(&mut central, flags);
        u16le(&mut central, 8);
        u16le(&mut central, DOS_TIME);
        u16le(&mut central, DOS_DATE);
        u32le(&mut central, crc);
        u32le(&mut central, field32(csize, sizes64));
        u32le(&mut central, field32(size, sizes64));
        u16le(&mut central, name_len);
        u16le(&mut central, u16::try_from(extra.len()).unwrap_or(0));
        u16le(&mut central, 0); // comment
        u16le(&mut central, 0); // disk number
        u16le(&mut central, 0); // internal attributes
        u32le(&mut central, 0); // external attributes
        u32le(&mut central, field32(offset, offset64));
        central.extend_from_slice(name);
        central.extend_from_slice(&extra);
    }
    let central_offset = usize64(out.len());
    let central_len = usize64(central.len());
    let count = usize64(files.len());
    out.extend_from_slice(&central);
    let end64 = limits.over16(count) || limits.over32(central_offset) || limits.over32(central_len);
    if end64 {
        // Zip64 end of central directory record, then its locator.
        let record_at = usize64(out.len());
        u32le(&mut out, 0x0606_4b50);
        u64le(&mut out, 44); // size of the rest of the record
        u16le(&mut out, 45); // version made by
        u16le(&mut out, 45); // version needed
        u32le(&mut out, 0); // this disk
        u32le(&mut out, 0); // the disk with the central directory
        u64le(&mut out, count); // entries on this disk
        u64le(&mut out, count); // entries
        u64le(&mut out, central_len);
        u64le(&mut out, central_offset);
        u32le(&mut out, 0x0706_4b50);
        u32le(&mut out, 0); // the disk with the zip64 record
        u64le(&mut out, record_at);
        u32le(&mut out, 1); // disks
    }
    let count16 = if end64 {
        U16_SENTINEL
    } else {
        u16::try_from(count).unwrap_or(U16_SENTINEL)
    };
    let end32 = |v: u64| {
        if end64 {
            U32_SENTINEL
        } else {
            u32::try_from(v).unwrap_or(U32_SENTINEL)
        }
    };
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, count16);
    u16le(&mut out, count16);
    u32le(&mut out, end32(central_len));
    u32le(&mut out, end32(central_offset));
    u16le(&mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// Slice-by-8 agrees with the bitwise definition at every length and alignment.
    #[test]
    fn crc_agrees_with_the_bitwise_definition() {
        fn bitwise(data: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        0xEDB8_8320 ^ (crc >> 1)
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        let data: Vec<u8> = (0u32..100).map(|i| (i * 37 + 11) as u8).collect();
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(crc32(&data[start..end]), bitwise(&data[start..end]));
            }
        }
    }

    /// Read the archive back: every entry inflates to what was written, with its CRC.
    #[test]
    fn archives_read_back() {
        // Large enough to be compressed on a thread of its own.
        let big: Vec<u8> = (0..PARALLEL_FROM * 2).map(|i| (i % 251) as u8).collect();
        let files: [(&str, &[u8]); 3] = [
            ("a.xml", b"<a/>"),
            ("big.csv", &big),
            ("dir/b.txt", b"hello hello hello hello"),
        ];
        let zip = zip(&files);
        let mut at = 0;
        for (name, data) in files {
            assert_eq!(&zip[at..at + 4], &[0x50, 0x4b, 0x03, 0x04]);
            let field = |o: usize| u32::from_le_bytes(zip[at + o..at + o + 4].try_into().unwrap());
            let (crc, csize, size) = (field(14), field(18) as usize, field(22) as usize);
            let name_len = u16::from_le_bytes(zip[at + 26..at + 28].try_into().unwrap()) as usize;
            assert_eq!(&zip[at + 30..at + 30 + name_len], name.as_bytes());
            let start = at + 30 + name_len;
            let inflated =
                miniz_oxide::inflate::decompress_to_vec(&zip[start..start + csize]).unwrap();
            assert_eq!(inflated, data);
            assert_eq!(size, data.len());
            assert_eq!(crc, crc32(data));
            at = start + csize;
        }
        assert_eq!(
            &zip[zip.len() - 22..zip.len() - 18],
            &[0x50, 0x4b, 0x05, 0x06]
        );
    }
}
