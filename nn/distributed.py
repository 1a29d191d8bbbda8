"""nn.distributed: several processes working on one model, over MPI (PyTorch's `torch.distributed` names).

Each process (a *rank*, numbered 0 .. world_size - 1) runs the same script; they talk through collective
operations, which every rank must call in the same order:

    mpiexec -n 2 python train.py            # two processes on this machine

    import nn.distributed as dist
    dist.init_process_group(backend="mpi")   # rank and world size come from mpiexec
    t = autograd.tensor([float(dist.get_rank())])
    dist.all_reduce(t, op=dist.ReduceOp.SUM) # in place, on every rank: tensor([1.])

The engine underneath is MPI through mpi4py (`pip install "glassgrad[distributed]"` installs both mpi4py and
the MPICH library as wheels); mpi4py is imported only by `init_process_group`, so `import nn` never needs it.
Without mpi4py a script still runs unchanged as a single process (world size 1, with a warning), unless it was
started by an MPI launcher with several processes: then it stops with the pip command that fixes it.

Once several processes are running, an uncaught exception or `sys.exit(code)` with a non-zero code on any
rank aborts the whole job (MPI_Abort, exit status non-zero), so the other ranks, waiting in a collective for
the one that died, do not hang.
"""

from __future__ import annotations

import atexit
import builtins
import enum
import os
import sys
import time
import warnings
from typing import Any

import numpy as np

from autograd import Tensor, from_numpy, no_grad

__all__ = [
    "ReduceOp", "Work", "all_gather", "all_reduce", "barrier", "broadcast", "destroy_process_group", "get_backend",
    "get_rank", "get_world_size", "init_process_group", "is_available", "is_initialized", "is_mpi_available",
    "reduce",
]

INSTALL_HINT = 'pip install "glassgrad[distributed]"   (or: pip install mpi4py mpich)'
# What MPI launchers put in each process's environment: the number of processes they started.
_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")


class ReduceOp(enum.Enum):
    """How `all_reduce` and `reduce` combine the ranks' tensors, elementwise."""

    SUM = "sum"
    AVG = "avg"         # the sum divided by the world size (floating-point tensors only)
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


class _ProcessGroup:
    """The default group: every process of the job. `comm` is mpi4py's COMM_WORLD, or None for the
    single-process fallback (no MPI: every collective is the identity)."""

    def __init__(self, comm: Any, mpi: Any) -> None:
        self.comm, self.mpi = comm, mpi
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        self.previous_excepthook: Any = None
        self.replaced: list[tuple[Any, str, Any]] = []  # (module, name, original) put back by destroy
        self.atexit: Any = None
        self.failing_exit_code = 0  # a non-zero sys.exit code on its way out (see _abort_job_on_...)


_group: _ProcessGroup | None = None


# ---------------------------------------------------------------------------------------------------------------
# Setting up and tearing down
# ---------------------------------------------------------------------------------------------------------------
def _import_mpi() -> Any:
    """mpi4py's MPI module, or an ImportError that says why it cannot be had."""
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError(f"mpi4py is not installed ({err})") from err
    except Exception as err:  # mpi4py is there but found no MPI library to load (RuntimeError, OSError)
        raise ImportError(f"mpi4py could not load an MPI library ({type(err).__name__}: {err})") from err
    return MPI


def is_mpi_available() -> bool:
    """Whether mpi4py and an MPI library can be loaded (the "mpi" backend works)."""
    try:
        _import_mpi()
    except ImportError:
        return False
    return True


def is_available() -> bool:
    """Whether several processes can work together here (mpi4py and an MPI library are installed).
    (Unlike PyTorch's, False does not stop a script: init_process_group then runs it as one process.)"""
    return is_mpi_available()


