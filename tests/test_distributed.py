"""nn.distributed, nn.parallel.DistributedDataParallel, nn.SyncBatchNorm and nn.data.DistributedSampler.

The multi-process tests launch `mpiexec -n 2 python tests/distributed_worker.py ...` (skipped, with the reason,
where mpi4py or mpiexec is missing; `pip install -e ".[test]"` installs both, so CI runs them). The rest runs
in this process on the single-process fallback, without MPI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import autograd
import nn
import nn.distributed as dist
import nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "distributed_worker.py"


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"  # where pip's mpich wheel puts it
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _mpi_missing() -> str | None:
    # asked in a child process: loading MPI here would make the test process an MPI singleton for its lifetime
    probe = subprocess.run([sys.executable, "-c", "import nn.distributed as d; assert d.is_mpi_available()"],
                           env=_env(), capture_output=True, check=False, timeout=120)
    if probe.returncode != 0:
        return "mpi4py or an MPI library is not installed (pip install \"glassgrad[distributed]\")"
    if _mpiexec() is None:
        return "no mpiexec on the PATH (pip install mpich)"
    return None


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


MISSING = _mpi_missing()
# CI installs the [distributed] extra through [test]: there a missing MPI is a failure, not a reason to skip
needs_mpi = pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"), reason=str(MISSING))


def run_ranks(args: list[str], n: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    assert MISSING is None, f"the multi-process tests must run in CI, but {MISSING}"
    return subprocess.run([_mpiexec(), "-n", str(n), sys.executable, *args], env=_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """One launch of 2 ranks running every check; each rank's observations."""
    out = tmp_path_factory.mktemp("ranks")
    result = run_ranks([str(WORKER), "collectives,ddp,unused,sampler", str(out)])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture
def single_process(monkeypatch: pytest.MonkeyPatch):
    """The fallback: mpi4py is made unimportable, the process is not started by a launcher."""
    def no_mpi():
        raise ImportError("mpi4py is not installed (No module named 'mpi4py')")
    monkeypatch.setattr(dist, "_import_mpi", no_mpi)
    for name in dist._LAUNCHER_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if dist.is_initialized():
        dist.destroy_process_group()
    with pytest.warns(UserWarning, match="running as a single process"):
        dist.init_process_group(backend="mpi")
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------------------------
# Two processes
# ---------------------------------------------------------------------------------------------------------------
@needs_mpi
def test_collectives_on_two_ranks(ranks):
    for r, seen in enumerate(ranks):
        c = seen["collectives"]
        assert (c["rank"], c["world_size"], c["initialized"], c["backend"]) == (r, 2, True, "mpi")
        assert c["all_reduce_SUM"] == [3.0, -6.0, 9.0]          # rank r holds (r + 1) * [1, -2, 3]
        assert c["all_reduce_AVG"] == [1.5, -3.0, 4.5]
        assert c["all_reduce_MAX"] == [2.0, -2.0, 6.0]
        assert c["all_reduce_MIN"] == [1.0, -4.0, 3.0]
        assert c["all_reduce_PRODUCT"] == [2.0, 8.0, 18.0]
        assert c["all_reduce_int"] == [[3, 30], "int64"]
        assert c["all_reduce_0d"] == [2.0, "float32"]
        assert c["all_reduce_async"] == [[3.0] * 3] * 2
        assert c["broadcast"] == [[6.0, 6.0], [6.0, 6.0]]     # rank 1's value
        assert c["all_gather"] == [[0.0] * 3, [1.0] * 3]
        assert c["leaf_still_requires_grad"]
    assert ranks[0]["collectives"]["reduce"] == [3.0, 3.0]     # only dst=0 receives the sum
    assert ranks[1]["collectives"]["reduce"] == [2.0, 2.0]


@needs_mpi
@pytest.mark.parametrize("case", ["sgd", "adam", "adam_small_buckets", "sgd_bucket_view"])
def test_ddp_matches_one_process_with_the_whole_batch(ranks, case):
    """2 ranks x 4 samples for 4 steps (SGD with momentum, Adam) end where 1 process x 8 samples ends, to
    float64 rounding; and the two ranks' parameters are bit for bit the same."""
    for seen in ranks:
        assert seen["ddp"][case]["difference"] < 1e-13
    assert ranks[0]["ddp"][case]["params"] == ranks[1]["ddp"][case]["params"]


