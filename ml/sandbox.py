"""Running a stranger's program — a submitted model's inference — where it can do no harm (issue 26, item 3).

The process runs under bubblewrap (Debian's `bubblewrap`, the sandbox Flatpak uses): new user, PID, network, IPC
and UTS namespaces (no network at all), a read-only root holding read-only binds of the system's libraries and
this Python environment alone, the files it may read bound read-only one by one (the model, its card, the images to map —
never a reference label), one writable folder for its output, an empty /tmp, no environment but what we set, and
it dies with its parent. Resource limits are set before it starts: CPU seconds (SIGXCPU, then SIGKILL), address
space (a memory bomb gets MemoryError or is killed), output file size (SIGXFSZ), and a wall-clock limit that kills
its process group; the PID namespace and the address-space limit bound how many processes it can start (root is
exempt from RLIMIT_NPROC, so that limit applies only to an unprivileged worker). `run` says which limit ended it.

`Session` keeps one such process for as long as a promoted entry maps for the site (a model of method
"submission"): prepared batches go to it over a pipe and class scores come back, each call within a wall-time
limit and checked (shape, type, finite values); a process that dies, stalls or answers garbage is killed and
raises SandboxError, and is never used again.
"""
from __future__ import annotations

import io
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import PermanentError

SYSTEM = ("/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/alternatives")


class SandboxError(PermanentError):
    """The sandbox cannot run (bubblewrap missing), or a path given to it is wrong."""


@dataclass(frozen=True)
class Limits:
    """What a sandboxed process may use."""

    cpu_seconds: int = 300
    wall_seconds: float = 600.0
    memory_mb: int = 2048
    output_mb: int = 512
    processes: int = 64
    threads: int = 1


@dataclass(frozen=True)
class Outcome:
    """How a sandboxed process ended: its exit status, its output (cut), and which limit ended it, if one did."""

    returncode: int
    stdout: str
    stderr: str
    limit: str | None = None

    @property
    def ok(self) -> bool:
        """It exited 0 within its limits."""
        return self.returncode == 0 and self.limit is None


def bwrap() -> str:
    """The bubblewrap binary; SandboxError when it is not installed."""
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxError("bubblewrap is not installed (apt-get install bubblewrap): strangers' models are not run "
                           "without it")
    return found


def command(argv: Sequence[str], readable: Sequence[Path], writable: Path, limits: Limits) -> list[str]:
    """The bwrap command line running `argv` with only `readable` (read-only) and `writable` bound."""
    args = [bwrap(), "--unshare-all", "--die-with-parent", "--new-session", "--clearenv", "--proc", "/proc",
            "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in SYSTEM:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    for path in {sys.prefix, sys.base_prefix}:  # this Python and its packages, read-only
        args += ["--ro-bind", path, path]
    for given in readable:
        resolved = Path(given).resolve()
        if not resolved.exists():
            raise SandboxError(f"{given} is not there to be read")
        args += ["--ro-bind", str(resolved), str(resolved)]
    place = str(Path(writable).resolve())
    args += ["--bind", place, place, "--remount-ro", "/", "--chdir", "/tmp", "--setenv", "HOME", "/tmp",
             "--setenv", "PATH", "/usr/bin:/bin"]
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "ORT_NUM_THREADS"):
        args += ["--setenv", name, str(limits.threads)]
    return [*args, "--", *argv]


def _limit(limits: Limits) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        memory = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_mb * 2**20, limits.output_mb * 2**20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if os.getuid() != 0:  # root is exempt from it: the PID namespace and RLIMIT_AS bound processes then
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    return apply


def run(argv: Sequence[str], readable: Sequence[Path], writable: Path, limits: Limits = Limits()) -> Outcome:
    """Run `argv` in the sandbox; its Outcome, naming the limit that ended it if one did."""
    proc = subprocess.Popen(command(argv, readable, writable, limits), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", preexec_fn=_limit(limits),
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Outcome(proc.returncode, out[-4000:], err[-4000:], "wall time")
    code = proc.returncode
    limit = None
    if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU) or (code in (-signal.SIGKILL, 128 + signal.SIGKILL)):
        limit = "CPU time"
    elif code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) or "File too large" in err:
        limit = "output size"
    elif "MemoryError" in err or "std::bad_alloc" in err or "Cannot allocate memory" in err:
        limit = "memory"
    return Outcome(code, out[-4000:], err[-4000:], limit)