def _launcher_world_size() -> int:
    """How many processes an MPI launcher says it started (1 when not started by one)."""
    for name in _LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def init_process_group(backend: str | None = "mpi", init_method: str | None = None, timeout: Any = None,
                       world_size: int = -1, rank: int = -1, store: Any = None, group_name: str = "") -> None:
    """Join the job's processes into the default group; rank and world size come from the MPI launcher.

    `backend` must be "mpi" (None means "mpi"). `world_size` and `rank`, if given, must agree with the
    launcher's. `init_method`, `timeout`, `store` and `group_name` are accepted for PyTorch compatibility and
    ignored: MPI's launcher sets the job up, and a failing rank aborts the job instead of timing out.

    Started without `mpiexec`, the script runs as one process (rank 0 of 1); without mpi4py too, with a
    warning. Started by `mpiexec -n N` (N > 1) without mpi4py, it fails with the pip command that fixes it.
    """
    global _group
    if _group is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process group twice! "
                           "Call destroy_process_group() first")
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: backend {backend!r} is not available; this library runs on MPI "
                         "(backend='mpi'), CPU only (PyTorch's 'gloo' and 'nccl' do not exist here)")
    launched = _launcher_world_size()
    try:
        mpi = _import_mpi()
    except ImportError as err:
        if launched > 1:
            raise RuntimeError(f"init_process_group: this process is one of {launched} started by an MPI "
                               f"launcher, but {err}. Install it with:\n    {INSTALL_HINT}") from err
        warnings.warn(f"nn.distributed: {err}; running as a single process (rank 0, world size 1). To train on "
                      f"several processes: {INSTALL_HINT}, then mpiexec -n N python your_script.py",
                      stacklevel=2)
        group = _ProcessGroup(None, None)
    else:
        group = _ProcessGroup(mpi.COMM_WORLD, mpi)
        if group.size == 1 and launched > 1:
            raise RuntimeError(f"init_process_group: the launcher started {launched} processes but MPI sees "
                               "only this one: mpiexec comes from another MPI library than the one mpi4py "
                               f"loaded ({mpi.Get_library_version().splitlines()[0].strip()}). Use the mpiexec "
                               "installed with it (pip's mpich wheel puts one on the PATH)")
    for given, actual, what in ((world_size, group.size, "world_size"), (rank, group.rank, "rank")):
        if given is not None and given not in (-1, actual):
            raise ValueError(f"init_process_group: {what}={given} was given, but the MPI launcher made this "
                             f"process {what} {actual}; leave it out (MPI decides it) or launch accordingly")
    if group.size > 1:
        _abort_job_on_uncaught_exception(group)
    _group = group


def _abort_job_on_uncaught_exception(group: _ProcessGroup) -> None:
    """Make a rank that fails end the job: the others would wait forever in their next collective for a
    partner that is gone, and so would the failing rank itself, in MPI_Finalize at exit (MPICH's is collective).

    - an uncaught exception (KeyboardInterrupt too): the traceback, then MPI_Abort, from `sys.excepthook`;
    - `sys.exit(code)`, `exit(code)` or `quit(code)` with a code other than 0/None (argparse's errors too): the
      code is noted on the way out, and an `atexit` handler, which runs before mpi4py finalizes MPI, aborts
      the job with it. Python gives an atexit handler no exit status, hence the wrappers: a bare
      `raise SystemExit(1)` is not seen (it ends the job only if every other rank also exits).
    `destroy_process_group` puts the originals back."""
    previous = sys.excepthook

    def excepthook(kind: type, value: BaseException, traceback: Any) -> None:
        previous(kind, value, traceback)  # the traceback first, as usual
        _abort(group, f"raised {kind.__name__}", 1)

    def exit_noting_the_code(original: Any) -> Any:
        def exit(status: object = None) -> None:
            code = _exit_code(status)
            if code != 0:
                group.failing_exit_code = code
            original(status)
        exit.__doc__ = getattr(original, "__doc__", None)
        return exit

    def abort_if_exiting_with_an_error() -> None:
        if group.failing_exit_code:
            _abort(group, f"exits with code {group.failing_exit_code}", group.failing_exit_code)

    group.previous_excepthook = previous
    sys.excepthook = excepthook
    group.replaced = [(sys, "exit", sys.exit)]
    sys.exit = exit_noting_the_code(sys.exit)
    for name in ("exit", "quit"):  # site's exit()/quit(): they raise SystemExit themselves, not via sys.exit
        original = getattr(builtins, name, None)
        if original is not None:
            group.replaced.append((builtins, name, original))
            setattr(builtins, name, exit_noting_the_code(original))
    group.atexit = abort_if_exiting_with_an_error
    atexit.register(abort_if_exiting_with_an_error)


