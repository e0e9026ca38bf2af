#!/usr/bin/env python3
"""HL7 v2 MLLP peer for emr-harness tests: answers every message with an AA ACK (python-hl7 0.4.5).

Usage: hl7_ack_server.py [HOST] [PORT]   (default 127.0.0.1 2575)
One connection carries any number of messages. A frame that does not parse as HL7 (or bytes that are
not MLLP-framed) makes the server log the error and close that connection without an ACK; the server
keeps accepting new connections.
"""
import asyncio
import sys

import hl7
from hl7.mllp import start_hl7_server


async def handle(reader, writer):
    peer = writer.get_extra_info("peername")
    try:
        while not reader.at_eof():
            msg = await reader.readmessage()
            writer.writemessage(msg.create_ack("AA"))  # MSA-2 = the message's MSH-10
            await writer.drain()
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():  # EOF in the middle of a frame
            print(f"hl7-peer: {peer}: connection closed mid-frame ({len(e.partial)} bytes)", file=sys.stderr)
    except Exception as e:  # not MLLP, not HL7, no MSH, bad encoding, ...
        print(f"hl7-peer: {peer}: {type(e).__name__}: {e}; closing without ACK", file=sys.stderr)
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    server = await start_hl7_server(handle, host, port, encoding="utf-8")
    print(f"hl7-peer: listening on {host}:{port} (python-hl7 {hl7.__version__})", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0] if args else "127.0.0.1", int(args[1]) if len(args) > 1 else 2575))
