//! A small filesystem that tests can fill: a tmpfs of a fixed size mounted for the test.
//!
//! Mounting needs root (or the capability to mount); where it is not possible,
//! [`SmallDisk::mount`] says why, and a test hands that to [`crate::require!`], which skips
//! with the reason locally and fails in CI.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// A tmpfs mounted at a fresh directory; unmounted and removed when dropped.
pub struct SmallDisk {
    pub dir: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`2M`) at a new directory named after `name` and the
    /// process. `None` (with the reason printed) when it cannot be mounted.
    pub fn mount(name: &str, size: &str) -> Option<SmallDisk> {
        let dir = std::env::temp_dir().join(format!("pledge-{name}-{}", std::process::id()));
        let why = match Self::try_mount(&dir, size) {
            Ok(()) => return Some(SmallDisk { dir }),
            Err(why) => why,
        };
        let _ = std::fs::remove_dir(&dir);
        eprintln!("cannot mount a {size} tmpfs at {}: {why}", dir.display());
        None
    }

    fn try_mount(dir: &PathBuf, size: &str) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} (mounting needs root)",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Writes a file until the filesystem is full; returns its path (remove it to free
    /// the space again).
    pub fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        if let Ok(mut f) = std::fs::File::create(&path) {
            let block = vec![0u8; 4096];
            while f.write_all(&block).is_ok() {}
            let _ = f.sync_all();
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