def _exit_code(status: object) -> int:
    """The process exit status Python makes of SystemExit(status): None is 0, an int itself, anything else 1
    (it is printed)."""
    if status is None:
        return 0
    if isinstance(status, int):
        return int(status) & 0xFF if status else 0
    return 1


def _abort(group: _ProcessGroup, why: str, code: int) -> None:
    sys.stderr.write(f"nn.distributed: rank {group.rank} {why}; aborting all {group.size} processes "
                     "(MPI_Abort)\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # MPI_Abort kills every process of the job at once, the launcher's output forwarders too: without a
    # pause the traceback was cut after its first line in 2 of 6 runs of the tests (on a busy VM)
    time.sleep(1.0)
    group.comm.Abort(code or 1)


def destroy_process_group(group: Any = None) -> None:
    """Leave the default group (MPI itself is finalized when the process exits); init may be called again."""
    global _group
    _check_group(group, "destroy_process_group")
    current = _require_group("destroy_process_group")
    if current.previous_excepthook is not None:
        sys.excepthook = current.previous_excepthook
    for owner, name, original in current.replaced:
        setattr(owner, name, original)
    if current.atexit is not None:
        atexit.unregister(current.atexit)
    _group = None


def is_initialized() -> bool:
    """Whether init_process_group has been called (and destroy_process_group not since)."""
    return _group is not None


def _require_group(caller: str) -> _ProcessGroup:
    if _group is None:
        raise ValueError(f"{caller}: the default process group has not been initialized; call "
                         "nn.distributed.init_process_group(backend='mpi') first")
    return _group


def _check_group(group: Any, caller: str) -> None:
    if group is not None:
        raise NotImplementedError(f"{caller}: only the default group (group=None, every process) is supported")


def get_backend(group: Any = None) -> str:
    """'mpi' (also in the single-process fallback)."""
    _check_group(group, "get_backend")
    _require_group("get_backend")
    return "mpi"


def get_rank(group: Any = None) -> int:
    """This process's number, 0 .. world_size - 1 (rank 0 usually prints and saves)."""
    _check_group(group, "get_rank")
    return _require_group("get_rank").rank


def get_world_size(group: Any = None) -> int:
    """The number of processes in the job."""
    _check_group(group, "get_world_size")
    return _require_group("get_world_size").size


# ---------------------------------------------------------------------------------------------------------------
# Collectives: every rank calls the same ones in the same order; tensors are changed in place
# ---------------------------------------------------------------------------------------------------------------
class Work:
    """The handle of an asynchronous collective (`async_op=True`): `wait()` blocks until it is done and the
    tensor holds the result."""

    def __init__(self, request: Any = None, finish: Any = None) -> None:
        self._request, self._finish = request, finish

    def wait(self, timeout: Any = None) -> bool:
        if self._request is not None:
            self._request.Wait()
            self._request = None
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        return True

    def is_completed(self) -> bool:
        if self._request is not None and not self._request.Test():
            return False
        self.wait()
        return True


def _check_tensor(tensor: Any, caller: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{caller}: expected a Tensor, got {type(tensor).__name__}")
    return tensor


def _wire_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a tensor travels in: MPI has no float16 (sent as float32) and reduces no bools (uint8)."""
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    return dtype


def _send_buffer(tensor: Tensor) -> np.ndarray:
    """A contiguous array of the tensor's values that MPI may read and overwrite (a copy: the tensor is
    changed only through copy_, so that a backward which saved its array notices the write)."""
    data = tensor.data
    return np.array(data, dtype=_wire_dtype(data.dtype), order="C", copy=True)


def _write_back(tensor: Tensor, values: np.ndarray) -> None:
    with no_grad():
        tensor.copy_(from_numpy(values.astype(tensor.dtype, copy=False)))


def _check_op(op: Any, tensor: Tensor, caller: str) -> None:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{caller}: op must be a ReduceOp (SUM, AVG, PRODUCT, MAX, MIN), got {op!r}")
    if op is ReduceOp.AVG and tensor.dtype.kind not in "fc":
        raise TypeError(f"{caller}: ReduceOp.AVG needs a floating-point tensor, got {tensor.dtype}; "
                        "use ReduceOp.SUM and divide")


def _mpi_op(pg: _ProcessGroup, op: ReduceOp) -> Any:
    mpi = pg.mpi
    return {ReduceOp.SUM: mpi.SUM, ReduceOp.AVG: mpi.SUM, ReduceOp.PRODUCT: mpi.PROD, ReduceOp.MAX: mpi.MAX,
            ReduceOp.MIN: mpi.MIN}[op]


def _reduced(values: np.ndarray, op: ReduceOp, pg: _ProcessGroup) -> np.ndarray:
    """The received sum becomes the average for AVG (a true division, as PyTorch's)."""
    return values / pg.size if op is ReduceOp.AVG else values


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False) -> Work | None:
    """Combine `tensor` elementwise over all ranks with `op`; every rank's tensor receives the result.

        >>> t = autograd.tensor([1.0, 2.0]) * (dist.get_rank() + 1)
        >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)     # on 2 ranks: tensor([3., 6.]) everywhere
    """
    _check_group(group, "all_reduce")
    pg = _require_group("all_reduce")
    _check_op(op, _check_tensor(tensor, "all_reduce"), "all_reduce")
    if pg.comm is None:  # one process: the reduction of one tensor is itself
        return Work() if async_op else None
    values = _send_buffer(tensor)
    mpi_op = _mpi_op(pg, op)

    def finish() -> None:
        _write_back(tensor, _reduced(values, op, pg))

    if async_op:
        return Work(pg.comm.Iallreduce(pg.mpi.IN_PLACE, values, op=mpi_op), finish)
    pg.comm.Allreduce(pg.mpi.IN_PLACE, values, op=mpi_op)
    finish()
    return None


def reduce(tensor: Tensor, dst: int, op: ReduceOp = ReduceOp.SUM, group: Any = None,
           async_op: bool = False) -> Work | None:
    """Like all_reduce, but only rank `dst` receives the result (the others' tensors are left as they were)."""
    _check_group(group, "reduce")
    pg = _require_group("reduce")
    _check_op(op, _check_tensor(tensor, "reduce"), "reduce")
    _check_rank(dst, pg, "reduce", "dst")
    if pg.comm is None:
        return Work() if async_op else None
    values = _send_buffer(tensor)
    mpi_op = _mpi_op(pg, op)
    mine = pg.rank == dst
    send = pg.mpi.IN_PLACE if mine else values

    def finish() -> None:
        if mine:
            _write_back(tensor, _reduced(values, op, pg))

    if async_op:
        return Work(pg.comm.Ireduce(send, values if mine else None, op=mpi_op, root=dst), finish)
    pg.comm.Reduce(send, values if mine else None, op=mpi_op, root=dst)
    finish()
    return None


def _check_rank(rank: Any, pg: _ProcessGroup, caller: str, what: str) -> None:
    if not isinstance(rank, (int, np.integer)) or not 0 <= rank < pg.size:
        raise ValueError(f"{caller}: {what}={rank!r} is not a rank of this job (0 .. {pg.size - 1})")


def broadcast(tensor: Tensor, src: int, group: Any = None, async_op: bool = False) -> Work | None:
    """Copy rank `src`'s tensor into the tensor of every other rank (same shape and dtype on all ranks)."""
    _check_group(group, "broadcast")
    pg = _require_group("broadcast")
    _check_tensor(tensor, "broadcast")
    _check_rank(src, pg, "broadcast", "src")
    if pg.comm is None:
        return Work() if async_op else None
    values = _send_buffer(tensor)

    def finish() -> None:
        if pg.rank != src:
            _write_back(tensor, values)

    if async_op:
        return Work(pg.comm.Ibcast(values, root=src), finish)
    pg.comm.Bcast(values, root=src)
    finish()
    return None


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False) -> Work | None:
    """Fill `tensor_list[r]` with rank r's `tensor`, on every rank (the list holds world_size tensors of the
    tensor's shape and dtype, as PyTorch's; they are written in place).

        >>> parts = [autograd.zeros(3) for _ in range(dist.get_world_size())]
        >>> dist.all_gather(parts, local)
    """
    _check_group(group, "all_gather")
    pg = _require_group("all_gather")
    _check_tensor(tensor, "all_gather")
    if not isinstance(tensor_list, list) or len(tensor_list) != pg.size:
        raise ValueError(f"all_gather: tensor_list must be a list of world_size={pg.size} tensors, got "
                         f"{len(tensor_list) if isinstance(tensor_list, list) else type(tensor_list).__name__}")
    for r, out in enumerate(tensor_list):
        _check_tensor(out, "all_gather")
        if out.shape != tensor.shape:
            raise ValueError(f"all_gather: tensor_list[{r}] has shape {out.shape}, but the tensor sent has shape "
                             f"{tensor.shape}; every entry must have the tensor's shape")
    values = _send_buffer(tensor)
    if pg.comm is None:
        _write_back(tensor_list[0], values)
        return Work() if async_op else None
    gathered = np.empty((pg.size, *values.shape), dtype=values.dtype)

    def finish() -> None:
        for out, part in zip(tensor_list, gathered):
            _write_back(out, part)

    if async_op:
        return Work(pg.comm.Iallgather(values, gathered), finish)
    pg.comm.Allgather(values, gathered)
    finish()
    return None


