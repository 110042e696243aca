//! A real ENOSPC: the WAL on a 1 MiB tmpfs. Needs `mount` (root); without it the test skips loudly,
//! and fails when `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

use fos_wal::{Wal, WalError, WalOptions};

struct TmpfsMount {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl TmpfsMount {
    fn new(size: &str) -> Result<Self, String> {
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(TmpfsMount {
            dir,
            _parent: parent,
        })
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn enospc_is_full_and_leaves_the_log_intact() {
    let mnt = match TmpfsMount::new("1m") {
        Ok(m) => m,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and no tmpfs: {why}"
            );
            eprintln!("SKIPPED enospc_is_full_and_leaves_the_log_intact: {why}");
            return;
        }
    };
    let dir = mnt.path().join("wal");
    // No quota: only the file system limits the WAL.
    let opts = WalOptions {
        segment_bytes: 100 << 10,
        ..WalOptions::default()
    };
    let (mut wal, _) = Wal::open(&dir, opts.clone()).unwrap();
    let rec = |seq: u64| vec![(seq % 251) as u8; 10_000];
    let mut fulls = 0;
    let mut appended = 0u64;
    for _ in 0..400 {
        let next = wal.last_seq() + 1;
        match wal.append_batch(&[rec(next), rec(next + 1), rec(next + 2)]) {
            Ok(r) => appended = r.end - 1,
            Err(e @ WalError::Full { quota: None, .. }) => {
                assert!(e.to_string().contains("out of space"), "{e}");
                fulls += 1;
                if fulls == 3 {
                    break;
                }
                // Smaller appends may still fit once; keep going until the disk refuses repeatedly.
                if let Ok(s) = wal.append(&rec(next)) {
                    appended = s;
                }
            }
            Err(e) => panic!("expected Full, got {e}"),
        }
    }
    assert!(fulls > 0, "1 MiB tmpfs never filled");
    assert!(appended > 50, "only {appended} records fitted");
    assert_eq!((wal.last_seq(), wal.durable_seq()), (appended, appended));
    drop(wal);

    // Nothing torn, nothing lost, nothing invented.
    let (mut wal, recovery) = Wal::open(&dir, opts.clone()).unwrap();
    assert_eq!(
        (recovery.last_seq, recovery.truncated_bytes),
        (Some(appended), 0)
    );
    let mut n = 0;
    for r in wal.read_from(1).unwrap() {
        let (seq, p) = r.unwrap();
        assert_eq!(p, rec(seq));
        n += 1;
    }
    assert_eq!(n, appended);

    // The sink drained: space comes back, appends resume.
    assert!(wal.truncate_before(appended + 1).unwrap() > 0);
    let next = wal
        .append_batch(&[rec(appended + 1), rec(appended + 2)])
        .unwrap();
    assert_eq!(next, appended + 1..appended + 3);
    drop(wal);
    let (_, recovery) = Wal::open(&dir, opts).unwrap();
    assert_eq!(recovery.last_seq, Some(appended + 2));
}
