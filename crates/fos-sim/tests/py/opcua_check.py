# Independent OPC UA client (asyncua): reads an asset's vibration block and values, writes the
# CNC offset. usage: opcua_check.py URL ASSET CNC NEW_OFFSET
# prints JSON.
import asyncio, json, sys
from asyncua import Client, ua

async def main(url, asset, cnc, new):
    async with Client(url=url) as c:
        ns = await c.get_namespace_index("urn:fos:sim")
        node = lambda name: c.get_node(f"ns={ns};s={name}")
        block = await node(f"{asset}.vib.block").read_data_value()
        seq = await node(f"{asset}.vib.seq").read_data_value()
        rate = await node(f"{asset}.vib.rate_hz").read_value()
        current = await node(f"{asset}.current_a").read_value()
        off = node(f"{cnc}.tool_offset_mm")
        await off.write_value(ua.DataValue(ua.Variant(new, ua.VariantType.Double)))
        after = await off.read_value()
        try:
            await off.write_value(ua.DataValue(ua.Variant(5.0, ua.VariantType.Double)))
            refused = None
        except ua.UaStatusCodeError as e:
            refused = type(e).__name__
        # Browse: the asset's folder holds its variables.
        folder = node(asset)
        names = sorted([(await ch.read_browse_name()).Name for ch in await folder.get_children()])
        print(json.dumps({
            "ns": ns,
            "len": len(block.Value.Value),
            "head": list(block.Value.Value[:8]),
            "seq": seq.Value.Value,
            "seq_type": seq.Value.VariantType.name,
            "rate": rate,
            "current": current,
            "after": after,
            "refused": refused,
            "children": names,
        }))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