def barrier(group: Any = None, async_op: bool = False) -> Work | None:
    """Wait until every rank has reached this call."""
    _check_group(group, "barrier")
    pg = _require_group("barrier")
    if pg.comm is None:
        return Work() if async_op else None
    if async_op:
        return Work(pg.comm.Ibarrier())
    pg.comm.Barrier()
    return None


# ---------------------------------------------------------------------------------------------------------------
# For nn.parallel and nn.SyncBatchNorm: collectives on numpy buffers, without copies
# ---------------------------------------------------------------------------------------------------------------
def _all_reduce_sum_array(buffer: np.ndarray) -> float:
    """Sum a contiguous numpy array over all ranks, in place; returns the seconds spent in MPI."""
    pg = _require_group("all_reduce")
    if pg.comm is None or pg.size == 1:
        return 0.0
    start = time.perf_counter()
    pg.comm.Allreduce(pg.mpi.IN_PLACE, buffer, op=pg.mpi.SUM)
    return time.perf_counter() - start


def _all_reduce_sum_array_async(buffer: np.ndarray) -> tuple[Any, float]:
    """Start summing a contiguous numpy array over all ranks, in place (MPI_Iallreduce): the request, to pass
    to `_wait`, and the seconds the call took. The array must not be touched until then."""
    pg = _require_group("all_reduce")
    if pg.comm is None or pg.size == 1:
        return None, 0.0
    start = time.perf_counter()
    request = pg.comm.Iallreduce(pg.mpi.IN_PLACE, buffer, op=pg.mpi.SUM)
    return request, time.perf_counter() - start


