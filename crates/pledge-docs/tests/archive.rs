//! The zip writer checked by readers that are not ours: Python's `zipfile` (which reads
//! zip64) and Info-ZIP's `unzip -t`. Each archive is read back entry by entry and compared
//! with what was written, by name and SHA-256.

use pledge_docs::archive;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pledge-archive-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What Python's zipfile reads from `zip`: every entry's name and SHA-256, in order, after
/// `testzip()` checked every CRC.
const READ_BACK: &str = r#"
import hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    if bad is not None:
        sys.exit("bad CRC in " + bad)
    print(json.dumps([[i.filename, hashlib.sha256(z.read(i)).hexdigest()] for i in z.infolist()]))
"#;

/// Checks `zip` (the bytes of `files`) with both readers.
fn check(name: &str, files: &[(String, Vec<u8>)], zip: &[u8]) {
    let dir = scratch(name);
    let path = dir.join("a.zip");
    std::fs::write(&path, zip).unwrap();
    let want: Vec<(String, String)> = files.iter().map(|(n, d)| (n.clone(), sha(d))).collect();

    if let Some(python) = pledge_testkit::require!("python3", pledge_testkit::program("python3")) {
        let out = Command::new(python)
            .arg("-c")
            .arg(READ_BACK)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "zipfile refused the archive: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<(String, String)> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "zipfile read other entries than were written");
    }
    if let Some(unzip) = pledge_testkit::require!("unzip", pledge_testkit::program("unzip")) {
        unzip_test(&unzip, &path);
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn unzip_test(unzip: &Path, path: &Path) {
    let out = Command::new(unzip).arg("-tq").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "unzip -t: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn refs(files: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect()
}

/// An export's kind of content: JSON, CSV, a non-ASCII table name, an empty file, and one
/// large enough to be compressed on a thread of its own.
fn mixed() -> Vec<(String, Vec<u8>)> {
    let big: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
    vec![
        ("data.json".into(), br#"{"customer":[{"id":1}]}"#.to_vec()),
        (
            "chinook/customer.csv".into(),
            b"id,name\r\n1,Ana\r\n".to_vec(),
        ),
        (
            "chinook/kunde_\u{e4}nderungen.csv".into(),
            "id\r\n\u{e4}\r\n".as_bytes().to_vec(),
        ),
        ("empty.txt".into(), Vec::new()),
        ("big.bin".into(), big),
    ]
}

#[test]
fn an_ordinary_archive_reads_back_elsewhere() {
    let files = mixed();
    check("plain", &files, &archive::zip(&refs(&files)));
}

#[test]
fn zip64_fields_read_back_elsewhere() {
    // The fields an archive over 4 GiB carries, on small entries.
    let files = mixed();
    check("zip64", &files, &archive::zip64(&refs(&files)));
}

#[test]
fn more_than_65535_entries_read_back_elsewhere() {
    // The classic end record counts entries in 16 bits: past that, the zip64 end record
    // holds the count (the archive was a corrupt file before it had one).
    let files: Vec<(String, Vec<u8>)> = (0..70_000)
        .map(|i| (format!("t/{i}.csv"), format!("id\r\n{i}\r\n").into_bytes()))
        .collect();
    let zip = archive::zip(&refs(&files));
    check("many", &files, &zip);
}
