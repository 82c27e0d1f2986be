"""
rstar-math Python worker: one warm interpreter that runs untrusted step programs in sandboxed forks.

Started by lib/exec/PythonWorker.ts as `python3 zygote.py '<config json>'`, one per pool slot. It
imports numpy and sympy once, warms them up, then serves programs. Each program runs in a child forked
from this warm process (so `import sympy` costs nothing), in a fresh globals dict, and the child dies
after the one program, taking every process it started with it.

Protocol (newline-delimited JSON): on stdin one job per line
  {"id", "code", "timeout_ms", "memory_bytes", "max_output_bytes"}
and on stdout first {"ready": true, "isolation": {...}, ...} (or {"fatal": "..."}), then one result
line per job: {"id", "ok", "stdout", "stderr", "error", "timed_out", "memory_exceeded",
"output_truncated", "exit_code", "signal", "run_ms"}, with "in_process": true when the program was plain
arithmetic answered here without a fork (see "plain arithmetic" below). Nothing else is ever written to stdout: this
module moves fd 1 away at start, so a stray print cannot corrupt the protocol.

Process tree, per slot (namespaces layer):
  zygote (warm; private mount, network and IPC namespaces)
    `- nest, PID 1 of the slot's PID namespace, forked once (again after a kill); warm like the zygote;
       reaps, reports each program's wait status, and between two programs kills every process in
       the namespace (kill(-1)) and reaps them, so the next program starts in an empty namespace
         `- program: the standby child, forked by the nest (one fork per program) with its own mount
            and IPC namespaces and /dev/shm, sandboxed before its job arrives
A program that runs out of time or output is killed with the whole namespace: SIGKILL to the nest
(from the zygote, outside the namespace) makes the kernel kill everything in it; the next program
gets a new nest. Programs of one slot therefore share a PID namespace one after another, never at
the same time: each starts after everything its predecessor left was killed and reaped.

Isolation layers (the threat model is in lib/exec/README.md; summary):
  'namespaces' (Linux, as root or with unprivileged user namespaces):
    - the zygote enters new mount, network and IPC namespaces once at start: the whole file system is
      re-mounted read-only (mount_setattr, recursive), /tmp becomes a small private tmpfs holding the
      run directories, /root and /home are hidden behind empty tmpfs mounts with only the
      interpreter's own directories bound back, and the network namespace has only a loopback
      interface that is down (no route anywhere, not even to 127.0.0.1 of the host);
    - every program gets its own PID namespace (unshare before fork, setns back after) with its own
      /proc, its own IPC namespace and /dev/shm: it sees no process but its init and its own, and can
      signal nothing outside;
    - as root the program runs as an unprivileged uid of its own (one per pool slot, so the per-uid
      process limit counts only this program); without root it stays root of the user namespace but
      holds no capability. no_new_privs is set either way.
  'rlimits' (fallback when namespaces are unavailable; the ready message says why):
    - own session and process group, killed as a group; a program that calls setsid() itself can
      escape the kill (RLIMIT_CPU still ends it). The network, the process list and the file system
      (subject to ordinary permissions) are visible. As root the uid drop still applies when the
      interpreter is readable by another uid.
  Both: rlimits on address space, processes/threads, CPU seconds, file size, open files and core
  dumps; an environment with nothing from the parent's; stdout+stderr capped (over the cap the program
  is killed); a wall-clock deadline enforced here by SIGKILL (and by the Node side around us).
Left out: seccomp syscall filtering, cgroup limits on the total memory of all of a program's
processes (the bound is processes x address space), and protection against kernel exploits.
"""

import array
import ctypes
import errno
import gc
import json
import os
import resource  # noqa: F401 - imported here so that children do not pay for it
import select
import shutil
import signal
import socket
import sys
import time

# numpy's BLAS would start one thread per core in every worker; programs here are small.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

PROTO_IN = 0
PROTO_OUT = os.dup(1)
os.dup2(2, 1)  # anything printed by accident (warm-up, libraries) goes to our stderr log

CONFIG = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
# Decided before any user namespace makes us "root" inside it: only real root can switch uid.
REAL_ROOT = os.geteuid() == 0
HOST_UID = os.getuid()
LINUX = sys.platform.startswith("linux")
SANDBOX_UID = int(CONFIG.get("uid") or 0) if REAL_ROOT else 0

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added in Linux 5.12)
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
MOUNT_ATTR_RDONLY = 1

# Jobs arriving closer than this after the previous result mean a busy pool: no pre-warming.
DENSE_GAP_S = 0.02

# Exit statuses of a program process that mean "our own setup failed", not "the program did this".
EXIT_SETUP_FAILED = 121


def check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def make_read_only(path):
    attr = MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    ret = libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), os.fsencode(path),
                       ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    check(0 if ret == 0 else -1, "mount_setattr(%s, read-only)" % path)


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(os.fsencode(source) if source else None, os.fsencode(target),
                     fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                     data.encode() if data else None), "mount %s" % target)


def log(msg):
    try:
        os.write(2, ("zygote: %s\n" % msg).encode())
    except OSError:
        pass


def send(obj):
    data = (json.dumps(obj) + "\n").encode()
    view = memoryview(data)
    while view:
        n = os.write(PROTO_OUT, view)
        view = view[n:]


# --- warm-up -------------------------------------------------------------------------------------