def _test(request: Any) -> float:
    """Let MPI advance a started collective (MPI_Test); returns the seconds spent."""
    if request is None:
        return 0.0
    start = time.perf_counter()
    request.Test()
    return time.perf_counter() - start


def _wait(request: Any) -> float:
    """Wait for a started collective to complete; returns the seconds spent waiting."""
    if request is None:
        return 0.0
    start = time.perf_counter()
    request.Wait()
    return time.perf_counter() - start


def _broadcast_array(buffer: np.ndarray, src: int = 0) -> float:
    """Broadcast a contiguous numpy array from `src`, in place; returns the seconds spent in MPI."""
    pg = _require_group("broadcast")
    if pg.comm is None or pg.size == 1:
        return 0.0
    start = time.perf_counter()
    pg.comm.Bcast(buffer, root=src)
    return time.perf_counter() - start


def _all_gather_array(value: np.ndarray) -> np.ndarray:
    """Every rank's `value` (same shape everywhere), stacked along a new first axis."""
    pg = _require_group("all_gather")
    value = np.ascontiguousarray(value)
    if pg.comm is None or pg.size == 1:
        return value[None].copy()
    gathered = np.empty((pg.size, *value.shape), dtype=value.dtype)
    pg.comm.Allgather(value, gathered)
    return gathered