@needs_mpi
def test_ddp_buckets_follow_bucket_cap_mb(ranks):
    # after the first iteration, in the order the gradients arrived (a layer's weight before its bias)
    assert ranks[0]["ddp"]["sgd"]["buckets"] == [["2.weight", "2.bias", "0.weight", "0.bias"]]  # 25 MB: one
    small = ranks[0]["ddp"]["adam_small_buckets"]["buckets"]  # 1e-4 MB = 104 bytes: 13 float64 values
    assert [name for bucket in small for name in bucket] == ["2.weight", "2.bias", "0.weight", "0.bias"]
    assert len(small) == 4  # 192, 24, 320 and 64 bytes: every parameter past the cap starts a bucket


@needs_mpi
def test_ddp_starts_every_rank_from_rank0_and_wraps_the_module(ranks):
    for seen in ranks:
        assert seen["ddp"]["broadcast_at_construction"] == 0.0
        assert seen["ddp"]["state_dict_keys"] == ["module.0.bias", "module.0.weight", "module.2.bias",
                                                  "module.2.weight"]
        assert seen["ddp"]["module_is_wrapped"]


@needs_mpi
def test_no_sync_accumulates_locally_then_averages_everything(ranks):
    assert ranks[0]["ddp"]["no_sync_grad"] != ranks[1]["ddp"]["no_sync_grad"]  # nothing was sent
    for seen in ranks:
        assert seen["ddp"]["no_sync_difference"] < 1e-13


@needs_mpi
def test_ddp_broadcasts_buffers_at_each_training_forward(ranks):
    first0, second0 = ranks[0]["ddp"]["running_mean_seen"]
    first1, second1 = ranks[1]["ddp"]["running_mean_seen"]
    assert first0 == first1  # broadcast at construction
    assert second0 == second1 and second0 != first0  # rank 0's update, not each rank's own


@needs_mpi
@pytest.mark.parametrize("case", ["sync_bn_1d", "sync_bn_2d"])
def test_sync_batch_norm_normalises_over_all_ranks(ranks, case):
    for seen in ranks:
        result = seen["ddp"][case]
        assert result["converted"] == 1
        assert result["difference"] < 1e-12 and result["stats_difference"] < 1e-12
    assert ranks[0]["ddp"][case]["params"] == ranks[1]["ddp"][case]["params"]


@needs_mpi
def test_find_unused_parameters(ranks):
    for seen in ranks:
        u = seen["unused"]
        assert u["c_grad_is_none"]  # unused by every rank: left as None
        assert u["b_grad_difference"] < 1e-15  # used by rank 0 only: rank 1 contributes zeros to the mean
        assert u["second_iteration_ok"]
        assert u["bucket_view_unused_kept"] == 0.0
        assert "c.weight" in u["unused_error"] and "find_unused_parameters=True" in u["unused_error"]


@needs_mpi
def test_distributed_sampler_partitions_each_epoch(ranks):
    for drop_last, size in ((False, 12), (True, 11)):
        key = f"drop_last={drop_last}"
        parts = [seen["sampler"][key] for seen in ranks]
        assert all(p["len"] == size and p["loader_len"] == 3 for p in parts)
        for epoch in range(2):
            a, b = (p["epochs"][epoch] for p in parts)
            assert len(a) == len(b) == size
            together = a + b
            if drop_last:  # 22 of the 23 indices, each once
                assert len(set(together)) == 22 and set(together) <= set(range(23))
            else:  # all 23, and one repeated to make 24
                assert set(together) == set(range(23)) and len(together) == 24
        assert parts[0]["epochs"][0] != parts[0]["epochs"][1]  # set_epoch reshuffles
        assert parts[0]["loader"] == parts[0]["epochs"][1]  # the DataLoader follows the sampler


@needs_mpi
@pytest.mark.parametrize(("mode", "said", "why"), [("raise", "rank 1 fails on purpose", "raised ValueError"),
                                                   ("exit", "rank 1 exits with sys.exit(1)", "exits with code 1")])
