#!/usr/bin/env python3
"""HL7 v2 MLLP peer for emr-harness tests, on hl7apy's own MLLP server (hl7apy 1.3.5).

Usage: hl7apy_server.py [HOST] [PORT]   (default 127.0.0.1 2577)
hl7apy's server closes the connection after every message, as several interface engines do: a
client must reconnect for each message. Every message is answered AA, with MSA-2 = its MSH-10.
"""
import sys
import time

import hl7apy
from hl7apy.mllp import AbstractHandler, MLLPServer


class Ack(AbstractHandler):
    def reply(self):
        segments = [s for s in self.incoming_message.replace("\n", "\r").split("\r") if s]
        msh = segments[0]
        sep = msh[3]
        f = msh.split(sep)
        field = lambda n: f[n - 1] if len(f) >= n else ""  # MSH-n (MSH-1 is the separator)
        trigger = field(9).split(msh[4])[1] if msh[4] in field(9) else ""
        ack = sep.join([
            "MSH", msh[4:8], field(5), field(6), field(3), field(4),
            time.strftime("%Y%m%d%H%M%S"), "", f"ACK{msh[4]}{trigger}{msh[4]}ACK",
            "HLAPY" + field(10), "P", field(12),
        ])
        return f"\x0b{ack}\rMSA{sep}AA{sep}{field(10)}\r\x1c\r"


class Every(dict):
    """Routes every message type to the same handler."""

    def __getitem__(self, key):
        return (Ack,)

    def __contains__(self, key):
        return True


if __name__ == "__main__":
    args = sys.argv[1:]
    host = args[0] if args else "127.0.0.1"
    port = int(args[1]) if len(args) > 1 else 2577
    server = MLLPServer(host, port, Every())
    print(f"hl7apy-peer: listening on {host}:{port} (hl7apy {getattr(hl7apy, '__version__', '1.3.x')})",
          file=sys.stderr, flush=True)
    server.serve_forever()
