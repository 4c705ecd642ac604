#!/usr/bin/env python3
"""Shrinks an x86-64 ELF core (from gcore or the kernel) to what hangscan reads, so that it is
a fuzz seed of a hundred kilobytes rather than tens of megabytes: the notes, and of the memory
only each thread's stack top, the page around each thread's first argument (a futex word), the
first page of each mapped file (its build-id) and the vdso.

usage: shrink_core.py CORE OUT [STACK_BYTES]
"""
import struct
import sys

PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_AUXV, NT_FILE = 1, 6, 0x46494C45
AT_SYSINFO_EHDR = 33
PAGE = 4096


def notes(data, offset, size):
    """(type, desc) of each note in data[offset:offset+size]."""
    end = offset + size
    while offset + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from("<III", data, offset)
        desc = offset + 12 + ((namesz + 3) & ~3)
        yield ntype, data[desc : desc + descsz]
        offset = desc + ((descsz + 3) & ~3)


def wanted_ranges(data, note_phdrs, stack_bytes):
    want = []
    for offset, size in note_phdrs:
        for ntype, desc in notes(data, offset, size):
            if ntype == NT_PRSTATUS and len(desc) >= 112 + 20 * 8:
                reg = lambda i: struct.unpack_from("<Q", desc, 112 + 8 * i)[0]
                rsp, rdi = reg(19), reg(14)
                want.append((max(rsp - PAGE, 0), rsp + stack_bytes))
                want.append((rdi & ~(PAGE - 1), (rdi & ~(PAGE - 1)) + PAGE))
            elif ntype == NT_FILE and len(desc) >= 16:
                count = struct.unpack_from("<Q", desc, 0)[0]
                for i in range(min(count, (len(desc) - 16) // 24)):
                    start = struct.unpack_from("<Q", desc, 16 + 24 * i)[0]
                    want.append((start, start + PAGE))
            elif ntype == NT_AUXV:
                for i in range(len(desc) // 16):
                    key, value = struct.unpack_from("<QQ", desc, 16 * i)
                    if key == AT_SYSINFO_EHDR:
                        want.append((value, value + 4 * PAGE))
    return want


def main():
    src, dst = sys.argv[1], sys.argv[2]
    stack_bytes = int(sys.argv[3]) if len(sys.argv) > 3 else 16 * 1024
    data = open(src, "rb").read()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "not an ELF64 file"
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    phdrs = [
        struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)
    ]
    note_phdrs = [(p[2], p[5]) for p in phdrs if p[0] == PT_NOTE]
    want = wanted_ranges(data, note_phdrs, stack_bytes)

    # (phdr fields, bytes) of the output, in the input's order.
    out = []
    for ptype, flags, offset, vaddr, paddr, filesz, memsz, align in phdrs:
        if ptype == PT_NOTE:
            out.append(([ptype, flags, 0, vaddr, paddr, filesz, memsz, align], data[offset : offset + filesz]))
        elif ptype == PT_LOAD and filesz == 0:
            out.append(([ptype, flags, 0, vaddr, paddr, 0, memsz, align], b""))
        elif ptype == PT_LOAD:
            pieces = sorted(
                (max(a, vaddr), min(b, vaddr + filesz)) for a, b in want if a < vaddr + filesz and b > vaddr
            )
            merged = []
            for a, b in pieces:
                if merged and a <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            for a, b in merged:
                body = data[offset + a - vaddr : offset + b - vaddr]
                out.append(([ptype, flags, 0, a, a, len(body), len(body), 1], body))

    header = bytearray(data[:64])
    struct.pack_into("<Q", header, 0x20, 64)  # e_phoff
    struct.pack_into("<Q", header, 0x28, 0)  # e_shoff: no sections
    struct.pack_into("<HHHH", header, 0x36, 56, len(out), 0, 0)  # phentsize, phnum, shentsize, shnum
    struct.pack_into("<H", header, 0x3E, 0)  # e_shstrndx
    at = 64 + 56 * len(out)
    table, bodies = bytearray(), bytearray()
    for fields, body in out:
        at = (at + 7) & ~7
        bodies += b"\0" * (at - 64 - 56 * len(out) - len(bodies))
        fields[2] = at if body else 0
        table += struct.pack("<IIQQQQQQ", *fields)
        bodies += body
        at += len(body)
    open(dst, "wb").write(bytes(header) + bytes(table) + bytes(bodies))


main()