def test_a_rank_that_fails_ends_the_job_instead_of_hanging(tmp_path, mode, said, why):
    """An uncaught exception, and sys.exit(1) (a SystemExit, which skips sys.excepthook), on rank 1 while rank
    0 waits in a collective: the job ends within seconds with a non-zero status (it hung until killed)."""
    start = time.perf_counter()
    result = run_ranks([str(WORKER), mode, str(tmp_path)], timeout=60)
    output = result.stderr + result.stdout
    assert result.returncode != 0
    assert said in output
    assert f"rank 1 {why}; aborting all 2 processes" in output
    assert time.perf_counter() - start < 30


@needs_mpi
def test_without_mpiexec_a_script_runs_as_one_process():
    code = ("import warnings; warnings.simplefilter('error'); import nn.distributed as dist; "
            "dist.init_process_group('mpi'); print(dist.get_rank(), dist.get_world_size())")
    result = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "1"]


@needs_mpi
def test_example_trains_the_digits_cnn_on_two_ranks(tmp_path):
    weights = tmp_path / "digits.safetensors"
    result = run_ranks(["-m", "nn.examples.ddp", "--epochs", "2", "--save", str(weights)], timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "on 2 processes (MPI): global batch 32 = 2 x 16" in result.stdout
    accuracy = float(result.stdout.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 90 and result.stdout.count("test accuracy: ") == 1  # rank 0 alone speaks
    from nn.demo import build_model
    assert set(nn.load(str(weights))) == set(build_model().state_dict())


# ---------------------------------------------------------------------------------------------------------------
# One process: the fallback without MPI, and what needs no second process
# ---------------------------------------------------------------------------------------------------------------
def test_importing_nn_does_not_import_mpi4py():
    code = "import sys, nn, nn.distributed, nn.parallel; print('mpi4py' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "False"


def test_fallback_is_a_world_of_one(single_process):
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_backend() == "mpi"
    t = autograd.tensor([1.0, 2.0])
    for op in dist.ReduceOp:
        dist.all_reduce(t, op=op)
    assert t.tolist() == [1.0, 2.0]
    dist.broadcast(t, src=0)
    parts = [autograd.zeros(2)]
    dist.all_gather(parts, t)
    assert parts[0].tolist() == [1.0, 2.0]
    assert dist.all_reduce(t, async_op=True).wait()
    dist.barrier()
    with pytest.raises(RuntimeError, match="twice"):
        dist.init_process_group()
    with pytest.raises(TypeError, match="ReduceOp.AVG needs a floating-point"):
        dist.all_reduce(autograd.tensor([1, 2]), op=dist.ReduceOp.AVG)
    with pytest.raises(TypeError, match="ReduceOp"):
        dist.all_reduce(t, op="sum")
    with pytest.raises(ValueError, match="src=1 is not a rank"):
        dist.broadcast(t, src=1)
    with pytest.raises(ValueError, match="list of world_size=1"):
        dist.all_gather([], t)
    dist.destroy_process_group()
    assert not dist.is_initialized()


def test_errors_before_init_and_for_other_backends(monkeypatch):
    if dist.is_initialized():
        dist.destroy_process_group()
    with pytest.raises(ValueError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(ValueError, match="has not been initialized"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="num_replicas and rank"):
        nn.data.DistributedSampler(list(range(4)))
    with pytest.raises(ValueError, match="'nccl' is not available"):
        dist.init_process_group(backend="nccl")


def test_launched_by_mpiexec_without_mpi4py_says_how_to_install(monkeypatch):
    def no_mpi():
        raise ImportError("mpi4py is not installed (No module named 'mpi4py')")
    monkeypatch.setattr(dist, "_import_mpi", no_mpi)
    monkeypatch.setenv("PMI_SIZE", "4")
    with pytest.raises(RuntimeError, match=r"(?s)one of 4 started by an MPI launcher.*pip install"):
        dist.init_process_group(backend="mpi")
    assert not dist.is_initialized()


def test_rank_and_world_size_must_agree_with_the_launcher(monkeypatch):
    monkeypatch.setattr(dist, "_import_mpi", lambda: (_ for _ in ()).throw(ImportError("no mpi4py")))
    for name in dist._LAUNCHER_SIZE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="world_size=2 was given"):
        dist.init_process_group(backend="mpi", world_size=2, rank=0)
    assert not dist.is_initialized()


def _mlp(seed: int) -> nn.Module:
    autograd.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double()


def test_ddp_on_one_process_is_the_module(single_process):
    model, reference = _mlp(0), _mlp(0)
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1e-4)
    assert ddp.module is model
    assert ddp.buckets == [["2.bias"], ["2.weight"], ["0.bias"], ["0.weight"]]  # the reverse of parameters()
    x = autograd.randn(5, 4, dtype=autograd.float64)
    y = autograd.tensor([0, 1, 1, 0, 1])
    F.cross_entropy(ddp(x), y).backward()
    # then the order the gradients arrived in during backward, as PyTorch rebuilds them
    assert ddp.buckets == [["2.weight"], ["2.bias"], ["0.weight"], ["0.bias"]]
    F.cross_entropy(reference(x), y).backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(p.grad.data, q.grad.data)
    with ddp.no_sync():
        assert not ddp.require_backward_grad_sync
    assert ddp.require_backward_grad_sync
    assert "DistributedDataParallel" in repr(ddp) and "world_size=1" in repr(ddp)
    with pytest.raises(ValueError, match="device_ids"):
        nn.parallel.DistributedDataParallel(_mlp(0), device_ids=[0])


def test_ddp_first_bucket_is_small_so_its_reduction_starts_early(single_process):
    """As PyTorch's: the first bucket holds at most 1 MB (it is reduced while backward computes the rest),
    the others up to bucket_cap_mb (25 MB)."""
    model = nn.Sequential(nn.Linear(600, 600), nn.ReLU(), nn.Linear(600, 10))  # 0.weight: 1.44 MB of float32
    ddp = nn.parallel.DistributedDataParallel(model)
    assert ddp.buckets == [["2.bias", "2.weight", "0.bias"], ["0.weight"]]
    ddp(autograd.randn(3, 600)).sum().backward()
    assert ddp.buckets == [["2.weight", "2.bias"], ["0.weight", "0.bias"]]  # the bias arrives after the weight


def test_ddp_hooks_after_a_finished_iteration_are_ignored_but_a_gradient_twice_in_one_is_an_error(single_process):
    ddp = nn.parallel.DistributedDataParallel(_mlp(0))
    loss = ddp(autograd.randn(3, 4, dtype=autograd.float64)).sum()
    loss.backward(retain_graph=True)
    loss.backward()  # the iteration's reduction was complete: later hooks are ignored, as in PyTorch

    class TwoBranches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, x: autograd.Tensor) -> autograd.Tensor:
            return self.a(x)  # b gets no gradient: the iteration stays open

    ddp = nn.parallel.DistributedDataParallel(TwoBranches().double())
    loss = ddp(autograd.randn(3, 4, dtype=autograd.float64)).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match=r"parameter a\.(weight|bias) arrived twice"):
        loss.backward()