RUNNER = Path(__file__).with_name("sandbox_runner.py")


def predict(model: Path, card: Path, images: Path, out: Path, limits: Limits = Limits()) -> Outcome:
    """A submitted model's predictions of every image in `images` (bands × H × W .npy) written to `out` by
    `sandbox_runner.py` inside the sandbox: only the model, its card, the images and the runner are readable."""
    out.mkdir(parents=True, exist_ok=True)
    return run([sys.executable, "-I", str(RUNNER), str(Path(model).resolve()), str(Path(card).resolve()),
                str(Path(images).resolve()), str(out.resolve())], [RUNNER, model, card, images], out, limits)


class Session:
    """A submitted model served from inside the sandbox: prepared (N, H, W, bands) float32 batches in, class scores
    (N, H, W, classes) out, over pipes; one call at a time."""

    def __init__(self, model: Path, classes: int, limits: Limits = Limits()):
        self.classes = classes
        self.limits = limits
        self.lock = threading.Lock()
        self.folder = Path(tempfile.mkdtemp(prefix="hrmars-session-"))  # its writable folder: empty, removed after
        self.errors = tempfile.TemporaryFile()
        argv = [sys.executable, "-I", str(RUNNER), "--serve", str(Path(model).resolve()), str(classes)]
        self.proc: subprocess.Popen | None = subprocess.Popen(
            command(argv, [RUNNER, model], self.folder, limits), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.errors, preexec_fn=_limit(limits), start_new_session=True)

    def _write(self, data: bytes, deadline: float) -> None:
        """Send `data` without ever blocking past the deadline (a process that stops reading cannot hang us)."""
        assert self.proc is not None and self.proc.stdin is not None
        fd, view = self.proc.stdin.fileno(), memoryview(data)
        os.set_blocking(fd, False)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                raise self._failed(f"it went over its wall time ({self.limits.wall_seconds:.0f} s for one batch)")
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue
            except OSError:  # a broken pipe: it is gone
                raise self._failed("it stopped") from None

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd, chunks, left = self.proc.stdout.fileno(), [], size
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise self._failed(f"it went over its wall time ({self.limits.wall_seconds:.0f} s for one batch)")
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise self._failed("it stopped")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _failed(self, why: str) -> SandboxError:
        self.errors.seek(0)
        lines = [line for line in self.errors.read().decode(errors="replace").splitlines() if line.strip()]
        self.close()
        return SandboxError(f"the sandboxed model failed: {why}" + (f" ({lines[-1][:300]})" if lines else ""))

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The class scores of one prepared batch; SandboxError when the process cannot give them."""
        with self.lock:
            if self.proc is None:
                raise SandboxError("the sandboxed model was stopped after an earlier failure")
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(batch, np.float32), allow_pickle=False)
            data = buffer.getvalue()
            deadline = time.monotonic() + self.limits.wall_seconds
            self._write(len(data).to_bytes(8, "little") + data, deadline)
            size = int.from_bytes(self._read(8, deadline), "little")
            if size > batch.shape[0] * batch.shape[1] * batch.shape[2] * self.classes * 4 + 4096:
                raise self._failed(f"it answered {size:,} bytes for a batch of {batch.shape}")
            try:
                scores = np.load(io.BytesIO(self._read(size, deadline)), allow_pickle=False)
            except ValueError:
                raise self._failed("it answered something that is not an array") from None
            expected = (*batch.shape[:3], self.classes)
            if scores.shape != expected or scores.dtype != np.float32 or not np.isfinite(scores).all():
                raise self._failed(f"it answered {scores.dtype} {scores.shape} for {expected}")
            return scores

    def close(self) -> None:
        """Stop the process and remove its folder."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter exit anything may already be gone
            pass
