"""Randomness: generators (seeding, state, independence), every random call's generator=, the statistics of each
distribution (fixed seeds, so these tests are deterministic), multinomial, the in-place initialisers, and
reproducible data loading. PyTorch's errors and output dtypes are compared with PyTorch's own where it is
installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
import nn
import nn.functional as F
from autograd import random as R
from nn.data import (
    DataLoader,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)

stats = pytest.importorskip("scipy.stats")


def gen(seed: int) -> ag.Generator:
    return ag.Generator().manual_seed(seed)


def chi_square_p(counts: np.ndarray, probs: np.ndarray) -> float:
    """p-value of observed category counts against probabilities (all probabilities positive)."""
    counts = np.asarray(counts, dtype=np.float64)
    return stats.chisquare(counts, counts.sum() * np.asarray(probs) / np.sum(probs)).pvalue


def within(sample_mean: float, mean: float, sd: float, n: int, k: float = 4.0) -> bool:
    """The sample mean of n draws is within k standard errors of the true mean."""
    return abs(sample_mean - mean) <= k * sd / math.sqrt(n)


# --- generators -------------------------------------------------------------------------------------------------
def test_generator_seeding_returns_the_generator_and_repeats_the_stream():
    g = ag.Generator()
    assert g.manual_seed(42) is g and g.initial_seed() == 42
    a = ag.randn(5, generator=g)
    g.manual_seed(42)
    assert np.array_equal(ag.randn(5, generator=g).numpy(), a.numpy())
    assert not np.array_equal(ag.randn(5, generator=g).numpy(), a.numpy())  # the stream moves on


def test_a_seed_gives_numpys_stream():
    # seeding with s gives np.random.default_rng(s)'s numbers: seeded code written against numpy keeps them
    assert np.array_equal(ag.rand(4, generator=gen(7), dtype=ag.float64).numpy(), np.random.default_rng(7).random(4))


def test_a_new_generator_starts_from_pytorchs_default_seed():
    assert ag.Generator().initial_seed() == 67280421310721
    fresh, seeded = ag.rand(3, generator=ag.Generator()), ag.rand(3, generator=gen(67280421310721))
    assert np.array_equal(fresh.numpy(), seeded.numpy())
    torch = pytest.importorskip("torch")
    assert torch.Generator().initial_seed() == ag.Generator().initial_seed()


def test_seed_values_as_pytorch():
    assert gen(-1).initial_seed() == 2**64 - 1  # two's complement, as PyTorch
    assert gen(2**64 - 1).initial_seed() == 2**64 - 1
    assert np.array_equal(ag.rand(3, generator=gen(-1)).numpy(), ag.rand(3, generator=gen(2**64 - 1)).numpy())
    with pytest.raises(RuntimeError, match="seed must be within range"):
        gen(2**64)
    with pytest.raises(ValueError, match="seed must be within range"):
        gen(-(2**63) - 1)
    for bad in (1.5, "1", None, True):
        with pytest.raises(TypeError, match="manual_seed: the seed must be an integer"):
            gen(bad)
    assert gen(np.int64(5)).initial_seed() == 5


def test_seed_draws_a_fresh_seed_from_the_system():
    g = ag.Generator()
    s1 = g.seed()
    assert g.initial_seed() == s1 and 0 <= s1 < 2**64
    x = ag.rand(4, generator=g)
    assert np.array_equal(ag.rand(4, generator=gen(s1)).numpy(), x.numpy())
    assert len({ag.Generator().seed() for _ in range(5)}) == 5


def test_get_state_and_set_state_resume_the_stream_exactly():
    g = gen(3)
    ag.randn(3, generator=g)
    ag.randint(0, 10, (3,), dtype=ag.int32, generator=g)  # 32-bit draws leave half a word buffered: in the state
    state = g.get_state()
    assert state.dtype == np.uint8 and state.ndim == 1 and not state.requires_grad
    after = [ag.randint(0, 10, (5,), dtype=ag.int32, generator=g).numpy(), ag.randn(4, generator=g).numpy()]
    other = ag.Generator()
    assert other.set_state(state) is other and other.initial_seed() == 3
    again = [ag.randint(0, 10, (5,), dtype=ag.int32, generator=other).numpy(), ag.randn(4, generator=other).numpy()]
    assert all(np.array_equal(a, b) for a, b in zip(after, again))


def test_a_generator_copies_and_pickles_with_its_state():
    import copy
    import pickle
    g = gen(3)
    ag.rand(2, generator=g)
    twins = [copy.deepcopy(g), pickle.loads(pickle.dumps(g))]
    expected = ag.rand(4, generator=g).numpy()
    for twin in twins:
        assert twin.initial_seed() == 3 and np.array_equal(ag.rand(4, generator=twin).numpy(), expected)


def test_a_state_survives_nn_save(tmp_path):
    g = gen(11)
    nn.save({"rng": g.get_state()}, tmp_path / "rng.safetensors")
    expected = ag.rand(5, generator=g).numpy()
    restored = ag.Generator().set_state(nn.load(tmp_path / "rng.safetensors")["rng"])
    assert np.array_equal(ag.rand(5, generator=restored).numpy(), expected)


def test_set_state_errors():
    g = ag.Generator()
    with pytest.raises(TypeError, match="set_state: the state must be a uint8 tensor from get_state"):
        g.set_state(ag.zeros(48))
    with pytest.raises(TypeError, match="uint8 tensor"):
        g.set_state(np.zeros(48, np.uint8))
    with pytest.raises(RuntimeError, match=r"expected a state of 48 bytes .* got shape \(3,\)"):
        g.set_state(ag.tensor(np.zeros(3, np.uint8)))


def test_two_generators_are_independent():
    g1, g2 = gen(5), gen(5)
    alone = ag.rand(6, generator=gen(5)).numpy()
    first = ag.rand(3, generator=g1).numpy()
    ag.randn(100, generator=g2)  # g2's draws do not move g1
    assert np.array_equal(np.concatenate([first, ag.rand(3, generator=g1).numpy()]), alone)
    # nor does the global generator move when a generator is passed
    before = ag.get_rng_state()
    ag.randn(10, generator=g1)
    ag.multinomial(ag.ones(4), 2, generator=g1)
    assert np.array_equal(ag.get_rng_state().numpy(), before.numpy())


def test_generators_with_different_seeds_give_uncorrelated_streams():
    a, b = ag.randn(20000, generator=gen(0)).numpy(), ag.randn(20000, generator=gen(1)).numpy()
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 / math.sqrt(20000)


def test_the_global_generator():
    assert ag.manual_seed(9) is ag.default_generator and ag.initial_seed() == 9
    x = ag.rand(4)
    ag.manual_seed(9)
    assert np.array_equal(ag.rand(4).numpy(), x.numpy())
    state = ag.get_rng_state()
    y = ag.randn(3)
    ag.set_rng_state(state)
    assert np.array_equal(ag.randn(3).numpy(), y.numpy())
    s = ag.seed()
    assert ag.initial_seed() == s
    ag.manual_seed(0)
    with R.fork_rng():
        ag.randn(50)
    assert np.array_equal(ag.rand(2).numpy(), ag.rand(2, generator=gen(0)).numpy())


def test_numpy_generator_shares_the_state():
    g = gen(4)
    rng = R.numpy_generator(g)
    expected = np.random.default_rng(4).random(2)
    assert np.array_equal(rng.random(2), expected)
    g.manual_seed(4)  # reseeding in place: the numpy Generator follows
    assert np.array_equal(rng.random(2), expected)
    with pytest.raises(TypeError, match="generator must be an autograd.Generator"):
        ag.rand(2, generator=3)


# --- every random call takes generator= and is reproducible with it and with the global seed -----------------
def _loader_batches(g):
    loader = DataLoader(TensorDataset(ag.arange(20)), batch_size=6, shuffle=True, generator=g)
    return [b[0] for epoch in range(2) for b in loader]


def _init(fn):
    def fill(g):
        return fn(ag.zeros(8, 6), generator=g)
    return fill


DRAWS = {
    "rand": lambda g: ag.rand(3, 4, generator=g),
    "randn": lambda g: ag.randn((3, 4), generator=g),
    "randint": lambda g: ag.randint(0, 100, (5,), generator=g),
    "randint(high, size)": lambda g: ag.randint(100, (5,), generator=g),
    "randint(high, size=)": lambda g: ag.randint(100, size=(5,), generator=g),
    "rand_like": lambda g: ag.rand_like(ag.zeros(4), generator=g),
    "randn_like": lambda g: ag.randn_like(ag.zeros(4), generator=g),
    "randint_like": lambda g: ag.randint_like(ag.zeros(4), 3, 90, generator=g),
    "randperm": lambda g: ag.randperm(10, generator=g),
    "multinomial": lambda g: ag.multinomial(ag.ones(2, 10), 4, generator=g),
    "multinomial_replacement": lambda g: ag.multinomial(ag.ones(10), 8, replacement=True, generator=g),
    "bernoulli": lambda g: ag.bernoulli(ag.full((12,), 0.5), generator=g),
    "normal(tensor, tensor)": lambda g: ag.normal(ag.zeros(5), ag.ones(5), generator=g),
    "normal(float, float, size)": lambda g: ag.normal(1.0, 2.0, (5,), generator=g),
    "poisson": lambda g: ag.poisson(ag.full((6,), 4.0), g),
    "uniform_": lambda g: ag.zeros(5).uniform_(-1, 1, generator=g),
    "normal_": lambda g: ag.zeros(5).normal_(generator=g),
    "bernoulli_": lambda g: ag.zeros(12).bernoulli_(0.5, generator=g),
    "exponential_": lambda g: ag.zeros(5).exponential_(generator=g),
    "random_": lambda g: ag.zeros(5).random_(0, 1000, generator=g),
    "geometric_": lambda g: ag.zeros(8).geometric_(0.2, generator=g),
    "log_normal_": lambda g: ag.zeros(5).log_normal_(generator=g),
    "cauchy_": lambda g: ag.zeros(5).cauchy_(generator=g),
    "dropout": lambda g: F.dropout(ag.ones(20), 0.5, generator=g),
    "init.uniform_": _init(nn.init.uniform_),
    "init.normal_": _init(nn.init.normal_),
    "init.trunc_normal_": _init(nn.init.trunc_normal_),
    "init.xavier_uniform_": _init(nn.init.xavier_uniform_),
    "init.xavier_normal_": _init(nn.init.xavier_normal_),
    "init.kaiming_uniform_": _init(nn.init.kaiming_uniform_),
    "init.kaiming_normal_": _init(nn.init.kaiming_normal_),
    "init.orthogonal_": _init(nn.init.orthogonal_),
    "random_split": lambda g: [list(s.indices) for s in random_split(range(10), [3, 7], generator=g)],
    "RandomSampler": lambda g: list(RandomSampler(range(10), generator=g)),
    "SubsetRandomSampler": lambda g: list(SubsetRandomSampler([3, 5, 7, 9, 11], generator=g)),
    "WeightedRandomSampler": lambda g: list(WeightedRandomSampler([1.0, 2.0, 3.0], 10, generator=g)),
    "DataLoader": _loader_batches,
}


def _same(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name", list(DRAWS))
def test_the_same_generator_seed_gives_the_same_draws(name):
    draw = DRAWS[name]
    before = ag.get_rng_state()
    a, b, c = draw(gen(1)), draw(gen(1)), draw(gen(2))
    assert _same(a, b)
    assert not _same(a, c)
    assert np.array_equal(ag.get_rng_state().numpy(), before.numpy())  # generator= leaves the global alone


@pytest.mark.parametrize("name", list(DRAWS))
def test_without_a_generator_the_global_seed_decides(name):
    draw = DRAWS[name]
    ag.manual_seed(123)
    a = draw(None)
    ag.manual_seed(123)
    b = draw(None)
    c = draw(None)  # (the global generator moved on)
    assert _same(a, b) and not _same(a, c)


# --- statistics -----------------------------------------------------------------------------------------------
N = 40000


@pytest.mark.parametrize("name,draw,mean,sd", [
    ("rand", lambda g: ag.rand(N, generator=g), 0.5, math.sqrt(1 / 12)),
    ("randn", lambda g: ag.randn(N, generator=g), 0.0, 1.0),
    ("uniform_", lambda g: ag.zeros(N).uniform_(-2, 6, generator=g), 2.0, 8 / math.sqrt(12)),
    ("normal_", lambda g: ag.zeros(N).normal_(3.0, 0.5, generator=g), 3.0, 0.5),
    ("normal(float, float, size)", lambda g: ag.normal(-1.0, 2.0, (N,), generator=g), -1.0, 2.0),
    ("exponential_", lambda g: ag.zeros(N, dtype=ag.float64).exponential_(4.0, generator=g), 0.25, 0.25),
    ("geometric_", lambda g: ag.zeros(N).geometric_(0.25, generator=g), 4.0, math.sqrt(0.75) / 0.25),
    ("bernoulli_", lambda g: ag.zeros(N).bernoulli_(0.3, generator=g), 0.3, math.sqrt(0.21)),
    ("bernoulli", lambda g: ag.bernoulli(ag.full((N,), 0.8), generator=g), 0.8, math.sqrt(0.16)),
    ("poisson", lambda g: ag.poisson(ag.full((N,), 6.0), g), 6.0, math.sqrt(6.0)),
    ("log_normal_ (its log)", lambda g: ag.zeros(N, dtype=ag.float64).log_normal_(0.5, 0.25, generator=g).log(),
     0.5, 0.25),
    ("random_(3, 13)", lambda g: ag.zeros(N).random_(3, 13, generator=g), 7.5, math.sqrt((10**2 - 1) / 12)),
    ("randint", lambda g: ag.randint(-5, 5, (N,), generator=g).double(), -0.5, math.sqrt((10**2 - 1) / 12)),
])
def test_means_and_variances(name, draw, mean, sd):
    x = draw(gen(2024)).numpy().astype(np.float64)
    assert within(x.mean(), mean, sd, x.size), (name, x.mean(), mean)
    # the sample variance's standard error is about sd^2 * sqrt((kurtosis - 1) / n); 0.1 sd^2 is ~10 SE or more
    assert abs(x.var() - sd**2) < 0.1 * sd**2, (name, x.var(), sd**2)


def test_the_supports():
    g = gen(0)
    assert ag.rand(N, generator=g).numpy().min() >= 0 and ag.rand(N, generator=g).numpy().max() < 1
    u = ag.zeros(N).uniform_(-1, 2, generator=g).numpy()
    assert u.min() >= -1 and u.max() < 2
    assert ag.zeros(N).geometric_(0.5, generator=g).numpy().min() == 1
    assert ag.zeros(N).exponential_(generator=g).numpy().min() >= 0
    assert set(np.unique(ag.zeros(N).bernoulli_(generator=g).numpy())) == {0.0, 1.0}
    assert ag.zeros(N).log_normal_(generator=g).numpy().min() > 0
    r = ag.zeros(N, dtype=ag.int64).random_(-3, 4, generator=g).numpy()
    assert r.min() == -3 and r.max() == 3
    assert np.array_equal(np.sort(ag.randperm(50, generator=g).numpy()), np.arange(50))


def test_float32_samples_stay_below_the_upper_bound():
    # float64 draws within half a float32 ulp of the bound would round up to it
    assert R._below(np.array([1 - 1e-10, 0.5]), 1.0, np.dtype(np.float32)).max() < 1
    assert R._below(np.array([2 - 1e-10]), 2.0, np.dtype(np.float32))[0] == np.nextafter(np.float32(2), 0)


def test_cauchy_quartiles():
    x = ag.zeros(N, dtype=ag.float64).cauchy_(1.0, 2.0, generator=gen(5)).numpy()
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])  # median +- sigma
    assert abs(med - 1.0) < 0.05 and abs(q1 - -1.0) < 0.1 and abs(q3 - 3.0) < 0.1


def test_random_without_bounds_covers_the_types_exact_integers():
    x = ag.zeros(N).random_(generator=gen(1)).numpy()
    assert x.min() >= 0 and x.max() <= 2**24 and x.max() > 2**23 and np.all(x == np.round(x))
    b = ag.zeros(100, dtype=ag.bool).random_(generator=gen(1)).numpy()
    assert b.dtype == np.bool_ and b.any() and not b.all()
    i8 = ag.zeros(1000, dtype=ag.int8).random_(generator=gen(1)).numpy()
    assert i8.min() >= 0 and i8.max() > 100


def test_random_integers_are_uniform_by_chi_square():
    counts = np.bincount(ag.zeros(N, dtype=ag.int64).random_(10, generator=gen(3)).numpy(), minlength=10)
    assert chi_square_p(counts, np.ones(10)) > 1e-3


def test_normal_tensor_forms_use_each_elements_parameters():
    mean = ag.tensor([[-5.0], [5.0]])          # (2, 1)
    std = ag.tensor([0.5, 1.0, 2.0])           # (3,)
    draws = np.stack([ag.normal(mean, std, generator=g).numpy() for g in [gen(0)] * 4000])
    assert draws.shape == (4000, 2, 3)
    np.testing.assert_allclose(draws.mean(0), np.broadcast_to(mean.numpy(), (2, 3)), atol=4 * 2 / math.sqrt(4000))
    np.testing.assert_allclose(draws.std(0), np.broadcast_to(std.numpy(), (2, 3)), rtol=0.08)
    x = ag.normal(ag.full((N,), 2.0), 3.0, generator=gen(1)).numpy()
    y = ag.normal(2.0, ag.full((N,), 3.0), generator=gen(2)).numpy()
    for s in (x, y):
        assert within(s.mean(), 2.0, 3.0, N) and abs(s.std() - 3.0) < 0.1


def test_poisson_per_element_rates():
    rates = ag.tensor([0.0, 1.0, 50.0])
    draws = np.stack([ag.poisson(rates, g).numpy() for g in [gen(0)] * 5000])
    assert np.all(draws[:, 0] == 0)
    assert within(draws[:, 1].mean(), 1.0, 1.0, 5000) and within(draws[:, 2].mean(), 50.0, math.sqrt(50), 5000)


def test_bernoulli_per_element_and_fixed_p():
    probs = ag.tensor([0.0, 0.25, 1.0])
    draws = np.stack([ag.bernoulli(probs, generator=g).numpy() for g in [gen(0)] * 8000])
    assert np.all(draws[:, 0] == 0) and np.all(draws[:, 2] == 1)
    assert within(draws[:, 1].mean(), 0.25, math.sqrt(0.25 * 0.75), 8000)
    fixed = ag.bernoulli(ag.zeros(N), 0.6, generator=gen(0)).numpy()  # p replaces the input's values
    assert within(fixed.mean(), 0.6, math.sqrt(0.24), N)
    per_element = ag.zeros(8000, 2).bernoulli_(ag.tensor([0.1, 0.9]), generator=gen(1)).numpy()
    assert within(per_element[:, 0].mean(), 0.1, 0.3, 8000) and within(per_element[:, 1].mean(), 0.9, 0.3, 8000)


def test_complex_rand_and_randn():
    z = ag.randn(N, dtype=np.complex128, generator=gen(0)).numpy()
    assert abs(np.mean(np.abs(z) ** 2) - 1) < 0.05 and abs(np.corrcoef(z.real, z.imag)[0, 1]) < 0.03
    u = ag.rand(100, dtype=np.complex64, generator=gen(0)).numpy()
    assert u.dtype == np.complex64 and u.real.min() >= 0 and u.imag.max() < 1


# --- multinomial ----------------------------------------------------------------------------------------------
def test_multinomial_with_replacement_frequencies_by_chi_square():
    weights = ag.tensor([1.0, 0.0, 2.0, 3.0, 4.0])  # not normalised; category 1 impossible
    draws = ag.multinomial(weights, N, replacement=True, generator=gen(0)).numpy()
    counts = np.bincount(draws, minlength=5)
    assert counts[1] == 0
    assert chi_square_p(counts[[0, 2, 3, 4]], [1, 2, 3, 4]) > 1e-3


def test_multinomial_rows_are_separate_distributions():
    probs = ag.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0], [0.25, 0.25, 0.5]])
    draws = ag.multinomial(probs, 20000, replacement=True, generator=gen(1)).numpy()
    assert draws.shape == (3, 20000) and draws.dtype == np.int64
    assert np.all(draws[1] == 2)
    for row, p in [(0, [0.7, 0.2, 0.1]), (2, [0.25, 0.25, 0.5])]:
        assert chi_square_p(np.bincount(draws[row], minlength=3), p) > 1e-3


def test_multinomial_without_replacement_never_repeats_and_draws_in_sequence():
    w = np.array([1.0, 2.0, 3.0, 4.0])
    rows = ag.tensor(np.tile(w, (20000, 1)))
    draws = ag.multinomial(rows, 2, generator=gen(2)).numpy()
    assert np.all(draws[:, 0] != draws[:, 1])
    # ordered pairs (i, j): P = w_i / S * w_j / (S - w_i), sequential sampling without replacement
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
    expected = [w[i] / w.sum() * w[j] / (w.sum() - w[i]) for i, j in pairs]
    counts = [np.sum((draws[:, 0] == i) & (draws[:, 1] == j)) for i, j in pairs]
    assert chi_square_p(counts, expected) > 1e-3
    full = ag.multinomial(ag.rand(500, 30, generator=gen(3)), 30, generator=gen(4)).numpy()
    assert all(len(set(row)) == 30 for row in full.tolist())  # every category exactly once


def test_multinomial_takes_zero_weights_last_without_replacement():
    draws = ag.multinomial(ag.tensor([[1.0, 0.0, 0.0, 2.0]] * 2000), 4, generator=gen(0)).numpy()
    assert np.all(np.sort(draws[:, :2], axis=1) == [0, 3])
    assert {tuple(r) for r in draws[:, 2:].tolist()} == {(1, 2), (2, 1)}  # then the rest, in random order


@given(rows=st.integers(0, 3), k=st.integers(1, 6), n=st.integers(1, 6), replacement=st.booleans(),
       one_d=st.booleans(), seed=st.integers(0, 2**32))
def test_multinomial_shapes_and_ranges(rows, k, n, replacement, one_d, seed):
    if not replacement and n > k:
        return
    weights = ag.rand(k, generator=gen(seed)) + 0.01 if one_d else ag.rand(rows, k, generator=gen(seed)) + 0.01
    out = ag.multinomial(weights, n, replacement, generator=gen(seed)).numpy()
    assert out.shape == ((n,) if one_d else (rows, n)) and out.dtype == np.int64
    assert out.size == 0 or (out.min() >= 0 and out.max() < k)
    if not replacement:
        assert all(len(set(r)) == n for r in out.reshape(-1, n).tolist())


@pytest.mark.parametrize("args,message", [
    ((ag.tensor([1.0, -1.0]), 1), "probability tensor contains either `inf`, `nan` or element < 0"),
    ((ag.tensor([1.0, float("nan")]), 1), "probability tensor contains either `inf`, `nan` or element < 0"),
    ((ag.tensor([1.0, float("inf")]), 1), "probability tensor contains either `inf`, `nan` or element < 0"),
    ((ag.tensor([0.0, 0.0]), 1), r"invalid multinomial distribution \(sum of probabilities <= 0\)"),
    ((ag.tensor([[1.0, 1.0], [0.0, 0.0]]), 1, True), r"invalid multinomial distribution \(sum of probabilities"),
    ((ag.tensor([0.2, 0.3, 0.5]), 4), "cannot sample n_sample > prob_dist.size\\(-1\\) samples without replacement"),
    ((ag.tensor([0.2, 0.3, 0.5]), 0), "cannot sample n_sample <= 0 samples"),
    ((ag.tensor([0.2, 0.3, 0.5]), -1), "cannot sample n_sample <= 0 samples"),
    ((ag.ones(2, 2, 2), 1), "prob_dist must be 1 or 2 dim"),
    ((ag.tensor(1.0), 1), "prob_dist must be 1 or 2 dim"),
])
def test_multinomial_errors_as_pytorch(args, message):
    with pytest.raises(RuntimeError, match="multinomial: " + message):
        ag.multinomial(*args)
    with pytest.raises(ValueError):  # (also a ValueError)
        ag.multinomial(*args)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=message):
        torch.multinomial(*(torch.from_numpy(a.numpy()) if isinstance(a, ag.Tensor) else a for a in args))


def test_multinomial_error_names_the_bad_entry():
    with pytest.raises(RuntimeError, match=r"input\[1, 0\] = -1.0"):
        ag.multinomial(ag.tensor([[1.0, 1.0], [-1.0, 1.0]]), 1)
    with pytest.raises(RuntimeError, match="row 1 is all zeros"):
        ag.multinomial(ag.tensor([[1.0, 1.0], [0.0, 0.0]]), 1)
    with pytest.raises(TypeError, match="multinomial: only floating-point inputs are supported, got dtype int64"):
        ag.multinomial(ag.tensor([1, 2]), 1)


def test_sampling_results_are_outside_the_graph():
    p = ag.full((4,), 0.5, requires_grad=True)
    for out in (ag.multinomial(p, 2), ag.bernoulli(p), ag.normal(p, 1.0), ag.normal(0.0, p + 1), ag.poisson(p),
                ag.randint_like(p, 5), p.multinomial(1), p.bernoulli()):
        assert not out.requires_grad and out.grad_fn is None


def test_output_dtypes_and_shapes_as_pytorch():
    torch = pytest.importorskip("torch")
    f32, f64 = ag.zeros(2, 1), ag.zeros(3, dtype=ag.float64)
    t32, t64 = torch.zeros(2, 1), torch.zeros(3, dtype=torch.float64)
    cases = [
        (ag.normal(f32, ag.ones(3, dtype=ag.float64)), torch.normal(t32, torch.ones(3, dtype=torch.float64))),
        (ag.normal(f64, 1.0), torch.normal(t64, 1.0)),
        (ag.normal(1.0, f64 + 1), torch.normal(1.0, t64 + 1)),
        (ag.normal(2, 3, (1, 4)), torch.normal(2, 3, (1, 4))),
        (ag.poisson(f64), torch.poisson(t64)),
        (ag.bernoulli(f32), torch.bernoulli(t32)),
        (ag.randint_like(f32, 10), torch.randint_like(t32, 10)),
        (ag.randint_like(ag.zeros(3, dtype=ag.int32), 2, 10),
         torch.randint_like(torch.zeros(3, dtype=torch.int32), 2, 10)),
        (ag.randint(10, (2, 3)), torch.randint(10, (2, 3))),
        (ag.randperm(4), torch.randperm(4)),
        (ag.multinomial(ag.ones(3, 4), 2), torch.multinomial(torch.ones(3, 4), 2)),
        (ag.rand(2, 3, dtype=ag.float64), torch.rand(2, 3, dtype=torch.float64)),
        (ag.zeros(3, dtype=ag.int64).geometric_(0.5), torch.zeros(3, dtype=torch.int64).geometric_(0.5)),
        (ag.zeros(3, dtype=ag.bool).bernoulli_(), torch.zeros(3, dtype=torch.bool).bernoulli_()),
    ]
    for ours, theirs in cases:
        assert ours.shape == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")


@pytest.mark.parametrize("call,error,message", [
    (lambda: ag.normal(ag.zeros(2), ag.tensor([1.0, -1.0])), RuntimeError,
     "normal expects all elements of std >= 0.0"),
    (lambda: ag.normal(0.0, -1.0, (2,)), RuntimeError, "normal expects std >= 0.0, but found std -1"),
    (lambda: ag.normal(ag.zeros(2), -1.0), RuntimeError, "normal expects std >= 0.0, but found std -1"),
    (lambda: ag.normal(ag.zeros(2), ag.ones(3)), RuntimeError, r"shapes of mean \(2,\) and std \(3,\) do not"),
    (lambda: ag.normal(0.0, 1.0), TypeError, "give the size too"),
    (lambda: ag.normal(ag.zeros(2, dtype=ag.int64), 1.0), TypeError, "only floating-point inputs"),
    (lambda: ag.poisson(ag.tensor([1.0, -1.0])), RuntimeError,
     "invalid Poisson rate, expected rate to be non-negative"),
    (lambda: ag.poisson(ag.tensor([1.0, float("nan")])), RuntimeError, "invalid Poisson rate"),
    (lambda: ag.poisson(ag.tensor([1, 2])), TypeError, "poisson: only floating-point inputs"),
    (lambda: ag.bernoulli(ag.tensor([0.5, 2.0])), RuntimeError, r"bernoulli: every probability must be in \[0, 1\]"),
    (lambda: ag.bernoulli(ag.tensor([1, 0])), TypeError, "bernoulli: only floating-point inputs"),
    (lambda: ag.randint(0, 5), TypeError, "randint: give a size"),
    (lambda: ag.randint(10, 3, (2,)), RuntimeError, "randint expects 'from' to be less than 'to', but got from=10"),
    (lambda: ag.randint(0, 300, (2,), dtype=ag.uint8), RuntimeError, r"range \[0, 300\) is out of bounds for uint8"),
    (lambda: ag.randint_like(ag.zeros(3), 10, 3), RuntimeError, "randint_like expects 'from' to be less than 'to'"),
    (lambda: ag.randperm(-1), RuntimeError, "randperm: n must be non-negative, got -1"),
    (lambda: ag.rand(2, dtype=ag.int64), TypeError, "rand: dtype int64 is not a floating-point type"),
    (lambda: ag.randn(-1), RuntimeError, r"randn: negative dimension in size \(-1,\)"),
])
def test_sampling_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- in place -------------------------------------------------------------------------------------------------
INPLACE = {
    "uniform_": (), "normal_": (), "bernoulli_": (), "exponential_": (), "random_": (), "geometric_": (0.5,),
    "log_normal_": (), "cauchy_": (),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_in_place_fills_refuse_a_leaf_that_requires_grad(name):
    w = ag.zeros(3, requires_grad=True)
    before = ag.get_rng_state()
    with pytest.raises(RuntimeError, match=f"{name}: a leaf tensor that requires grad .* cannot be modified in place"):
        getattr(w, name)(*INPLACE[name])
    assert np.array_equal(ag.get_rng_state().numpy(), before.numpy())  # nothing drawn
    assert np.all(w.numpy() == 0)
    with ag.no_grad():  # nn.init's way
        assert getattr(w, name)(*INPLACE[name]) is w
    assert w.requires_grad and w.is_leaf
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        getattr(torch.zeros(3, requires_grad=True), name)(*INPLACE[name])


@pytest.mark.parametrize("name", list(INPLACE))
def test_in_place_fills_keep_the_tensor_dtype_shape_and_object(name):
    for dtype in (ag.float32, ag.float64):
        for shape in ((), (0,), (2, 3)):
            t = ag.zeros(shape, dtype=dtype)
            data = t.numpy() if shape else None
            assert getattr(t, name)(*INPLACE[name], generator=gen(0)) is t
            assert t.dtype == dtype and t.shape == shape
            if shape == (2, 3):
                assert t.numpy() is data  # written in place: views see it
                if name != "bernoulli_":
                    assert len(np.unique(t.numpy())) > 1


def test_in_place_fill_of_a_view_writes_through():
    base = ag.zeros(4, 4)
    base[1].normal_(generator=gen(0))
    assert np.all(base.numpy()[[0, 2, 3]] == 0) and np.all(base.numpy()[1] != 0)


def test_a_graph_tensor_filled_in_place_leaves_the_graph():
    x = ag.ones(3, requires_grad=True)
    y = x * 2
    y.uniform_(generator=gen(0))
    assert not y.requires_grad and y.grad_fn is None
    assert y.numpy().min() >= 0 and y.numpy().max() < 1


@pytest.mark.parametrize("call,error,message", [
    (lambda t: t.uniform_(1, 0), RuntimeError,
     r"uniform_ expects to return a \[from, to\) range, but found from=1 > to=0"),
    (lambda t: t.uniform_(0, float("inf")), RuntimeError, "uniform_: .* is out of bounds for float32"),
    (lambda t: t.normal_(0, -1), RuntimeError, "normal expects std >= 0.0, but found std -1"),
    (lambda t: t.normal_(0, float("nan")), RuntimeError, "normal expects std >= 0.0, but found std nan"),
    (lambda t: t.bernoulli_(2.0), RuntimeError, r"bernoulli_ expects p to be in \[0, 1\], but got p=2"),
    (lambda t: t.bernoulli_(ag.tensor([0.0, 1.0, 2.0])), RuntimeError, r"bernoulli_: every probability must be in"),
    (lambda t: t.bernoulli_(ag.tensor([[0.5, 0.5, 0.5]])), RuntimeError, r"shape \(1, 3\) cannot be broadcast"),
    (lambda t: t.exponential_(0), RuntimeError, "exponential_ expects lambda > 0.0, but found lambda=0"),
    (lambda t: t.exponential_(-1), RuntimeError, "exponential_ expects lambda > 0.0, but found lambda=-1"),
    (lambda t: t.geometric_(0), RuntimeError, r"geometric_ expects p to be in \(0, 1\), but got p=0"),
    (lambda t: t.geometric_(1), RuntimeError, r"geometric_ expects p to be in \(0, 1\), but got p=1"),
    (lambda t: t.log_normal_(0, 0), RuntimeError, "log_normal_ expects std > 0.0, but found std=0"),
    (lambda t: t.cauchy_(0, 0), RuntimeError, "cauchy_ expects sigma > 0.0, but found sigma=0"),
    (lambda t: t.cauchy_(0, -1), RuntimeError, "cauchy_ expects sigma > 0.0, but found sigma=-1"),
    (lambda t: t.random_(5, 5), RuntimeError, "random_ expects 'from' to be less than 'to', but got from=5 >= to=5"),
    (lambda t: t.random_(-3), RuntimeError, "random_ expects 'from' to be less than 'to', but got from=0 >= to=-3"),
    (lambda t: t.random_(0, 2**25), RuntimeError, r"out of bounds \[-2\^24, 2\^24\] for float32"),
    (lambda t: t.random_(1, 2, 3), TypeError, "random_: expected at most 2 bounds"),
])
def test_in_place_errors_as_pytorch(call, error, message):
    t = ag.zeros(3)
    with pytest.raises(error, match=message):
        call(t)
    assert np.all(t.numpy() == 0)


@pytest.mark.parametrize("name", ["uniform_", "normal_", "exponential_", "log_normal_", "cauchy_"])
def test_continuous_fills_refuse_integer_tensors(name):
    for dtype in (ag.int64, ag.bool):
        with pytest.raises(TypeError, match=f"{name}: a continuous distribution, not supported for dtype"):
            getattr(ag.zeros(3, dtype=dtype), name)()


def test_integer_fills_on_integer_tensors():
    assert ag.zeros(3, dtype=ag.uint8).random_(200, 256, generator=gen(0)).numpy().min() >= 200
    with pytest.raises(RuntimeError, match=r"range \[0, 300\) is out of bounds for uint8"):
        ag.zeros(3, dtype=ag.uint8).random_(0, 300)
    g = ag.zeros(1000, dtype=ag.int64).geometric_(0.5, generator=gen(0)).numpy()
    assert g.dtype == np.int64 and g.min() == 1
    with pytest.raises(TypeError, match="geometric_: not supported for dtype bool"):
        ag.zeros(3, dtype=ag.bool).geometric_(0.5)


def test_nn_init_uses_the_in_place_initialisers():
    w = nn.init.uniform_(ag.zeros(5, 4), -0.1, 0.1, generator=gen(0))
    assert np.array_equal(w.numpy(), ag.zeros(5, 4).uniform_(-0.1, 0.1, generator=gen(0)).numpy())
    w = nn.init.normal_(ag.zeros(5, 4), 0.0, 0.02, generator=gen(0))
    assert np.array_equal(w.numpy(), ag.zeros(5, 4).normal_(0.0, 0.02, generator=gen(0)).numpy())
    layer = nn.Linear(4, 3)
    nn.init.kaiming_uniform_(layer.weight, generator=gen(1))  # a Parameter (a leaf that requires grad)
    assert layer.weight.requires_grad and layer.weight.is_leaf
    with pytest.raises(RuntimeError, match=r"uniform_ expects to return a \[from, to\) range"):
        nn.init.uniform_(ag.zeros(2), 1.0, 0.0)


# --- data -----------------------------------------------------------------------------------------------------
def test_two_dataloaders_with_the_same_generator_seed_give_the_same_batches():
    data = TensorDataset(ag.arange(50), ag.arange(50) * 10)

    def batches(loader):
        return [[b[0].tolist() for b in loader] for _ in range(3)]

    a = batches(DataLoader(data, batch_size=8, shuffle=True, generator=gen(42)))
    b = batches(DataLoader(data, batch_size=8, shuffle=True, generator=gen(42)))
    c = batches(DataLoader(data, batch_size=8, shuffle=True, generator=gen(43)))
    assert a == b and a != c
    assert a[0] != a[1]  # a new order every epoch
    for epoch in a:  # every sample once per epoch
        assert sorted(i for batch in epoch for i in batch) == list(range(50))
    # seed=s is generator=Generator().manual_seed(s)
    assert batches(DataLoader(data, batch_size=8, shuffle=True, seed=42)) == a


def test_dataloader_samplers_as_pytorch():
    data = TensorDataset(ag.arange(10))
    g = gen(0)
    loader = DataLoader(data, batch_size=4, shuffle=True, generator=g)
    assert isinstance(loader.sampler, RandomSampler) and loader.sampler.generator is g and loader.generator is g
    assert isinstance(DataLoader(data).sampler, SequentialSampler)
    assert [b[0].tolist() for b in DataLoader(data, batch_size=4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(ValueError, match="give seed= or generator=, not both"):
        DataLoader(data, shuffle=True, seed=0, generator=g)
    # a sampler with a generator: the same batches as shuffle=True with that generator
    via_sampler = [b[0].tolist() for b in DataLoader(data, batch_size=4, sampler=RandomSampler(data, generator=gen(5)))]
    via_shuffle = [b[0].tolist() for b in DataLoader(data, batch_size=4, shuffle=True, generator=gen(5))]
    assert via_sampler == via_shuffle


def test_shuffling_without_a_generator_follows_the_global_seed():
    data = TensorDataset(ag.arange(30))
    ag.manual_seed(7)
    a = [b[0].tolist() for b in DataLoader(data, batch_size=5, shuffle=True)]
    ag.manual_seed(7)
    b = [b[0].tolist() for b in DataLoader(data, batch_size=5, shuffle=True)]
    order = [i for batch in a for i in batch]
    assert a == b and sorted(order) == list(range(30)) and order != list(range(30))


def test_random_sampler_options():
    s = RandomSampler(range(5), num_samples=12, generator=gen(0))
    order = list(s)
    assert len(s) == 12 and len(order) == 12
    assert sorted(order[:5]) == sorted(order[5:10]) == list(range(5)) and len(set(order[10:])) == 2
    with_replacement = list(RandomSampler(range(3), replacement=True, num_samples=30000, generator=gen(1)))
    assert chi_square_p(np.bincount(with_replacement, minlength=3), [1, 1, 1]) > 1e-3
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(TypeError, match="generator must be an autograd.Generator"):
        RandomSampler(range(3), generator=0)


def test_weighted_and_subset_samplers():
    weights = [0.0, 1.0, 3.0]
    draws = list(WeightedRandomSampler(weights, 20000, generator=gen(0)))
    counts = np.bincount(draws, minlength=3)
    assert counts[0] == 0 and chi_square_p(counts[1:], [1, 3]) > 1e-3
    once = list(WeightedRandomSampler([1.0, 5.0, 2.0, 0.5], 4, replacement=False, generator=gen(0)))
    assert sorted(once) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(1, 3\)"):
        WeightedRandomSampler([[1.0, 2.0, 3.0]], 2)
    subset = list(SubsetRandomSampler([10, 20, 30, 40], generator=gen(0)))
    assert sorted(subset) == [10, 20, 30, 40]


def test_random_split_with_a_generator():
    a = random_split(range(20), [0.5, 0.25, 0.25], generator=gen(3))
    b = random_split(range(20), [10, 5, 5], generator=gen(3))
    assert [list(s.indices) for s in a] == [list(s.indices) for s in b]
    assert sorted(i for s in a for i in s.indices) == list(range(20))
    assert [list(s.indices) for s in random_split(range(20), [10, 10], seed=3)] == \
        [list(s.indices) for s in random_split(range(20), [10, 10], generator=gen(3))]
    with pytest.raises(ValueError, match="give seed= or generator=, not both"):
        random_split(range(4), [2, 2], generator=gen(0), seed=0)


def test_dropout_with_a_generator():
    x = ag.ones(N)
    y = F.dropout(x, 0.25, generator=gen(0)).numpy()
    kept = y != 0
    assert within(kept.mean(), 0.75, math.sqrt(0.75 * 0.25), N)
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    assert np.array_equal(F.dropout(x, 0.25, generator=gen(0)).numpy(), y)
    assert F.dropout(x, 0.25, training=False, generator=gen(0)) is x