def warm_up():
    """Import and exercise what step programs use, so children inherit it loaded and cached."""
    import builtins, cmath, collections, decimal, fractions, functools, io, itertools, linecache  # noqa: F401
    import math, random, re, statistics, string, traceback  # noqa: F401
    import numpy  # noqa: F401
    import sympy
    x, y = sympy.symbols("x y")
    sympy.solve(x ** 2 - 3 * x + 2, x)
    sympy.solve([x + y - 3, x - y - 1], [x, y])
    sympy.simplify(sympy.sin(x) ** 2 + sympy.cos(x) ** 2)
    sympy.factor(x ** 3 - 1), sympy.expand((x + 1) ** 3), sympy.Rational(3, 7) + sympy.sqrt(8)
    sympy.N(sympy.pi, 20), sympy.nsimplify(0.125), sympy.binomial(10, 3), sympy.isprime(97)
    sympy.Eq(x, 1), sympy.Matrix([[1, 2], [3, 4]]).det(), sympy.summation(x, (x, 1, 10))
    numpy.array([1.0, 2.0]).sum(), numpy.linalg.solve(numpy.eye(2), numpy.ones(2))
    return {"python": sys.version.split()[0], "numpy": numpy.__version__, "sympy": sympy.__version__}


# --- isolation set-up (once per zygote) ---------------------------------------------------------

def interpreter_paths():
    """Directories the interpreter reads modules from; they stay visible when homes are hidden."""
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    paths.update(p for p in sys.path if p)
    real = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
    kept = []
    for p in real:
        if not any(p == k or p.startswith(k + "/") for k in kept):
            kept.append(p)
    return kept


