#!/usr/bin/env python3
"""tests/lib/free_port.py - prints a TCP port on 127.0.0.1 that a test can use.

Asking the kernel for port 0 hands out a port of the ephemeral range, which the
kernel also gives to outgoing connections: between this script closing it and
the test's server binding it, a parallel test's client could take it ("Address
already in use"). So the port is drawn at random below the ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range) and is returned only if it binds now.
Two parallel tests drawing the same port stay possible but rare; city.sh
retries its setup on that.
"""
import random
import socket


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def main():
    high = min(ephemeral_low(), 65536) - 1
    low = 20000 if high > 21000 else 1025
    for _ in range(200):
        port = random.randint(low, high)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        print(port)
        return 0
    # every draw was taken: fall back to the kernel's choice
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
