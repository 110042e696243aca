# S7comm (ISO-on-TCP) server on 127.0.0.1:<port>. Works with python-snap7 2.1.0 (native libsnap7 C++ server)
# and python-snap7 3.x (pure-Python server). DB1 = 256 bytes, MK (merker) = 64 bytes.
import ctypes, sys, time, struct
import snap7
from snap7.type import SrvArea
port = int(sys.argv[1]) if len(sys.argv) > 1 else 10102
db_size = int(sys.argv[2]) if len(sys.argv) > 2 else 256   # bytes of DB1 (benchmarks use more)
srv = snap7.server.Server(log=False)
if snap7.__version__.startswith("2."):
    db1 = (ctypes.c_ubyte * db_size)(); mk = (ctypes.c_ubyte * 64)()
else:
    db1 = bytearray(db_size); mk = bytearray(64)
struct.pack_into(">h", db1, 0, 1234)         # DB1.DBW0 = INT 1234
struct.pack_into(">f", db1, 2, 3.5)          # DB1.DBD2 = REAL 3.5
srv.register_area(SrvArea.DB, 1, db1)
srv.register_area(SrvArea.MK, 0, mk)
srv.start_to("127.0.0.1", port)
print(f"python-snap7 {snap7.__version__} S7 server on 127.0.0.1:{port}", flush=True)
try:
    while True:
        time.sleep(1)
finally:
    srv.stop(); srv.destroy()
