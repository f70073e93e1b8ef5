#!/usr/bin/env python3
"""bench/hardening.py: the clients of bench/hardening.sh (hostile ones and normal ones).

Each subcommand runs against a TFTP or HTTP server and prints one JSON object:

  lockout   HOST PORT FILE SIZE   520 read requests with timeout=255 from 520 ports of
                                  one address, re-sent every 5 s (an attacker filling the
                                  transfer table), while a normal client on another
                                  address fetches FILE every second: its latencies.
  hog       HOST PORT PATH        300 keep-alive connections from one address, each
                                  sending a HEAD every 8 s and reconnecting when closed,
                                  while a normal client on another address GETs PATH
                                  every second: its latencies.
  amplify   HOST PORT FILE        one read request (with or without options), sent
                                  REPEAT times from one port, never acknowledged: what the
                                  server sends back in 12 s (packets, bytes, its ports).
  load      HOST TPORT HPORT ...  N TFTP clients (half lockstep, half windowsize 16) and
                                  M HTTP clients at once, each from its own address, each
                                  copy checked against its SHA-256: failures and time.

Addresses: the attacker uses 127.0.0.1, normal clients 127.0.0.2 and up, load clients
127.1.x.y (a loopback in a private network namespace answers the whole 127/8).
"""
import argparse
import hashlib
import json
import selectors
import socket
import struct
import sys
import threading
import time

OP_RRQ, OP_DATA, OP_ACK, OP_ERROR, OP_OACK = 1, 3, 4, 5, 6


def rrq(name, options=None):
    pkt = struct.pack("!H", OP_RRQ) + name.encode() + b"\0octet\0"
    for key, value in (options or {}).items():
        pkt += key.encode() + b"\0" + str(value).encode() + b"\0"
    return pkt


class TftpFetch:
    """One download, driven by poll(): lockstep or windowed, RRQ resent until answered."""

    def __init__(self, sel, source, server, name, window=1, blksize=1468):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.sock.setblocking(False)
        self.server, self.name = server, name
        self.options = {"blksize": blksize, "tsize": 0}
        if window > 1:
            self.options["windowsize"] = window
        self.blksize, self.window = 512, 1
        self.tid = None
        self.expected = 1  # next DATA block, modulo 65536 on the wire
        self.data = bytearray()
        self.done = self.failed = False
        self.error = ""
        self.started = time.monotonic()
        self.last_heard = self.started
        self.last_ack = None
        self.sel = sel
        sel.register(self.sock, selectors.EVENT_READ, self)
        self.send_request()

    def send_request(self):
        self.sock.sendto(rrq(self.name, self.options), self.server)

    def ack(self, block):
        self.last_ack = struct.pack("!HH", OP_ACK, block & 0xFFFF)
        self.sock.sendto(self.last_ack, self.tid)

    def finish(self, failed, error=""):
        self.done, self.failed, self.error = True, failed, error
        self.seconds = time.monotonic() - self.started
        self.sel.unregister(self.sock)
        self.sock.close()

    def on_readable(self):
        while not self.done:
            try:
                pkt, addr = self.sock.recvfrom(70000)
            except BlockingIOError:
                return
            if self.tid is None:
                self.tid = addr
            elif addr != self.tid:
                continue
            self.last_heard = time.monotonic()
            self.on_packet(pkt)

    def on_packet(self, pkt):
        op = struct.unpack("!H", pkt[:2])[0]
        if op == OP_ERROR:
            self.finish(True, pkt[4:-1].decode(errors="replace"))
        elif op == OP_OACK:
            fields = pkt[2:].split(b"\0")
            opts = dict(zip(fields[0::2], fields[1::2]))
            self.blksize = int(opts.get(b"blksize", 512))
            self.window = int(opts.get(b"windowsize", 1))
            self.ack(0)
        elif op == OP_DATA:
            block = struct.unpack("!H", pkt[2:4])[0]
            if block != self.expected & 0xFFFF:
                if self.last_ack:  # a gap: say where we are (RFC 7440)
                    self.sock.sendto(self.last_ack, self.tid)
                return
            self.data += pkt[4:]
            last = len(pkt) - 4 < self.blksize
            if last or self.expected % self.window == 0:
                self.ack(self.expected)
            self.expected += 1
            if last:
                self.finish(False)

    def on_tick(self, now, timeout):
        if self.done:
            return
        if now - self.started > timeout:
            self.finish(True, "timed out")
        elif now - self.last_heard > 1.0:
            self.last_heard = now
            if self.tid is None:
                self.send_request()  # unanswered: a table full, or a per-source cap
            elif self.last_ack:
                self.sock.sendto(self.last_ack, self.tid)


