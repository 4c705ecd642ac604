# Run inside gdb (gdb -batch -x unwind_seeds.py EXE CORE) with SEED_OUT (a directory) and
# SEED_NAME (a file name prefix) in the environment: writes `unwind_symbolize` seeds (the layout
# is `UNWIND_HEAD` in fuzz/fuzz_targets/common.rs), one per frame of every thread that is in the
# executable: the registers gdb unwound to that frame, the stack from there up, and the
# executable's bytes where the process mapped it, once as a file and once as copied bytes.
import os
import struct

import gdb

REGS = "rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip".split()
STACK_BYTES = 16 * 1024
RED_ZONE = 128

out_dir = os.environ["SEED_OUT"]
prefix = os.environ["SEED_NAME"]
exe = os.path.realpath(gdb.current_progspace().filename)
obj = open(exe, "rb").read()


def base_of(path):
    """Where the file's offset 0 is mapped, from `info proc mappings`."""
    for line in gdb.execute("info proc mappings", to_string=True).splitlines():
        cols = line.split()
        if len(cols) >= 5 and cols[-1] == path and cols[0].startswith("0x"):
            offset = int(cols[3], 16)
            if offset == 0:
                return int(cols[0], 16)
    raise gdb.GdbError("no mapping of %s at offset 0" % path)


def reg(frame, name):
    try:
        value = frame.read_register(name)
        return 0 if value.is_optimized_out else int(value) & (2**64 - 1)
    except gdb.error:
        return 0


def stack_at(sp):
    inferior = gdb.selected_inferior()
    start, size = sp - RED_ZONE, STACK_BYTES
    while size >= 256:
        try:
            return start, bytes(inferior.read_memory(start, size))
        except gdb.MemoryError:
            size //= 2
    return start, b""


base = base_of(exe)
count = 0
for thread in gdb.selected_inferior().threads():
    thread.switch()
    frame = gdb.newest_frame()
    depth = 0
    while frame is not None and depth < 32:
        if base <= frame.pc() < base + len(obj):
            regs = [reg(frame, r) for r in REGS]
            stack_start, stack = stack_at(regs[REGS.index("rsp")])
            for is_file in (1, 0):
                head = struct.pack("<17Q", *regs)
                head += struct.pack("<QQQIB", base, 0, stack_start, len(obj), is_file)
                name = "%s-t%d-f%d-%s" % (prefix, thread.num, depth, "file" if is_file else "bytes")
                with open(os.path.join(out_dir, name), "wb") as f:
                    f.write(head + obj + stack)
                count += 1
        frame = frame.older()
        depth += 1
print("%s: %d unwind seeds" % (prefix, count))
