#!/usr/bin/env python3
"""The pyarrow baseline of bench/ingest_throughput.sh: writes the points of `fos ingest`'s generator
source (tags gen.t0..gen.t{TAGS-1}, one scan per second from 2026-01-01T00:00:00Z, value
fos_pipeline::source::generator_value(scan, tag), quality 0) to Parquet with pyarrow, in the
historian's layout: one file per SCANS_PER_FILE scans (~1 M rows at 10,000 tags), rows sorted by
(tag, time), zstd level 3, tag dictionary-encoded, time DELTA_BINARY_PACKED, value BYTE_STREAM_SPLIT.
Each file is built from the formula (numpy, vectorised), sorted and written; --fsync also fsyncs
every file and the folder. Prints one JSON object per mode: points, wall_s, cpu_s (user + sys of
this process, all threads), bytes.

  python bench/pyarrow_parquet.py --tags 10000 --scans 6000 --out DIR [--modes nofsync,fsync]
  python bench/pyarrow_parquet.py --tags 10000 --scans 6000 --verify FOS_DATA_DIR   # check fos's historian
"""
import argparse
import glob
import json
import os
import resource
import shutil
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z, the generator's default start
INTERVAL_NS = 10**9  # the generator's default interval_ms = 1000


def generator_value(scan, tag):
    """fos_pipeline::source::generator_value, exactly: u64 arithmetic modulo 2^64, then f64."""
    scan = np.asarray(scan, dtype=np.uint64)
    tag = np.asarray(tag, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (scan * np.uint64(2_654_435_761) + tag * np.uint64(40_503)) % np.uint64(1_000_003)
    return (x.astype(np.float64) - 500_000.0) / 64.0 + tag.astype(np.float64)


SCHEMA = pa.schema([
    pa.field("time", pa.timestamp("ns", tz="UTC"), nullable=False),
    pa.field("tag", pa.dictionary(pa.int32(), pa.utf8()), nullable=False),
    pa.field("value", pa.float64(), nullable=False),
    pa.field("quality", pa.uint8(), nullable=False),
])


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def write_all(tags, scans, scans_per_file, out, fsync):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    names = pa.array([f"gen.t{i}" for i in range(tags)], pa.utf8())
    tag_idx = np.arange(tags, dtype=np.uint32)
    rank = np.empty(tags, np.uint32)
    rank[np.argsort(np.array(names.to_pylist(), dtype=object))] = np.arange(tags, dtype=np.uint32)
    w0, c0 = time.perf_counter(), cpu_s()
    phases = {"build": 0.0, "sort": 0.0, "write": 0.0, "fsync": 0.0}
    n = 0
    for f, s0 in enumerate(range(0, scans, scans_per_file)):
        t = time.perf_counter()
        s1 = min(s0 + scans_per_file, scans)
        scan = np.repeat(np.arange(s0, s1, dtype=np.uint64), tags)  # arrival order: scan by scan
        tag = np.tile(tag_idx, s1 - s0)
        times = (START_NS + INTERVAL_NS * scan.astype(np.int64)).view("datetime64[ns]")
        table = pa.table(
            [
                pa.array(times, pa.timestamp("ns", tz="UTC")),
                pa.DictionaryArray.from_arrays(pa.array(tag.astype(np.int32)), names),
                pa.array(generator_value(scan, tag)),
                pa.array(np.zeros(len(tag), np.uint8)),
            ],
            schema=SCHEMA,
        )
        t1 = time.perf_counter()
        # Sort by (tag name, time): arrow cannot sort a dictionary column, so sort by the rank of
        # each row's name (ranks computed once, below) and the time, with numpy.
        table = table.take(pa.array(np.lexsort((scan, rank[tag]))))
        t2 = time.perf_counter()
        path = os.path.join(out, f"part-{f}.parquet")
        pq.write_table(
            table, path, compression="zstd", compression_level=3, row_group_size=1 << 20,
            use_dictionary=["tag", "quality"],
            column_encoding={"time": "DELTA_BINARY_PACKED", "value": "BYTE_STREAM_SPLIT"},
        )
        t3 = time.perf_counter()
        if fsync:
            fd = os.open(path, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        t4 = time.perf_counter()
        phases["build"] += t1 - t
        phases["sort"] += t2 - t1
        phases["write"] += t3 - t2
        phases["fsync"] += t4 - t3
        n += len(table)
    if fsync:
        fd = os.open(out, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    wall, cpu = time.perf_counter() - w0, cpu_s() - c0
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(out, "*.parquet")))
    return {
        "mode": "pyarrow fsync" if fsync else "pyarrow no fsync",
        "points": n, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "bytes": size,
        "files": f + 1, "phases_s": {k: round(v, 3) for k, v in phases.items()},
    }


def verify(tags, scans, data_dir):
    """Counts fos's historian rows and checks one file's every value against the formula."""
    files = sorted(glob.glob(os.path.join(data_dir, "historian", "samples", "**", "*.parquet"), recursive=True))
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in files)
    size = sum(os.path.getsize(p) for p in files)
    t = pq.read_table(files[len(files) // 2]) if files else None
    checked = 0
    if t is not None:
        tag = np.array([int(s.split(".t")[1]) for s in t.column("tag").to_pylist()], np.uint64)
        ns = t.column("time").cast(pa.int64()).to_numpy()
        scan = ((ns - START_NS) // INTERVAL_NS).astype(np.uint64)
        want = generator_value(scan, tag)
        got = t.column("value").to_numpy()
        if not np.array_equal(want.view(np.uint64), got.view(np.uint64)):
            raise SystemExit(f"fos historian values differ from the formula in {files[len(files) // 2]}")
        checked = len(got)
    return {"mode": "fos historian", "files": len(files), "rows": rows, "bytes": size, "values_checked": checked,
            "rows_expected": tags * scans}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tags", type=int, default=10_000)
    ap.add_argument("--scans", type=int, default=6000)
    ap.add_argument("--scans-per-file", type=int, default=0, help="default: ~1 M rows per file")
    ap.add_argument("--out", default="/tmp/fos-bench-ingest/pyarrow")
    ap.add_argument("--modes", default="nofsync,fsync")
    ap.add_argument("--verify", metavar="FOS_DATA_DIR")
    a = ap.parse_args()
    if a.verify:
        print(json.dumps(verify(a.tags, a.scans, a.verify)))
        return
    spf = a.scans_per_file or max(1, (1 << 20) // a.tags)
    for m in a.modes.split(","):
        print(json.dumps(write_all(a.tags, a.scans, spf, a.out, m == "fsync")), flush=True)


if __name__ == "__main__":
    main()