def run_fetches(sel, fetches, timeout):
    while not all(f.done for f in fetches):
        for key, _ in sel.select(0.05):
            key.data.on_readable()
        now = time.monotonic()
        for f in fetches:
            f.on_tick(now, timeout)


def http_get(source, server, path, method="GET", timeout=30.0):
    """One request on a new connection: (status, body, seconds)."""
    start = time.monotonic()
    with socket.create_connection(server, timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body, time.monotonic() - start


def summary(latencies, failures):
    latencies = sorted(latencies)
    return {
        "fetches": len(latencies),
        "failures": failures,
        "median_s": round(latencies[len(latencies) // 2], 3) if latencies else None,
        "max_s": round(latencies[-1], 3) if latencies else None,
    }


def cmd_lockout(a):
    server = (a.host, a.port)
    sel = selectors.DefaultSelector()
    attackers = []
    for _ in range(a.requests):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        attackers.append(s)
    request = rrq(a.file, {"timeout": 255})  # the longest timeout a client may ask for
    attack_start = time.monotonic()
    for s in attackers:
        s.sendto(request, server)
    sent_in = time.monotonic() - attack_start
    latencies, failures, received = [], 0, 0
    next_resend = attack_start + 5
    next_fetch = time.monotonic()
    fetches = []
    end = attack_start + a.seconds
    while time.monotonic() < end or any(not f.done for f in fetches):
        now = time.monotonic()
        if now >= next_resend and now < end:
            for s in attackers:
                s.sendto(request, server)
            next_resend += 5
        if now >= next_fetch and now < end:
            fetches.append(TftpFetch(sel, "127.0.0.2", server, a.file))  # lockstep, as a PXE ROM
            next_fetch += 1.0
        for key, _ in sel.select(0.02):
            key.data.on_readable()
        for s in attackers:  # drain, never acknowledge
            try:
                while s.recv(70000):
                    received += 1
            except BlockingIOError:
                pass
        for f in fetches:
            f.on_tick(time.monotonic(), 30.0)
    for f in fetches:
        if f.failed or len(f.data) != a.size:
            failures += 1
        else:
            latencies.append(f.seconds)
    out = summary(latencies, failures)
    out.update(attack_requests=a.requests, attack_sent_in_s=round(sent_in, 3),
               packets_to_attacker=received)
    print(json.dumps(out))


def cmd_hog(a):
    server = (a.host, a.port)
    conns, reconnects, latencies, failures = [], 0, [], 0

    def connect():
        s = socket.create_connection(server, timeout=5, source_address=("127.0.0.1", 0))
        s.setblocking(False)
        return s

    for _ in range(a.conns):
        try:
            conns.append(connect())
        except OSError:
            reconnects += 1
    start = time.monotonic()
    next_head = start
    next_fetch = start + 1
    while time.monotonic() - start < a.seconds:
        now = time.monotonic()
        if now >= next_head:  # keep each connection busy enough not to look idle
            for i, s in enumerate(conns):
                try:
                    s.send(f"HEAD {a.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                except OSError:
                    s.close()
                    try:
                        conns[i] = connect()
                        reconnects += 1
                    except OSError:
                        pass
            next_head += 8
        for s in conns:
            try:
                while s.recv(65536):
                    pass
            except (BlockingIOError, OSError):
                pass
        if now >= next_fetch:
            try:
                status, body, secs = http_get("127.0.0.2", server, a.path)
                if status == 200:
                    latencies.append(secs)
                else:
                    failures += 1
            except OSError:
                failures += 1
            next_fetch += 1
        time.sleep(0.05)
    for s in conns:
        s.close()
    out = summary(latencies, failures)
    out.update(attack_connections=a.conns, attacker_reconnects=reconnects)
    print(json.dumps(out))


def cmd_amplify(a):
    server = (a.host, a.port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.3", 0))
    opts = {"blksize": 1468, "tsize": 0, "timeout": 255} if a.options else None
    request = rrq(a.file, opts)
    start = time.monotonic()
    for _ in range(a.repeat):
        s.sendto(request, server)
        time.sleep(0.2)
    packets, nbytes, ports = 0, 0, set()
    s.settimeout(0.5)
    while time.monotonic() - start < a.seconds:
        try:
            pkt, addr = s.recvfrom(70000)
        except socket.timeout:
            continue
        packets += 1
        nbytes += len(pkt)
        ports.add(addr[1])
    print(json.dumps({"options": a.options, "requests": a.repeat, "request_bytes": len(request),
                      "packets": packets, "bytes": nbytes, "server_ports": len(ports),
                      "factor": round(nbytes / (len(request) * a.repeat), 1)}))


def cmd_load(a):
    sel = selectors.DefaultSelector()
    want = {name: hashlib.sha256(open(f"{a.root}/{name}", "rb").read()).hexdigest()
            for name in (a.tftp_file, a.http_file)}
    start = time.monotonic()
    fetches = []
    for i in range(a.tftp_clients):
        source = f"127.1.{i // 250}.{i % 250 + 1}"
        fetches.append(TftpFetch(sel, source, (a.host, a.tftp_port), a.tftp_file,
                                 window=16 if i % 2 else 1))
    http_results = []

    def http_client(i):
        source = f"127.2.{i // 250}.{i % 250 + 1}"
        try:
            status, body, secs = http_get(source, (a.host, a.http_port), "/" + a.http_file,
                                          timeout=120)
            ok = status == 200 and hashlib.sha256(body).hexdigest() == want[a.http_file]
        except OSError:
            ok, secs = False, 0
        http_results.append((ok, secs))

    threads = [threading.Thread(target=http_client, args=(i,)) for i in range(a.http_clients)]
    for t in threads:
        t.start()
    run_fetches(sel, fetches, 300.0)
    for t in threads:
        t.join()
    tftp_bad = sum(1 for f in fetches
                   if f.failed or hashlib.sha256(f.data).hexdigest() != want[a.tftp_file])
    print(json.dumps({
        "tftp_clients": a.tftp_clients, "tftp_failures": tftp_bad,
        "tftp_max_s": round(max(f.seconds for f in fetches), 2),
        "http_clients": a.http_clients,
        "http_failures": sum(1 for ok, _ in http_results if not ok),
        "http_max_s": round(max((s for _, s in http_results), default=0), 2),
        "wall_s": round(time.monotonic() - start, 2),
    }))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    def command(name, *positional, **options):
        parser = sub.add_parser(name)
        for arg in positional:
            parser.add_argument(arg, type=int if "port" in arg or arg == "size" else str)
        for flag, (kind, default) in options.items():
            flag = "--" + flag.replace("_", "-")
            if kind is bool:
                parser.add_argument(flag, action="store_true")
            else:
                parser.add_argument(flag, type=kind, default=default)

    command("lockout", "host", "port", "file", "size", requests=(int, 520), seconds=(float, 30))
    command("hog", "host", "port", "path", conns=(int, 300), seconds=(float, 30))
    command("amplify", "host", "port", "file", options=(bool, False), repeat=(int, 1),
            seconds=(float, 12))
    command("load", "host", "tftp_port", "http_port", "root", "tftp_file", "http_file",
            tftp_clients=(int, 200), http_clients=(int, 100))
    a = p.parse_args()
    {"lockout": cmd_lockout, "hog": cmd_hog, "amplify": cmd_amplify, "load": cmd_load}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