def test_a_discarded_wrapper_leaves_no_live_hooks(single_process):
    import gc
    import weakref
    model = _mlp(0)
    ref = weakref.ref(nn.parallel.DistributedDataParallel(model))
    gc.collect()
    assert ref() is None
    model(autograd.randn(2, 4, dtype=autograd.float64)).sum().backward()  # the old hooks are silent


def test_sync_batch_norm_on_one_process_is_batch_norm(single_process):
    autograd.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2),
                          nn.BatchNorm1d(2)).double()
    autograd.manual_seed(0)
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(
        nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2),
                      nn.BatchNorm1d(2)).double())
    assert [type(m).__name__ for m in synced] == ["Conv2d", "SyncBatchNorm", "ReLU", "Flatten", "Linear",
                                                  "SyncBatchNorm"]
    x = autograd.randn(6, 1, 4, 4, dtype=autograd.float64)
    plain(x).sum().backward()
    synced(x).sum().backward()
    for p, q in zip(plain.parameters(), synced.parameters()):
        np.testing.assert_allclose(p.grad.data, q.grad.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(plain[1].running_var.data, synced[1].running_var.data, rtol=1e-12)
    bn = nn.BatchNorm1d(4)
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(bn)
    assert isinstance(converted, nn.SyncBatchNorm) and converted.weight is bn.weight
    assert converted.running_mean is bn.running_mean


def test_sync_batch_norm_statistics_sum_across_ranks_with_the_right_gradient(single_process, monkeypatch):
    """The differentiable cross-rank sum, on a pretend world of 2 where the other rank holds the same data: the
    statistics are those of the batch repeated twice, and the gradient of each rank is the sum of both ranks'
    gradients of the shared statistics (here 2x its own), as the chain rule through a shared sum requires."""
    from nn import parallel

    def pretend_two_equal_ranks(buffer: np.ndarray) -> float:
        buffer *= 2
        return 0.0

    monkeypatch.setattr(dist, "_all_reduce_sum_array", pretend_two_equal_ranks)
    local = autograd.tensor([1.0, 2.0], dtype=autograd.float64, requires_grad=True)
    shared, count = parallel._sum_across_ranks(local, 3)
    assert shared.tolist() == [2.0, 4.0] and count == 6
    (shared * autograd.tensor([1.0, 10.0], dtype=autograd.float64)).sum().backward()
    assert local.grad.tolist() == [2.0, 20.0]


def test_distributed_sampler_matches_pytorch():
    torch_data = pytest.importorskip("torch.utils.data")
    for n, replicas, drop_last in ((10, 3, False), (10, 3, True), (2, 4, False), (12, 4, False), (7, 2, True)):
        for rank in range(replicas):
            ours = nn.data.DistributedSampler(list(range(n)), replicas, rank, shuffle=False, drop_last=drop_last)
            theirs = torch_data.DistributedSampler(list(range(n)), replicas, rank, shuffle=False,
                                                   drop_last=drop_last)
            assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, replicas, drop_last, rank)


