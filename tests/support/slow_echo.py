"""Answers ICMP echo requests late: a host on a slow path, for the ping
check's tests (tc netem, the usual way to add delay, is not built into
this kernel). Run inside a test's own network namespace, whose kernel
answers no echo itself (net.ipv4.icmp_echo_ignore_all=1).

    slow_echo.py SECONDS

Prints "ready" once it listens; stops when killed.
"""

import socket
import struct
import sys
import threading


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def main():
    delay = float(sys.argv[1])
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("ready", flush=True)
    while True:
        packet, (source, _) = raw.recvfrom(2048)
        icmp = bytearray(packet[(packet[0] & 0x0F) * 4 :])
        if len(icmp) < 8 or icmp[0] != 8:
            continue
        icmp[0] = 0
        icmp[2:4] = b"\0\0"
        icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
        threading.Timer(delay, raw.sendto, (bytes(icmp), (source, 0))).start()


main()
