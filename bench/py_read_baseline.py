"""Baseline for `fos bench-read`: the same tags read by a Python client, for a side-by-side run.

  python py_read_baseline.py modbus PORT TAGS SECONDS   # pymodbus client, 125 registers per request
  python py_read_baseline.py s7 PORT TAGS SECONDS       # python-snap7 client (libsnap7 in 2.x), DB1 INTs

Reads TAGS consecutive 16-bit tags per cycle, decodes each into a Python int (as a gateway must), and
prints one JSON line: tags/s and the CPU this process used (user+system) per 10,000 tags/s.
"""
import json, resource, struct, sys, time

kind, port, tags, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

if kind == "modbus":
    from pymodbus.client import ModbusTcpClient
    c = ModbusTcpClient("127.0.0.1", port=port)
    assert c.connect()
    def cycle():
        out = []
        for start in range(0, tags, 125):
            n = min(125, tags - start)
            out.extend(c.read_holding_registers(start, count=n, device_id=1).registers)
        return out
    requests = -(-tags // 125)
elif kind == "s7":
    import snap7
    c = snap7.client.Client()
    c.connect("127.0.0.1", 0, 1, port)
    pdu = c.get_pdu_length()
    chunk = pdu - 18  # reply header + item header
    def cycle():
        out = []
        nbytes = 2 * tags
        for start in range(0, nbytes, chunk):
            b = c.db_read(1, start, min(chunk, nbytes - start))
            out.extend(struct.unpack_from(">%dh" % (len(b) // 2), b))
        return out
    requests = -(-(2 * tags) // chunk)
else:
    sys.exit("kind must be modbus or s7")

assert len(cycle()) == tags
reads, c0, t0 = 0, cpu(), time.perf_counter()
while time.perf_counter() - t0 < seconds:
    cycle()
    reads += 1
secs, used = time.perf_counter() - t0, cpu() - c0
tps = reads * tags / secs
print(json.dumps({
    "client": "pymodbus" if kind == "modbus" else "python-snap7 " + __import__("snap7").__version__,
    "tags": tags, "requests_per_read": requests, "reads": reads, "seconds": secs,
    "tags_per_second": tps, "cpu_percent_of_one_core": 100 * used / secs,
    "cpu_percent_per_10k_tags_per_second": 100 * used / secs / (tps / 1e4),
}))