def test_distributed_sampler_shuffles_the_same_on_every_rank_and_checks_its_arguments():
    orders = [list(nn.data.DistributedSampler(range(9), 3, r, seed=5)) for r in range(3)]
    assert sorted(i for order in orders for i in order) == list(range(9))
    again = [list(nn.data.DistributedSampler(range(9), 3, r, seed=5)) for r in range(3)]
    assert orders == again
    with pytest.raises(ValueError, match="invalid rank 3"):
        nn.data.DistributedSampler(range(9), 3, 3)
    with pytest.raises(ValueError, match="num_replicas"):
        nn.data.DistributedSampler(range(9), 0, 0)


def test_dataloader_takes_a_sampler():
    dataset = nn.data.TensorDataset(np.arange(10.0))
    sampler = nn.data.DistributedSampler(dataset, num_replicas=2, rank=1, shuffle=False)
    loader = nn.data.DataLoader(dataset, batch_size=2, sampler=sampler)
    assert len(loader) == 3
    assert [b.tolist() for (b,) in loader] == [[1.0, 3.0], [5.0, 7.0], [9.0]]
    assert [x.item() for (x,) in nn.data.DataLoader(dataset, batch_size=None, sampler=[3, 1])] == [3.0, 1.0]
    with pytest.raises(ValueError, match="mutually exclusive"):
        nn.data.DataLoader(dataset, sampler=sampler, shuffle=True)
    with pytest.raises(TypeError, match="sampler must be"):
        nn.data.DataLoader(dataset, sampler=5)


@needs_mpi
def test_the_data_parallel_benchmark_runs_end_to_end(tmp_path):
    """Its driver and report (no timings asserted: performance lives in the benchmark, never in tests)."""
    out = tmp_path / "distributed.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "distributed.py"), "--rounds", "1",
                             "--block", "0.01", "--json", str(out)], env=_env(), capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "speedup on 2 ranks" in result.stdout and "inside MPI" in result.stdout
    saved = json.loads(out.read_text())
    assert saved["ranks"] == 2 and set(saved["samples_seconds"]) == {"alone", "together", "ddp", "split",
                                                                      "allreduce"}
