# Minimal pymodbus 3.16 TCP server on 127.0.0.1:15020 (unit id 1, 100 of each table unless argv[2] says)
import logging, sys
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartTcpServer
port = int(sys.argv[1]) if len(sys.argv) > 1 else 15020
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100   # registers/coils per table (benchmarks use more)
dev = ModbusDeviceContext(
    di=ModbusSequentialDataBlock(1, [False]*n),
    co=ModbusSequentialDataBlock(1, [False]*n),
    hr=ModbusSequentialDataBlock(1, [i % 65536 for i in range(n)]),
    ir=ModbusSequentialDataBlock(1, [(i*10) % 65536 for i in range(n)]),
)
ctx = ModbusServerContext(devices={1: dev}, single=False)
logging.basicConfig(level=logging.WARNING)
StartTcpServer(ctx, address=("127.0.0.1", port))
