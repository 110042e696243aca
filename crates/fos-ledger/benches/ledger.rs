//! Ledger benchmarks.
//!
//! - `durable_append/{1,64,1024}`: batches of ~300-byte records appended with both fsyncs, in a fresh
//!   ledger under `$FOS_LEDGER_BENCH_DIR` or the system temp directory (so the figure is that file
//!   system's: do not point it at a tmpfs). Throughput is in records/s.
//! - `proofs_1M/*`: inclusion and consistency proof generation and verification in a tree of 1,000,000
//!   synthetic leaves, built once in memory.
//!
//! `cargo bench -p fos-ledger --bench ledger -- --warm-up-time 1 --measurement-time 3`

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use fos_ledger::merkle::{leaf_hash, verify_consistency, verify_inclusion, MerkleTree};
use fos_ledger::Ledger;

const RECORD_LEN: usize = 300;
const TREE_SIZE: u64 = 1_000_000;

/// The file system type of the mount holding `path` (Linux `/proc/mounts`), for the log.
fn fs_type(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else { return "unknown".into() };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mount, ty) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mount).then(|| (mount.len(), format!("{ty} ({mount})")))
        })
        .max()
        .map_or_else(|| "unknown".into(), |(_, t)| t)
}

fn record(i: u64) -> Vec<u8> {
    let mut r = format!(r#"{{"seq":{i},"kind":"write-approved","asset":"press-07","by":"operator-12","value":"#).into_bytes();
    r.resize(RECORD_LEN - 1, b'x');
    r.push(b'}');
    r
}

fn bench_append(c: &mut Criterion) {
    let base: PathBuf = std::env::var_os("FOS_LEDGER_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    eprintln!("durable_append: ledgers under {} on {}", base.display(), fs_type(&base));
    let mut group = c.benchmark_group("durable_append");
    for batch in [1usize, 64, 1024] {
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        let (mut ledger, _) = Ledger::open(dir.path(), SigningKey::from_bytes(&[3; 32]), "fos/bench").expect("open");
        let records: Vec<Vec<u8>> = (0..batch as u64).map(record).collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(batch.to_string(), |b| b.iter(|| ledger.append_batch(&records).expect("append")));
        eprintln!("durable_append/{batch}: {} records, {} checkpoints", ledger.len(), ledger.checkpoint_count());
    }
    group.finish();
}

fn bench_proofs(c: &mut Criterion) {
    let tree = MerkleTree::from_leaf_hashes((0..TREE_SIZE).map(|i| leaf_hash(&i.to_le_bytes())));
    let root = tree.root();
    let mut group = c.benchmark_group("proofs_1M");
    let mut k = 0u64;
    let mut next_index = move || {
        k = k.wrapping_add(1);
        k.wrapping_mul(0x9e37_79b9_7f4a_7c15) % TREE_SIZE
    };
    group.bench_function("inclusion_generate", |b| {
        b.iter_batched(&mut next_index, |i| tree.inclusion_proof(i, TREE_SIZE).expect("proof"), BatchSize::SmallInput)
    });
    let index = 123_457;
    let proof = tree.inclusion_proof(index, TREE_SIZE).expect("proof");
    let leaf = tree.leaf_hash(index).expect("leaf");
    group.bench_function("inclusion_verify", |b| {
        b.iter(|| verify_inclusion(black_box(index), TREE_SIZE, &leaf, &proof, &root).expect("verifies"))
    });
    group.bench_function("consistency_generate", |b| {
        b.iter_batched(
            &mut next_index,
            |old| tree.consistency_proof(old.max(1), TREE_SIZE).expect("proof"),
            BatchSize::SmallInput,
        )
    });
    let old = 654_321;
    let old_root = tree.root_at(old).expect("root");
    let proof = tree.consistency_proof(old, TREE_SIZE).expect("proof");
    group.bench_function("consistency_verify", |b| {
        b.iter(|| verify_consistency(black_box(old), TREE_SIZE, &old_root, &root, &proof).expect("verifies"))
    });
    group.bench_function("root_at", |b| {
        b.iter_batched(&mut next_index, |s| tree.root_at(s).expect("root"), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench_append, bench_proofs
}
criterion_main!(benches);
