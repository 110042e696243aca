//! Append throughput: 64 KiB batches (4096 points of 16 bytes) with an fsync per batch
//! (`FsyncPolicy::Always`, the default) and without (`FsyncPolicy::Never`), plain and encrypted
//! (`WalOptions::encryption`, XChaCha20-Poly1305).
//!
//! `cargo bench -p fos-wal --bench append`; the WAL lives in `$FOS_WAL_BENCH_DIR` or the system temp
//! directory, so the figures are those of that file system.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fos_keys::Key;
use fos_wal::{FsyncPolicy, Wal, WalOptions};

const BATCH: usize = 64 << 10;
const POINT: usize = 16;

fn bench_append(c: &mut Criterion) {
    let base = std::env::var_os("FOS_WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let payload: Vec<u8> = (0..BATCH).map(|i| (i * 31) as u8).collect();
    let mut group = c.benchmark_group("wal_append_64KiB");
    group.throughput(Throughput::Bytes(BATCH as u64));
    let key = Key::from_bytes([0x5a; 32]);
    for (name, fsync, encryption) in [
        ("fsync_per_batch", FsyncPolicy::Always, None),
        ("no_fsync", FsyncPolicy::Never, None),
        (
            "encrypted_fsync_per_batch",
            FsyncPolicy::Always,
            Some(key.clone()),
        ),
        ("encrypted_no_fsync", FsyncPolicy::Never, Some(key.clone())),
    ] {
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        let opts = WalOptions {
            fsync,
            encryption,
            ..WalOptions::default()
        };
        let (mut wal, _) = Wal::open(dir.path(), opts).expect("open");
        group.bench_function(name, |b| {
            b.iter(|| {
                let seq = wal.append(&payload).expect("append");
                // Keep the disk bounded like a draining sink would (about every 64 MiB).
                if seq % 1024 == 0 {
                    wal.truncate_before(seq).expect("truncate");
                }
            })
        });
    }
    group.finish();
    eprintln!(
        "(one batch = {} points of {POINT} bytes; points/s = batches/s x {})",
        BATCH / POINT,
        BATCH / POINT
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench_append
}
criterion_main!(benches);