def setup_namespaces(disk_bytes):
    """Enter private mount/network/IPC namespaces and build the read-only view. Raises on failure."""
    as_root = REAL_ROOT
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC
    if not as_root:
        flags |= CLONE_NEWUSER
    check(libc.unshare(flags), "unshare(mount, net, ipc%s)" % ("" if as_root else ", user"))
    if not as_root:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write("0 %d 1" % uid)
        with open("/proc/self/gid_map", "w") as f:
            f.write("0 %d 1" % gid)
    mount(None, "/", None, MS_REC | MS_PRIVATE)

    masks = [m for m in ("/root", "/home") if os.path.isdir(m) and not os.path.islink(m)]
    keep = [p for p in interpreter_paths() if any(p == m or p.startswith(m + "/") for m in masks)]
    # Open what we bind back before the masks hide it.
    keep_fds = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in keep]

    make_read_only("/")
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
          "size=%d,nr_inodes=16384,mode=0755" % max(1 << 20, disk_bytes))
    for m in masks:
        mount("tmpfs", m, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for p, fd in keep_fds:
        os.makedirs(p, 0o755, exist_ok=True)
        mount("/proc/self/fd/%d" % fd, p, None, MS_BIND | MS_REC)
        os.close(fd)
    for m in masks:
        make_read_only(m)
    os.chdir("/tmp")
    if not as_root:
        enter_own_pid_namespace()
    return {
        "layer": "namespaces",
        "pid_namespace": True, "network_namespace": True, "mount_namespace": True, "ipc_namespace": True,
        "read_only_root": True, "hidden": masks, "bound_back": keep,
        "privileges": privileges_text(True),
    }


def enter_own_pid_namespace():
    """Without root, the per-program PID namespaces can only be created from a PID namespace that our
    user namespace owns (setns back to the host's is refused): become PID 1 of one. The original
    process stays behind as a plain parent and exits with us; Node kills both as one process group."""
    check(libc.unshare(CLONE_NEWPID), "unshare(pid) for the worker")
    pid = os.fork()
    if pid == 0:
        check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
        return
    for fd in (0, 1, 2, PROTO_OUT):
        os.close(fd)
    status = os.waitpid(pid, 0)[1]
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


# --- per-program child ---------------------------------------------------------------------------

def privileges_text(namespaces):
    if SANDBOX_UID:
        return "uid %d, no capabilities" % SANDBOX_UID
    if namespaces:
        return "root of a user namespace without capabilities (host uid %d)" % HOST_UID
    return "the same user as Node (uid %d)" % HOST_UID


class Standby:
    """A forked child waiting for its program: set up before the program arrives, off the hot path."""
    __slots__ = ("pid", "pidfd", "job_w", "res_r", "out_r", "err_r", "workdir", "status", "reaped", "early",
                 "nest", "nest_token")


def drop_bounding_capabilities():
    """Nothing this process or its children execute can gain a capability back."""
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:
            break
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def drop_capabilities():
    """Clear every capability this process holds, and its bounding set. Used where there is no other
    uid to switch to (a user namespace) and for the init, which keeps uid 0."""
    drop_bounding_capabilities()

    class CapHeader(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class CapData(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header = CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (CapData * 2)()
    check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def child_prepare(st_fds, namespaces, mount_proc=True):
    """In the fresh child, before the job: own session, own /proc, fds in place. Root still."""
    job_r, res_w, out_w, err_w = st_fds
    if LINUX:
        check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    os.setsid()
    if namespaces:
        # Per program: a /proc of its PID namespace, a /dev/shm and System V IPC of its own (so that
        # multiprocessing works, and nothing a program leaves there is seen by the next one).
        check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare(mount, ipc) for the program")
        if mount_proc:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=%d,nr_inodes=1024,mode=1777" % min(CONFIG.get("disk_bytes", 64 << 20), 64 << 20))
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.dup2(res_w, 3)
    os.dup2(job_r, 4)
    # Everything else inherited goes: the protocol pipes, the previous programs' pipes, Node's.
    for name in os.listdir("/proc/self/fd"):
        if int(name) > 4:
            try:
                os.close(int(name))
            except OSError:
                pass


def prewarm_child(serial):
    """Touch, in the waiting child, the objects a typical step touches, so that the copy-on-write
    faults (every incref writes to a page shared with the zygote; about half of a sympy step's cost
    in a fresh fork) happen before the program arrives. The polynomial differs per run, so sympy's
    cache misses and the whole solve path is walked, as a new step's would be."""
    import sympy
    x = sympy.symbols("x")
    k = 3 + serial % 1000
    sympy.solve(x ** 2 - (k + 1) * x + k, x)
    exec(compile("y = [i * 2 for i in range(3)]\nprint(end='')", "<prewarm>", "exec"), {})


def read_job():
    chunks = []
    while True:
        data = os.read(4, 1 << 16)
        if not data:
            break
        chunks.append(data)
    os.close(4)
    return json.loads(b"".join(chunks)) if chunks else None


def vm_size_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def child_sandbox(workdir, namespaces):
    """Still in the standby child, before the job: every limit that does not depend on the job, then
    the privilege drop. From here on nothing in this process is privileged."""
    import resource
    limits = [(resource.RLIMIT_FSIZE, CONFIG.get("disk_bytes", 64 << 20)),
              (resource.RLIMIT_NOFILE, 256), (resource.RLIMIT_CORE, 0)]
    # RLIMIT_NPROC counts every task of the real uid. With a uid of our own that is exactly this
    # program; in a user namespace it is this namespace (the zygote, the program); otherwise it would
    # count all of the user's processes on the machine, so it is left alone (see the README).
    if SANDBOX_UID:
        limits.append((resource.RLIMIT_NPROC, CONFIG.get("process_limit", 64)))
    elif namespaces:
        limits.append((resource.RLIMIT_NPROC, CONFIG.get("process_limit", 64) + 2))
    for res, value in limits:
        resource.setrlimit(res, (value, value))
    os.chdir(workdir)
    if SANDBOX_UID:
        drop_bounding_capabilities()
        os.setgroups([])  # then the uid switch clears the permitted and effective sets
        os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        if os.geteuid() != SANDBOX_UID or os.getuid() != SANDBOX_UID:
            raise OSError("could not drop to uid %d" % SANDBOX_UID)
    elif namespaces:
        drop_capabilities()
    if LINUX:
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    os.umask(0o077)
    os.environ.clear()
    os.environ.update({"HOME": workdir, "TMPDIR": workdir, "PATH": "/usr/local/bin:/usr/bin:/bin",
                       "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    import io
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                                   encoding="utf-8", errors="backslashreplace")
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
                                                   encoding="utf-8", errors="backslashreplace")
    sys.argv = [""]


def child_job_limits(job):
    """The limits that come with the job. Lowering a limit needs no privilege."""
    import resource
    timeout_s = max(1, -(-job["timeout_ms"] // 1000))
    resource.setrlimit(resource.RLIMIT_AS, (vm_size_bytes() + job["memory_bytes"],) * 2)
    # A backstop only: the zygote kills at the wall-clock limit; this catches a zygote that could not.
    resource.setrlimit(resource.RLIMIT_CPU, (timeout_s + 10,) * 2)


def short(text, most=4096):
    """Head and tail of a long text: the report must stay one small line, a traceback within the cap."""
    return text if len(text) <= most else text[:most // 2 - 5] + " ... " + text[-(most // 2 - 5):]


def child_run(source, token):
    """Run one program in a fresh namespace; report through fd 3; never return."""
    import builtins, linecache, traceback
    filename = "<step>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    status = {"done": token, "ok": True, "error": None, "exit_code": 0, "memory": False}
    reserve = bytearray(1 << 20)  # freed on failure, so reporting a MemoryError has room to work
    scope = {"__name__": "__main__", "__builtins__": builtins}
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
        exec(code, scope)
    except SystemExit as e:
        code = e.code
        if code is None or code == 0:
            pass
        else:
            status["ok"] = False
            status["exit_code"] = int(code) if isinstance(code, int) else 1
            status["error"] = "SystemExit: %s" % short(str(code))
            if not isinstance(code, int):
                print(code, file=sys.stderr)  # as the interpreter does for sys.exit("message")
    except BaseException as e:  # noqa: B902 - the program's failure is the result, whatever it is
        del reserve
        scope.clear()
        status["ok"] = False
        status["exit_code"] = 1
        status["memory"] = isinstance(e, MemoryError)
        try:
            text = str(e)
        except BaseException:
            text = "<unprintable %s>" % type(e).__name__
        text = short(text)
        status["error"] = "%s: %s" % (type(e).__name__, text) if text else type(e).__name__
        try:
            sys.stdout.flush()
        except BaseException:
            pass
        try:
            tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
            sys.stderr.write(short("".join(traceback.format_exception(type(e), e, tb)), 60000))
        except BaseException:
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    try:
        # On a line of its own, with the job's token: lines the program itself wrote to fd 3 are
        # not taken for the report. (A program that digs the token out of its own memory can still
        # claim success, as it can by catching its own exception; nothing outside is at stake.)
        os.write(3, ("\n" + json.dumps(status) + "\n").encode())
    except BaseException:
        pass
    os._exit(0)


# --- plain arithmetic, answered without a fork ---------------------------------------------------
#
# Most step programs of a word problem are a few assignments of numbers, arithmetic and a print. Forking
# the warm interpreter costs tens of milliseconds of CPU on a machine with slow fork (about 30 programs/s
# on 2 cores, `rstar bench exec`), the evaluation of such a program a few microseconds. So a program whose
# syntax tree holds nothing but the constructs below is evaluated here by walking the tree with Python's
# own operators: no bytecode of the program runs in this process, no name outside its own assignments
# and a fixed set of pure functions resolves, every number is bounded. It is answered only if it ran to
# its end without an exception and within the limits; anything else (a construct outside the list, an
# unknown name, any exception, a number past the bounds, output past the cap) runs in the sandbox as
# before, so every failure, its message and its traceback are the sandbox's own.
#
# Allowed: assignments to names (`a = b = ...`, `a += ...`), `pass`, expression statements,
# `from fractions import Fraction`, int/float constants, str constants as direct arguments of print,
# + - * / // % and ** (small exponents), unary + and -, and calls without keywords of print, abs, round,
# min, max and (once imported) Fraction. Not allowed, among others: attributes, subscripts, comparisons,
# any other call or import, f-strings, loops, function definitions.

import ast  # noqa: E402
import fractions  # noqa: E402
import operator  # noqa: E402

PLAIN_MAX_SOURCE = 1 << 15
PLAIN_MAX_NODES = 4000
PLAIN_MAX_DEPTH = 40
PLAIN_MAX_BITS = 4096
PLAIN_MAX_EXPONENT = 256


class NotPlain(Exception):
    """The program needs the sandbox."""


PLAIN_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
                ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
PLAIN_FUNCS = {"print", "abs", "round", "min", "max"}


def plain_bounded(v):
    if isinstance(v, bool) or not isinstance(v, (int, float, fractions.Fraction)):
        raise NotPlain()
    if isinstance(v, int) and v.bit_length() > PLAIN_MAX_BITS:
        raise NotPlain()
    if isinstance(v, fractions.Fraction) and max(v.numerator.bit_length(), v.denominator.bit_length()) > PLAIN_MAX_BITS:
        raise NotPlain()
    return v


class PlainProgram:
    def __init__(self, max_output):
        self.env, self.out, self.size, self.max_output = {}, [], 0, max_output

    def value(self, node, depth=0):
        if depth > PLAIN_MAX_DEPTH:
            raise NotPlain()
        t = type(node)
        if t is ast.Constant:
            return plain_bounded(node.value)
        if t is ast.Name:
            if type(node.ctx) is not ast.Load or node.id not in self.env:
                raise NotPlain()
            return self.env[node.id]
        if t is ast.UnaryOp and type(node.op) in (ast.USub, ast.UAdd):
            v = self.value(node.operand, depth + 1)
            return plain_bounded(-v if type(node.op) is ast.USub else +v)
        if t is ast.BinOp and type(node.op) in PLAIN_BINOPS:
            a, b = self.value(node.left, depth + 1), self.value(node.right, depth + 1)
            if type(node.op) is ast.Pow and not isinstance(a, float) and not isinstance(b, float):
                if not isinstance(b, int) or abs(b) > PLAIN_MAX_EXPONENT:
                    raise NotPlain()
                bits = a.bit_length() if isinstance(a, int) else max(a.numerator.bit_length(), a.denominator.bit_length())
                if bits * abs(b) > PLAIN_MAX_BITS:
                    raise NotPlain()
            return plain_bounded(PLAIN_BINOPS[type(node.op)](a, b))
        if t is ast.Call:
            return self.call(node, depth)
        raise NotPlain()

    def call(self, node, depth):
        f = node.func
        if type(f) is not ast.Name or node.keywords or any(type(a) is ast.Starred for a in node.args):
            raise NotPlain()
        name = f.id
        if name == "print":  # assign() refuses these names, so they are always the builtins
            parts = []
            for a in node.args:
                if type(a) is ast.Constant and type(a.value) is str:
                    parts.append(a.value)
                else:
                    parts.append(str(self.value(a, depth + 1)))
            text = " ".join(parts) + "\n"
            self.size += len(text.encode("utf-8", "surrogatepass"))
            if self.size > self.max_output:
                raise NotPlain()
            self.out.append(text)
            return None
        args = [self.value(a, depth + 1) for a in node.args]
        if name == "Fraction" and self.env.get("Fraction") is fractions.Fraction and 1 <= len(args) <= 2:
            return plain_bounded(fractions.Fraction(*args))
        if name not in PLAIN_FUNCS:
            raise NotPlain()
        if name == "abs" and len(args) == 1:
            return plain_bounded(abs(args[0]))
        if name == "round" and len(args) in (1, 2):
            if len(args) == 2 and (not isinstance(args[1], int) or abs(args[1]) > 100):
                raise NotPlain()
            return plain_bounded(round(*args))
        if name in ("min", "max") and len(args) >= 2:
            return plain_bounded((min if name == "min" else max)(*args))
        raise NotPlain()

    def assign(self, name, v):
        if name in PLAIN_FUNCS or name == "Fraction" or name.startswith("__"):
            raise NotPlain()
        self.env[name] = v

    def run(self, tree):
        for st in tree.body:
            t = type(st)
            if t is ast.Assign:
                if not all(type(x) is ast.Name for x in st.targets):
                    raise NotPlain()
                v = self.value(st.value)
                for x in st.targets:
                    self.assign(x.id, v)
            elif t is ast.AugAssign and type(st.target) is ast.Name and type(st.op) in PLAIN_BINOPS:
                fake = ast.BinOp(left=ast.Name(id=st.target.id, ctx=ast.Load()), op=st.op, right=st.value)
                self.assign(st.target.id, self.value(fake))
            elif t is ast.Expr:
                if type(st.value) is ast.Constant and type(st.value.value) is str:
                    continue  # a docstring or a bare string: no effect
                self.value(st.value)
            elif t is ast.Pass:
                continue
            elif (t is ast.ImportFrom and st.module == "fractions" and st.level == 0 and len(st.names) == 1
                  and st.names[0].name == "Fraction" and st.names[0].asname in (None, "Fraction")):
                self.env["Fraction"] = fractions.Fraction
            else:
                raise NotPlain()
        return "".join(self.out)


def run_plain(job):
    """The result of `job` if it is a plain-arithmetic program that ran without error, else None."""
    source = job.get("code")
    if not isinstance(source, str) or len(source) > PLAIN_MAX_SOURCE:
        return None
    t0 = time.monotonic()
    try:
        tree = ast.parse(source, "<step>")
        if sum(1 for _ in ast.walk(tree)) > PLAIN_MAX_NODES:
            return None
        stdout = PlainProgram(job["max_output_bytes"]).run(tree)
    except Exception:  # noqa: BLE001 - NotPlain, or the program fails: the sandbox runs it and reports
        return None
    return {"id": job["id"], "ok": True, "stdout": stdout, "stderr": "", "error": None, "timed_out": False,
            "memory_exceeded": False, "output_truncated": False, "exit_code": 0, "signal": None,
            "run_ms": round((time.monotonic() - t0) * 1000, 3), "in_process": True}


# --- the nest: PID 1 of a slot's namespace ------------------------------------------------------

def send_fds(sock, data, fds):
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def recv_fds(sock, maxfds=4):
    fds = array.array("i")
    msg, ancdata, _, _ = sock.recvmsg(1 << 16, socket.CMSG_LEN(maxfds * fds.itemsize))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)


class NestProgram:
    __slots__ = ("pid", "pidfd", "res_w", "token", "watched")


def nest_report_exit(prog, status):
    """The program's wait status, on its fd 3 as the last line, with the nest's token; then fd 3 closes."""
    if prog.res_w < 0:
        return
    try:
        os.write(prog.res_w, ("\n" + json.dumps({"wait_status": status, "nest": prog.token}) + "\n").encode())
    except OSError:
        pass
    os.close(prog.res_w)
    prog.res_w = -1


def nest_clean(prog, workdir):
    """Kill every process of the namespace but ourselves and reap them all (leftovers of the last
    program are our children once their parents die); then remove the program's directory."""
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if prog is not None and pid == prog.pid:
            nest_report_exit(prog, status)
    if prog is not None:
        nest_report_exit(prog, None)
        if prog.pidfd >= 0:
            os.close(prog.pidfd)
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def nest_fork_program(sock_fd, cmd, fds):
    """Fork the standby child for the next program; the nest keeps fd 3 to report its exit."""
    job_r, res_w, out_w, err_w = fds
    pid = os.fork()
    if pid == 0:
        try:
            os.close(sock_fd)
            libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # the nest is not dumpable; the program is as before
            signal.signal(signal.SIGINT, signal.default_int_handler)
            # Received fds have low numbers (3, 4, ...): move them above 4 first, so that putting
            # them in place (fds 1 to 4) never overwrites one that is still to be moved.
            import fcntl
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds]
            for fd in fds:
                os.close(fd)
            child_prepare(high, True, mount_proc=False)
            child_sandbox(cmd["workdir"], True)
            if cmd.get("prewarm") and not select.select([4], [], [], 0)[0]:
                prewarm_child(cmd.get("serial", 0))
            os.write(3, b"R\n")
            job = read_job()
            if job is None:
                os._exit(0)
            child_job_limits(job)
        except BaseException as e:
            try:
                os.write(3, ("\n" + json.dumps({"setup_error": "%s: %s" % (type(e).__name__, e)}) + "\n").encode())
            finally:
                os._exit(EXIT_SETUP_FAILED)
        child_run(job["code"], job["token"])
    for fd in (job_r, out_w, err_w):
        os.close(fd)
    prog = NestProgram()
    prog.pid, prog.res_w, prog.token, prog.watched = pid, res_w, cmd["token"], False
    prog.pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else -1
    return prog


def nest_main(sock):
    """PID 1 of the slot's PID namespace: forks programs on request, reports their exits, cleans up."""
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    os.setsid()
    # As PID 1 only signals we handle can reach us from inside the namespace: handle none.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Our own mount namespace, for the /proc of this PID namespace; programs copy it.
    check(libc.unshare(CLONE_NEWNS), "unshare(mount) for the nest")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    sock_fd = sock.fileno()
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd != sock_fd:
            try:
                os.close(fd)
            except OSError:
                pass
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # nothing in the namespace may ptrace us
    prog = None
    poller = select.poll()
    poller.register(sock_fd, select.POLLIN)

    def unwatch():
        if prog is not None and prog.watched:
            poller.unregister(prog.pidfd)
            prog.watched = False

    while True:
        # Without a pidfd (Python < 3.9) a running program's exit is noticed by polling every 2 ms.
        polling = prog is not None and prog.pidfd < 0 and prog.res_w >= 0
        events = poller.poll(2 if polling else None)
        if polling:
            pid, status = os.waitpid(prog.pid, os.WNOHANG)
            if pid:
                nest_report_exit(prog, status)
        for fd, _ in events:
            if prog is not None and prog.watched and fd == prog.pidfd:
                unwatch()
                pid, status = os.waitpid(prog.pid, 0)  # readable pidfd: it has exited
                nest_report_exit(prog, status)
            elif fd == sock_fd:
                msg, fds = recv_fds(sock)
                if not msg:
                    os._exit(0)  # the zygote is gone
                cmd = json.loads(msg)
                if cmd["op"] == "clean":
                    unwatch()
                    nest_clean(prog, cmd.get("workdir"))
                    prog = None
                elif cmd["op"] == "prefork":
                    unwatch()
                    prog = nest_fork_program(sock_fd, cmd, fds)
                    if prog.pidfd >= 0:
                        poller.register(prog.pidfd, select.POLLIN)
                        prog.watched = True
                # The other events of this poll may name fds closed (and reused) since: poll again.
                break


# --- the server ----------------------------------------------------------------------------------

class Zygote:
    def __init__(self, namespaces):
        self.namespaces = namespaces
        self.runs = 0
        self.own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) if namespaces else -1
        # The namespaces layer forks programs from the slot's nest (see the module docstring).
        self.nest_pid = None
        self.nest_sock = None
        self.nest_serial = 0

    def start_nest(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        check(libc.unshare(CLONE_NEWPID), "unshare(pid)")
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0:
                check(libc.setns(self.own_pid_ns, CLONE_NEWPID), "setns(pid)")
        if pid == 0:
            try:
                ours.close()
                nest_main(theirs)
            except BaseException:  # noqa: BLE001 - the zygote sees the nest die and starts another
                import traceback
                log("nest failed: %s" % traceback.format_exc())
            os._exit(1)
        theirs.close()
        self.nest_pid, self.nest_sock = pid, ours
        self.nest_serial += 1

    def stop_nest(self):
        """SIGKILL the nest: the kernel kills everything in its PID namespace."""
        if self.nest_pid is None:
            return
        try:
            os.kill(self.nest_pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.nest_pid, 0)
        except ChildProcessError:
            pass
        self.nest_sock.close()
        self.nest_pid, self.nest_sock = None, None

    def prefork_nested(self, prewarm, workdir, child_fds):
        token = os.urandom(8).hex()
        cmd = json.dumps({"op": "prefork", "workdir": workdir, "prewarm": bool(prewarm), "serial": self.runs,
                          "token": token}).encode()
        for attempt in (0, 1):
            if self.nest_pid is None:
                self.start_nest()
            try:
                send_fds(self.nest_sock, cmd, child_fds)
                break
            except OSError:
                self.stop_nest()  # it died; a new one takes the request
                if attempt:
                    raise
        return token

    def prefork(self, prewarm=True):
        self.runs += 1
        if self.namespaces:
            workdir = "/tmp/run-%d" % self.runs
            os.mkdir(workdir, 0o700)
        else:
            import tempfile
            workdir = tempfile.mkdtemp(prefix="rstar-exec-")
        if SANDBOX_UID:
            os.chown(workdir, SANDBOX_UID, SANDBOX_UID)
        job_r, job_w = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if self.namespaces:
            token = self.prefork_nested(prewarm, workdir, [job_r, res_w, out_w, err_w])
            for fd in (job_r, res_w, out_w, err_w):
                os.close(fd)
            st = Standby()
            st.pid, st.job_w, st.res_r, st.out_r, st.err_r, st.workdir = None, job_w, res_r, out_r, err_r, workdir
            st.status, st.reaped, st.early, st.pidfd = None, False, b"", -1
            st.nest, st.nest_token = self.nest_serial, token
            return st
        # The rlimits layer: the program is our own child, in its own session.
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                child_prepare((job_r, res_w, out_w, err_w), False)
                child_sandbox(workdir, False)
                if prewarm and not select.select([4], [], [], 0)[0]:
                    prewarm_child(self.runs)
                os.write(3, b"R\n")  # standby ready; the report, later, is the last line after it
                job = read_job()
                if job is None:
                    os._exit(0)
                child_job_limits(job)
            except BaseException as e:
                try:
                    os.write(3, ("\n" + json.dumps({"setup_error": "%s: %s" % (type(e).__name__, e)}) + "\n").encode())
                finally:
                    os._exit(EXIT_SETUP_FAILED)
            child_run(job["code"], job["token"])
        for fd in (job_r, res_w, out_w, err_w):
            os.close(fd)
        st = Standby()
        st.pid, st.job_w, st.res_r, st.out_r, st.err_r, st.workdir = pid, job_w, res_r, out_r, err_r, workdir
        st.status, st.reaped, st.early = None, False, b""
        st.pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else -1
        st.nest, st.nest_token = None, None
        return st

    def await_standby(self, st, jobs, limit_s=10.0):
        """Wait until the standby child is ready or a job arrives, whichever is first. True if ready."""
        end = time.monotonic() + limit_s
        while not jobs.pending():
            left = end - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([st.res_r, jobs.fd], [], [], left)
            if st.res_r in ready:
                st.early = os.read(st.res_r, 2)  # run() keeps it: a failed setup reports here too
                return st.early == b"R\n"
        return False

    def retire(self, st):
        """A program whose result is sent: have its processes killed and its directory removed before
        the next program's process is forked (the nest does both, in order, before its next fork)."""
        if st.nest is None:
            self.kill(st)
        elif st.nest == self.nest_serial and self.nest_pid is not None:
            try:
                self.nest_sock.send(json.dumps({"op": "clean", "workdir": st.workdir}).encode())
            except OSError:
                self.stop_nest()

    def kill(self, st):
        """SIGKILL the program: its process group, or with the namespaces layer its whole PID namespace
        (by killing the nest, which the next prefork replaces)."""
        if st.nest is not None:
            if st.nest == self.nest_serial:
                self.stop_nest()
            st.reaped = True
            return
        if st.reaped:
            return
        if not self.namespaces:
            try:
                os.killpg(st.pid, signal.SIGKILL)  # its process group (it called setsid)
            except OSError:
                pass
        try:
            os.kill(st.pid, signal.SIGKILL)
        except OSError:
            pass

    def poll_exit(self, st):
        if st.nest is not None:
            return st.reaped
        if not st.reaped:
            pid, status = os.waitpid(st.pid, os.WNOHANG)
            if pid:
                st.reaped, st.status = True, status
        return st.reaped

    def run(self, st, job):
        """Hand `job` to the standby child and watch it. Returns the result line; call finish() next."""
        t0 = time.monotonic()
        deadline = t0 + job["timeout_ms"] / 1000.0
        cap = job["max_output_bytes"]
        token = os.urandom(8).hex()
        payload = memoryview(json.dumps(dict(job, token=token)).encode())
        os.set_blocking(st.job_w, False)
        out, err, res = bytearray(), bytearray(), bytearray(st.early)
        bufs = {st.out_r: out, st.err_r: err, st.res_r: res}
        total = 0
        timed_out = over_output = exited = False
        report = None
        poller = select.poll()
        for fd in bufs:
            poller.register(fd, select.POLLIN)
        poller.register(st.job_w, select.POLLOUT)
        if st.pidfd >= 0:
            poller.register(st.pidfd, select.POLLIN)
        readable = set(bufs)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            # Without a pidfd the child's exit is noticed by polling waitpid every 2 ms (a nest reports
            # it on fd 3).
            wait_ms = remaining * 1000 if st.pidfd >= 0 or st.nest is not None else min(remaining * 1000, 2)
            for fd, _ in poller.poll(max(1, int(wait_ms) + 1)):
                if fd == st.job_w:
                    try:
                        payload = payload[os.write(st.job_w, payload):]
                    except BlockingIOError:
                        continue
                    except OSError:  # the child is gone; its exit is noticed below
                        payload = payload[:0]
                    if not payload:
                        poller.unregister(st.job_w)
                        os.close(st.job_w)
                        st.job_w = -1
                elif fd == st.pidfd:
                    exited = True
                elif fd in readable:
                    total = self.read_into(fd, bufs, readable, poller, st, total, cap)
            if total > cap:
                over_output = True
                break
            report = parse_report(res, token)
            if st.nest is not None and parse_lines(res, "nest", st.nest_token) is not None:
                exited = True
            if report is not None or exited or (st.pidfd < 0 and self.poll_exit(st)):
                break
        if st.job_w >= 0:
            os.close(st.job_w)
            st.job_w = -1
        if timed_out or over_output:
            self.kill(st)
        elif report is None:
            # Exited without a report (os._exit, a signal): in a PID namespace every writer of the
            # pipes is dead once the reaper returns, so reading to the end is bounded.
            self.reap(st)
        total = self.drain(st, bufs, readable, total, cap, wait=report is None and not (timed_out or over_output))
        if report is None:
            report = parse_report(res, token)
        run_ms = (time.monotonic() - t0) * 1000
        status = st.status if st.reaped else None
        if self.namespaces and not (timed_out or over_output):
            # Our status is the init's; the program's is what the init (or the nest) reported.
            waited = parse_lines(res, "nest", st.nest_token) if st.nest is not None else parse_lines(res, "wait_status")
            status = waited["wait_status"] if waited is not None else status
        return build_result(job, report, status, out, err, timed_out, over_output, total > cap, run_ms)

    def read_into(self, fd, bufs, readable, poller, st, total, cap):
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return total
        if not data:
            if poller is not None:
                poller.unregister(fd)
            readable.discard(fd)
            return total
        buf = bufs[fd]
        if fd == st.res_r:
            # Only the last lines matter (the report, the init's wait status): keep the tail, so
            # nothing the program writes to fd 3 can push them out.
            buf += data
            if len(buf) > (1 << 16):
                del buf[:-(1 << 16)]
            return total
        total += len(data)
        room = (cap if fd == st.out_r else min(cap, 1 << 16)) - len(buf)
        if room > 0:
            buf += data[:room]
        return total

    def drain(self, st, bufs, readable, total, cap, wait):
        """Take what is already in the pipes; with `wait`, read to the end for at most 200 ms."""
        end = time.monotonic() + (0.2 if wait else 0)
        for fd in readable:
            os.set_blocking(fd, False)
        while readable:
            ready, _, _ = select.select(list(readable), [], [], max(0, end - time.monotonic()))
            if not ready:
                break
            for fd in ready:
                total = self.read_into(fd, bufs, readable, None, st, total, cap)
        return total

    def reap(self, st):
        if st.reaped or st.nest is not None:
            return st.status
        if st.pidfd >= 0:
            select.select([st.pidfd], [], [], 10)
        for _ in range(1000):
            if self.poll_exit(st):
                return st.status
            time.sleep(0.01)
        log("program process %d did not die after SIGKILL" % st.pid)
        return None

    def finish(self, st):
        """After the result is sent: kill what is left of the program, reap it, remove its directory.
        The next program's process must not start before this, or the last one's processes would
        still count against the slot's RLIMIT_NPROC. (A nest does all of this itself on retire(),
        before its next fork; here only our ends of the pipes close, and the directory goes if the
        nest that ran the program was killed.)"""
        if st.nest is not None:
            for fd in (st.out_r, st.err_r, st.res_r, st.job_w):
                if fd >= 0:
                    os.close(fd)
            if st.nest != self.nest_serial or self.nest_pid is None:
                shutil.rmtree(st.workdir, ignore_errors=True)
            return
        self.kill(st)
        self.reap(st)
        if not self.namespaces:
            try:
                os.killpg(st.pid, signal.SIGKILL)  # whatever of its process group outlived it
            except OSError:
                pass
        for fd in (st.out_r, st.err_r, st.res_r, st.pidfd, st.job_w):
            if fd >= 0:
                os.close(fd)
        import shutil
        shutil.rmtree(st.workdir, ignore_errors=True)


def parse_lines(res, key, value=None):
    """The last complete line of fd 3 that is a JSON object with `key` (equal to `value` if given)."""
    end = bytes(res).rfind(b"\n")
    for line in reversed(bytes(res[:end]).split(b"\n")) if end >= 0 else ():
        if line.startswith(b"{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and key in obj and (value is None or obj[key] == value):
                return obj
    return None


def parse_report(res, token):
    """The program's own report (written after its code ran, with the job's token), or the setup
    failure, once there."""
    report = parse_lines(res, "done", token)
    return report if report is not None else parse_lines(res, "setup_error")


def build_result(job, report, status, out, err, timed_out, over_output, truncated, run_ms):
    exit_code = sig = None
    if status is not None:
        if os.WIFEXITED(status):
            exit_code = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            try:
                sig = signal.Signals(os.WTERMSIG(status)).name
            except ValueError:
                sig = "signal %d" % os.WTERMSIG(status)
    r = {"id": job["id"], "ok": False, "stdout": out.decode("utf-8", "replace"),
         "stderr": err.decode("utf-8", "replace"), "error": None, "timed_out": timed_out,
         "memory_exceeded": False, "output_truncated": truncated, "exit_code": exit_code,
         "signal": sig, "run_ms": round(run_ms, 3)}
    if timed_out:
        r["error"] = "TimeoutError: the program ran longer than %d ms" % job["timeout_ms"]
        r["signal"] = "SIGKILL"
    elif over_output:
        r["error"] = "OutputLimitError: the program wrote more than %d bytes" % job["max_output_bytes"]
        r["signal"] = "SIGKILL"
    elif report is not None and "setup_error" in report:
        r["error"] = "SandboxError: %s" % report["setup_error"]
        r["internal"] = True
    elif report is not None:
        r["ok"] = bool(report.get("ok"))
        r["error"] = None if r["ok"] else str(report.get("error"))
        r["memory_exceeded"] = bool(report.get("memory"))
        r["exit_code"] = report.get("exit_code") if isinstance(report.get("exit_code"), int) else 0
    elif sig == "SIGXCPU":
        r["timed_out"] = True
        r["error"] = "TimeoutError: the program used up its CPU time limit"
    elif sig is not None:
        r["error"] = "KilledError: the program was killed by %s" % sig
    elif exit_code == 0:
        r["ok"] = True  # os._exit(0): it ended on its own terms without an exception
    else:
        r["error"] = "SystemExit: %s" % exit_code
    return r


class LineReader:
    """Job lines from Node, with a look at whether another one is already waiting."""

    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def pending(self):
        return b"\n" in self.buf or bool(select.select([self.fd], [], [], 0)[0])

    def __iter__(self):
        while True:
            while b"\n" not in self.buf:
                data = os.read(self.fd, 1 << 20)
                if not data:
                    return
                self.buf += data
            line, self.buf = self.buf.split(b"\n", 1)
            if line.strip():
                yield line


def self_test(zygote):
    """Run a probe program through the whole sandbox; fail loudly here rather than on every step."""
    probe = "import wave, colorsys, socket\nimport sympy\nprint(sympy.Integer(6) * 7)\n"
    st = zygote.prefork(prewarm=True)
    r = zygote.run(st, {"id": 0, "code": probe, "timeout_ms": 20000, "memory_bytes": 1 << 30,
                        "max_output_bytes": 1 << 16})
    zygote.retire(st)
    zygote.finish(st)
    if not r["ok"] or r["stdout"].strip() != "42":
        raise RuntimeError("the sandbox self-test failed: %s %s" % (r["error"], r["stderr"][-2000:]))


def main():
    global SANDBOX_UID
    if LINUX:
        check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    if CONFIG.get("parent_pid") and os.getppid() != CONFIG["parent_pid"]:
        return  # the Node process died while we started
    # Namespaces first, while this process is certainly single-threaded (unshare refuses some
    # namespaces to a threaded process, and a library could start threads on import).
    wanted = CONFIG.get("isolation", "auto")
    isolation = None
    if wanted != "rlimits":
        if not LINUX:
            reason = "not Linux"
        else:
            try:
                isolation = setup_namespaces(CONFIG.get("disk_bytes", 64 << 20))
            except OSError as e:
                reason = str(e)
        if isolation is None and wanted == "namespaces":
            send({"fatal": "namespace isolation is unavailable: %s" % reason})
            return
    else:
        reason = "rlimits were requested"
    if isolation is None:
        isolation = {"layer": "rlimits", "pid_namespace": False, "network_namespace": False,
                     "mount_namespace": False, "read_only_root": False, "reason": reason,
                     "privileges": privileges_text(False)}
    try:
        versions = warm_up()
    except ImportError as e:
        where = " inside the sandbox (%s layer)" % isolation["layer"] if isolation["layer"] == "namespaces" else ""
        send({"fatal": "cannot import %s%s: %s" % (getattr(e, "name", None) or "a module", where, e)})
        return
    zygote = Zygote(isolation["layer"] == "namespaces")
    try:
        try:
            self_test(zygote)
        except RuntimeError as e:
            if isolation["layer"] != "rlimits" or not SANDBOX_UID:
                raise
            # Without a mount namespace nothing can make an interpreter under a private directory
            # (/root/.pyenv, say) readable to another uid: run as this user, and say so.
            SANDBOX_UID = 0
            isolation["privileges"] = "%s, because an unprivileged uid cannot read the interpreter (%s)" % (
                privileges_text(False), str(e).splitlines()[0][:200])
            self_test(zygote)
    except Exception as e:  # noqa: BLE001 - reported to Node as a fatal start-up error
        send({"fatal": str(e)})
        return
    gc.collect()
    gc.freeze()  # children then do not dirty (copy) every page by touching GC headers
    send({"ready": True, "isolation": isolation, "versions": versions, "pid": os.getpid()})
    # Pre-warming a standby child (see prewarm_child) costs more CPU than it saves the run, so it is
    # only done while programs arrive sparsely, as between two LLM generations: not when a job is
    # already waiting, nor when the last one came within DENSE_GAP_S of the result before it.
    prewarm = bool(CONFIG.get("prewarm", True))
    jobs = LineReader(PROTO_IN)
    standby = zygote.prefork(prewarm)
    standby_ready = zygote.await_standby(standby, jobs)
    if standby_ready:
        send({"standby": True})
    last_sent = None
    in_process = bool(CONFIG.get("in_process", True))
    for line in jobs:
        job = None
        try:
            dense = last_sent is not None and time.monotonic() - last_sent < DENSE_GAP_S
            job = json.loads(line)
            plain = run_plain(job) if in_process else None
            if plain is not None:
                send(plain)  # the standby child stays as it was, waiting for a program that needs it
                last_sent = time.monotonic()
                if not standby_ready:
                    standby_ready = zygote.await_standby(standby, jobs)
                if standby_ready:
                    send({"standby": True})
                continue
            standby_ready = False
            result = zygote.run(standby, job)
            send(result)
            last_sent = time.monotonic()
            finished = standby
            zygote.retire(finished)  # its processes are killed while (or before) the next child is forked
            standby = zygote.prefork(prewarm and not dense and not jobs.pending())
            zygote.finish(finished)
        except Exception as e:  # noqa: BLE001 - a zygote bug must not look like a program failure
            import traceback
            log("internal error: %s" % traceback.format_exc())
            send({"id": job.get("id") if isinstance(job, dict) else None, "internal_error": repr(e)})
            return
        standby_ready = zygote.await_standby(standby, jobs)
        if standby_ready:
            send({"standby": True})
    zygote.kill(standby)


if __name__ == "__main__":
    main()
