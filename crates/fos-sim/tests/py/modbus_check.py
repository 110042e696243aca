# Independent Modbus client (pymodbus): reads registers, decodes them itself, writes an f32.
# usage: modbus_check.py PORT IR_START IR_COUNT HR_ADDR NEW_F32
# prints JSON: {"ir": [...words...], "f32": [...decoded pairs...], "before": x, "after": y}
import json, struct, sys
from pymodbus.client import ModbusTcpClient

port, ir_start, ir_count, hr, new = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
c = ModbusTcpClient("127.0.0.1", port=port)
assert c.connect(), "cannot connect"

def f32(words):
    return struct.unpack(">f", struct.pack(">HH", words[0], words[1]))[0]

r = c.read_input_registers(ir_start, count=ir_count, device_id=1)
assert not r.isError(), r
words = list(r.registers)
before = f32(c.read_holding_registers(hr, count=2, device_id=1).registers)
hi, lo = struct.unpack(">HH", struct.pack(">f", new))
w = c.write_registers(hr, [hi, lo], device_id=1)
assert not w.isError(), w
after = f32(c.read_holding_registers(hr, count=2, device_id=1).registers)
# A value the controller refuses: exception 0x03 (Illegal Data Value).
hi, lo = struct.unpack(">HH", struct.pack(">f", 5.0))
bad = c.write_registers(hr, [hi, lo], device_id=1)
refused = bad.isError() and getattr(bad, "exception_code", None) == 3
c.close()
print(json.dumps({"ir": words, "f32": [f32(words[i:i + 2]) for i in range(0, len(words) - 1, 2)],
                  "before": before, "after": after, "refused": refused}))
