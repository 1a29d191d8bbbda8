"""Random numbers: generators, random factories, sampling, and the in-place random initialisers.

Every random draw in autograd and nn comes from a `Generator`: the one passed as `generator=`, or else the global
`default_generator`, which `manual_seed(s)` reseeds. A Generator wraps a numpy `Generator` (PCG64); seeding it
with s gives exactly numpy's `np.random.default_rng(s)` stream. PyTorch's signatures and semantics, not its bit
streams: the same seed gives the same numbers here, not the numbers PyTorch gives.

    >>> g = Generator().manual_seed(42)
    >>> a = rand(3, generator=g)
    >>> _ = g.manual_seed(42)
    >>> bool((rand(3, generator=g) == a).all())
    True

Nothing here is differentiable: every result is a tensor outside the graph (a sample does not depend smoothly on
its distribution's parameters; use the reparameterisation `mean + std * randn(...)` for a gradient).
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .core import Tensor, TensorLike, to_array
from .device import check_device
from .kernels import as_stored

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
           "set_rng_state", "fork_rng", "numpy_generator", "rand", "randn", "randint", "rand_like", "randn_like",
           "randint_like", "randperm", "multinomial", "bernoulli", "normal", "poisson"]

# PyTorch's seed for a new torch.Generator() (torch.Generator().initial_seed() == 67280421310721)
DEFAULT_SEED = 67280421310721
_SEED_MIN, _SEED_MAX = -(2**63), 2**64 - 1


class _RandomError(RuntimeError, ValueError):
    """What PyTorch reports as a RuntimeError about bad values (a negative probability, std < 0): catchable as
    RuntimeError (PyTorch code) and as ValueError (numpy habits)."""


def _check_seed(seed: Any, caller: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{caller}: the seed must be an integer, got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if not _SEED_MIN <= seed <= _SEED_MAX:
        raise _RandomError(f"{caller}: seed must be within range [-0x8000_0000_0000_0000, "
                           f"0xffff_ffff_ffff_ffff], got {seed}")
    return seed % 2**64  # PyTorch keeps a negative seed as its 64-bit two's complement


class Generator:
    """A source of random numbers with its own state (PyTorch's `torch.Generator`).

    `manual_seed(s)` seeds it (and returns it, so `Generator().manual_seed(42)` is one expression); `seed()`
    seeds it from the operating system's entropy and returns that seed; `initial_seed()` is the last seed;
    `get_state()` returns the full state as a uint8 tensor and `set_state(state)` restores it, so a run can be
    resumed exactly. A new Generator starts from PyTorch's default seed, 67280421310721. Two generators are
    independent: drawing from one never changes the other's numbers.

        >>> g = Generator().manual_seed(0)
        >>> state = g.get_state()
        >>> x = randn(2, generator=g)
        >>> y = randn(2, generator=g.set_state(state))
        >>> bool((x == y).all())
        True
    """

    __slots__ = ("_rng", "_initial_seed")

    # state layout: PCG64's 128-bit state and increment, its buffered 32-bit half-word, the initial seed
    _STATE_BYTES = 16 + 16 + 4 + 4 + 8

    def __init__(self) -> None:
        self._rng = np.random.Generator(np.random.PCG64(DEFAULT_SEED))
        self._initial_seed = DEFAULT_SEED

    def manual_seed(self, seed: int) -> Generator:
        """Seed this generator with an integer in [-2**63, 2**64) and return it."""
        seed = _check_seed(seed, "manual_seed")
        # in place, so that every holder of this generator's numpy Generator (numpy_generator) follows it
        self._rng.bit_generator.state = np.random.PCG64(seed).state
        self._initial_seed = seed
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy (a different stream every call); return that seed."""
        seed = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with (by manual_seed or seed)."""
        return self._initial_seed

    def get_state(self) -> Tensor:
        """The generator's whole state as a 1-D uint8 tensor (saveable with nn.save); see set_state."""
        s = self._rng.bit_generator.state
        raw = (s["state"]["state"].to_bytes(16, "little") + s["state"]["inc"].to_bytes(16, "little")
               + int(s["has_uint32"]).to_bytes(4, "little") + int(s["uinteger"]).to_bytes(4, "little")
               + self._initial_seed.to_bytes(8, "little"))
        return Tensor._wrap(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        """Restore a state returned by `get_state()` (of this or another Generator); return this generator."""
        if not isinstance(new_state, Tensor) or new_state.dtype != np.uint8:
            raise TypeError(f"set_state: the state must be a uint8 tensor from get_state(), got "
                            f"{type(new_state).__name__}"
                            + (f" of dtype {new_state.dtype}" if isinstance(new_state, Tensor) else ""))
        raw = np.ascontiguousarray(new_state._data).tobytes()
        if new_state.ndim != 1 or len(raw) != self._STATE_BYTES:
            raise _RandomError(f"set_state: expected a state of {self._STATE_BYTES} bytes (shape "
                               f"({self._STATE_BYTES},)) from get_state(), got shape {tuple(new_state.shape)}")
        self._rng.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"), "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": int.from_bytes(raw[32:36], "little"), "uinteger": int.from_bytes(raw[36:40], "little")}
        self._initial_seed = int.from_bytes(raw[40:48], "little")
        return self

    def __repr__(self) -> str:
        return f"<autograd.Generator initial_seed={self._initial_seed}>"


GeneratorLike = Generator | np.random.Generator | None

# The global generator: what every random call without generator= draws from. Seeded from the operating
# system's entropy at import, as PyTorch's is: a program that wants the same numbers calls manual_seed.
default_generator = Generator()
default_generator.seed()


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (rand, randn, randint, randperm, multinomial, ..., the in-place initialisers
    and nn.init, dropout, DataLoader shuffling and random_split without generator=); return it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the global generator from the operating system's entropy and return the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the global generator was last seeded with."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The global generator's state as a uint8 tensor (see Generator.get_state)."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Restore the global generator's state from get_rng_state()."""
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(enabled: bool = True) -> Iterator[None]:
    """Run a block with the global generator's state saved and restored afterwards (torch.random.fork_rng):
    the block's draws do not change what the program draws after it."""
    if not enabled:
        yield
        return
    state = default_generator.get_state()
    try:
        yield
    finally:
        default_generator.set_state(state)


def numpy_generator(generator: GeneratorLike = None, caller: str = "numpy_generator") -> np.random.Generator:
    """The numpy Generator behind `generator` (default: the global one), sharing its state: for numpy code that
    should draw from the same stream as autograd (e.g. `rng.integers`). A numpy Generator is returned as is."""
    if generator is None:
        return default_generator._rng
    if isinstance(generator, Generator):
        return generator._rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"{caller}: generator must be an autograd.Generator (or a numpy Generator), got "
                    f"{type(generator).__name__}")


# --- factories ---------------------------------------------------------------------------------------------------
def _shape(size: tuple, caller: str) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        shape = tuple(operator.index(s) for s in size)
    except TypeError:
        raise TypeError(f"{caller}: size must be integers, got {size!r}") from None
    if any(s < 0 for s in shape):
        raise _RandomError(f"{caller}: negative dimension in size {shape}")
    return shape


def _make(data: Any, requires_grad: bool = False) -> Tensor:
    t = Tensor._wrap(as_stored(data))
    return t.requires_grad_(True) if requires_grad else t


def _float_dtype(dtype: Any, caller: str, complex_ok: bool = False) -> np.dtype:
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f" and not (complex_ok and dt.kind == "c"):
        raise TypeError(f"{caller}: dtype {dt} is not a floating-point type (this distribution is continuous)")
    return dt


def _below(values: np.ndarray, high: float, dtype: np.dtype) -> np.ndarray:
    """`values` (float64 in [low, high)) cast to `dtype`, keeping the bound: float64 values within half an ulp
    of `high` round up to it in float32, so they become the largest `dtype` value below it instead."""
    out = values.astype(dtype, copy=False)
    if dtype != values.dtype and out.size:
        top = np.nextafter(dtype.type(high), dtype.type(-np.inf))
        np.minimum(out, top, out=out)
    return out


def _complex(draws: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Pairs along a last axis of 2 as complex numbers (real, imaginary) of `dtype`."""
    real = draws.astype(np.finfo(dtype).dtype, copy=False)
    return (real[..., 0] + 1j * real[..., 1]).astype(dtype, copy=False)


def rand(*size: Any, generator: GeneratorLike = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) of the given size (float32 unless `dtype` says otherwise; a complex dtype has
    real and imaginary parts uniform in [0, 1), as in PyTorch)."""
    check_device(device, "rand")
    dt = _float_dtype(dtype, "rand", complex_ok=True)
    shape = _shape(size, "rand")
    rng = numpy_generator(generator, "rand")
    if dt.kind == "c":
        return _make(_complex(rng.random((*shape, 2)), dt), requires_grad)
    return _make(_below(rng.random(shape), 1.0, dt), requires_grad)


def randn(*size: Any, generator: GeneratorLike = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """Standard normal samples N(0, 1) of the given size (float32 unless `dtype` says otherwise; a complex
    dtype has real and imaginary parts N(0, 1/2), so that E|z|^2 = 1, as in PyTorch)."""
    check_device(device, "randn")
    dt = _float_dtype(dtype, "randn", complex_ok=True)
    shape = _shape(size, "randn")
    rng = numpy_generator(generator, "randn")
    if dt.kind == "c":
        return _make(_complex(rng.standard_normal((*shape, 2)) * math.sqrt(0.5), dt), requires_grad)
    return _make(rng.standard_normal(shape).astype(dt, copy=False), requires_grad)


def _int_bounds(low: Any, high: Any, dtype: np.dtype, caller: str) -> tuple[int, int]:
    low, high = operator.index(low), operator.index(high)
    if low >= high:
        raise _RandomError(f"{caller} expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if low < info.min or high - 1 > info.max:
            raise _RandomError(f"{caller}: the range [{low}, {high}) is out of bounds for {dtype} "
                               f"({info.min} to {info.max})")
    elif dtype.kind == "f":
        bits = np.finfo(dtype).nmant + 1  # a float type holds every integer in [-2^bits, 2^bits] exactly
        if low < -(2**bits) or high - 1 > 2**bits:
            raise _RandomError(f"{caller}: the range [{low}, {high}) is out of bounds [-2^{bits}, 2^{bits}] for "
                               f"{dtype}, the integers it holds exactly")
    elif dtype.kind == "b":
        if low < 0 or high > 2:
            raise _RandomError(f"{caller}: the range [{low}, {high}) is out of bounds for bool (0 to 1)")
    else:
        raise TypeError(f"{caller}: dtype {dtype} is not a numeric type")
    return low, high


def _integers(rng: np.random.Generator, low: int, high: int, shape: tuple, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iu":
        return rng.integers(low, high, shape, dtype=dtype)
    return rng.integers(low, high, shape, dtype=np.int64).astype(dtype)


def randint(low: int = 0, high: Any = None, size: Any = None, *, generator: GeneratorLike = None,
            dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high): `randint(low, high, size)` or `randint(high, size)`
    (int64 unless `dtype` says otherwise)."""
    check_device(device, "randint")
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    if size is None:
        raise TypeError("randint: give a size, as in PyTorch: randint(high, size) or randint(low, high, size)")
    dt = np.dtype(np.int64 if dtype is None else dtype)
    low, high = _int_bounds(low, high, dt, "randint")
    shape = _shape((size,), "randint")
    return _make(_integers(numpy_generator(generator, "randint"), low, high, shape, dt), requires_grad)


def _like(t: TensorLike) -> np.ndarray | np.generic:
    return t._data if isinstance(t, Tensor) else to_array(t)


def rand_like(input: TensorLike, *, generator: GeneratorLike = None, dtype: Any = None,
              device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) with the shape (and dtype) of `input`."""
    check_device(device, "rand_like")
    data = _like(input)
    return rand(np.shape(data), generator=generator, dtype=dtype or data.dtype, requires_grad=requires_grad)


def randn_like(input: TensorLike, *, generator: GeneratorLike = None, dtype: Any = None,
               device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """Standard normal samples with the shape (and dtype) of `input`."""
    check_device(device, "randn_like")
    data = _like(input)
    return randn(np.shape(data), generator=generator, dtype=dtype or data.dtype, requires_grad=requires_grad)


def randint_like(input: TensorLike, low: int = 0, high: int | None = None, *, generator: GeneratorLike = None,
                 dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """Integers from [low, high) with the shape of `input` and its dtype (a float input gives integer-valued
    floats, as in PyTorch): `randint_like(x, high)` or `randint_like(x, low, high)`."""
    check_device(device, "randint_like")
    if high is None:
        low, high = 0, low
    data = _like(input)
    dt = np.dtype(dtype or data.dtype)
    low, high = _int_bounds(low, high, dt, "randint_like")
    values = _integers(numpy_generator(generator, "randint_like"), low, high, np.shape(data), dt)
    return _make(values, requires_grad)


def randperm(n: int, *, generator: GeneratorLike = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """A random permutation of 0, 1, ..., n - 1 (int64 unless `dtype` says otherwise)."""
    check_device(device, "randperm")
    n = operator.index(n)
    if n < 0:
        raise _RandomError(f"randperm: n must be non-negative, got {n}")
    perm = numpy_generator(generator, "randperm").permutation(n)
    return _make(perm.astype(np.int64 if dtype is None else dtype, copy=False), requires_grad)


# --- sampling from distributions ----------------------------------------------------------------------------------
def _float_input(input: TensorLike, caller: str) -> np.ndarray:
    data = np.asarray(_like(input))
    if data.dtype.kind != "f":
        raise TypeError(f"{caller}: only floating-point inputs are supported, got dtype {data.dtype}")
    return data


def multinomial(input: TensorLike, num_samples: int, replacement: bool = False, *,
                generator: GeneratorLike = None) -> Tensor:
    """Category indices drawn from each row of non-negative weights (not necessarily normalised): row i of the
    result holds `num_samples` draws with P(j) = input[i, j] / sum_j input[i, j]. Without replacement a category
    is drawn at most once (each draw from the categories not yet drawn, reweighted), so `num_samples` can be at
    most the number of categories; once the categories of positive weight run out, the others follow in
    random order, as in PyTorch. A 1-D input gives shape (num_samples,), a 2-D one (rows, num_samples), int64.

        >>> probs = softmax(logits[:, -1, :] / temperature, dim=-1)     # a language model's next token
        >>> next_token = multinomial(probs, num_samples=1)               # (batch, 1)
    """
    p = _float_input(input, "multinomial")
    if p.ndim not in (1, 2):
        raise _RandomError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {p.shape}")
    n = operator.index(num_samples)
    if n <= 0:
        raise _RandomError(f"multinomial: cannot sample n_sample <= 0 samples (num_samples={n})")
    rows = p.reshape(-1, p.shape[-1]).astype(np.float64, copy=False)
    k = rows.shape[1]
    if not replacement and n > k:
        raise _RandomError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement "
                           f"({n} samples from {k} categories)")
    bad = ~np.isfinite(rows) | (rows < 0)
    if bad.any():
        r, j = np.argwhere(bad)[0]
        where = f"input[{r}, {j}]" if p.ndim == 2 else f"input[{j}]"
        raise _RandomError(f"multinomial: probability tensor contains either `inf`, `nan` or element < 0 "
                           f"({where} = {rows[r, j]})")
    totals = rows.sum(axis=1)
    if (totals <= 0).any():
        r = int(np.flatnonzero(totals <= 0)[0])
        raise _RandomError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)"
                           + (f": row {r} is all zeros" if p.ndim == 2 else ": all weights are zero"))
    rng = numpy_generator(generator, "multinomial")
    if replacement or n == 1:  # (one draw: with or without replacement is the same distribution)
        out = _inverse_cdf(rows, totals, n, rng)
    else:
        out = _exponential_race(rows, n, rng)
    return Tensor._wrap(out.reshape(*p.shape[:-1], n))


def _inverse_cdf(rows: np.ndarray, totals: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws per row with replacement: the first j with cdf[j] > u, for u uniform in [0, total). A category of
    zero weight has cdf[j] == cdf[j - 1], so no u selects it."""
    cdf = np.cumsum(rows, axis=1)
    u = rng.random((rows.shape[0], n)) * totals[:, None]
    # the last category of positive weight: where u * total rounding up to total would otherwise land past it
    last = rows.shape[1] - 1 - np.argmax(rows[:, ::-1] > 0, axis=1)
    out = np.empty((rows.shape[0], n), dtype=np.int64)
    for i in range(rows.shape[0]):  # one searchsorted per row: exact, where offsetting rows would round
        out[i] = np.searchsorted(cdf[i], u[i], side="right")
    return np.minimum(out, last[:, None], out=out)


def _exponential_race(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws per row without replacement: category j finishes at time E_j / w_j (E_j ~ Exp(1)), and the first
    n to finish are the sample, in order. P(j finishes first) = w_j / sum w, and given that, the race among the
    rest is the same with j removed: exactly sequential sampling without replacement (Efraimidis and Spirakis).
    Categories of zero weight never finish; they come after all the others, in random order (sorted by E)."""
    e = rng.standard_exponential(rows.shape)
    positive = rows > 0
    with np.errstate(divide="ignore"):
        finish = np.where(positive, np.log(e) - np.log(np.where(positive, rows, 1.0)), e)  # logs: no overflow
    order = np.lexsort((finish, ~positive), axis=-1)
    return order[:, :n].astype(np.int64, copy=False)


def bernoulli(input: TensorLike, p: float | None = None, *, generator: GeneratorLike = None) -> Tensor:
    """0 or 1 per element: 1 with probability input[i] (or with probability `p` for every element, when given),
    in input's dtype and shape.

        >>> mask = bernoulli(full((3, 4), 0.9))        # keep each element with probability 0.9
    """
    data = _float_input(input, "bernoulli")
    probs = data if p is None else _probability(p, "bernoulli")
    if p is None:
        _check_probabilities(probs, "bernoulli")
    draws = numpy_generator(generator, "bernoulli").random(data.shape) < probs
    return _make(draws.astype(data.dtype))


def _probability(p: Any, caller: str) -> float:
    p = float(p)
    if not 0 <= p <= 1:  # (False for nan)
        raise _RandomError(f"{caller} expects p to be in [0, 1], but got p={p:g}")
    return p


def _check_probabilities(probs: np.ndarray, caller: str) -> None:
    bad = ~((probs >= 0) & (probs <= 1))
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise _RandomError(f"{caller}: every probability must be in [0, 1], but got {probs[at]} at index {at}")


def normal(mean: TensorLike | float = 0.0, std: TensorLike | float = 1.0, size: Any = None, *,
           generator: GeneratorLike = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """Samples from N(mean, std^2), PyTorch's four forms:

    - `normal(mean, std)` with tensors: one sample per element of their broadcast shape;
    - `normal(mean, std=1.0)` with a tensor mean, or `normal(mean_float, std)` with a tensor std;
    - `normal(mean, std, size)` with floats: `size` samples, float32 unless `dtype` says otherwise.

    A tensor form takes its dtype from the tensors. The result is outside the graph, whatever the inputs; for
    a gradient, write `mean + std * randn_like(mean)`.
    """
    check_device(device, "normal")
    rng = numpy_generator(generator, "normal")
    tensors = isinstance(mean, (Tensor, np.ndarray)), isinstance(std, (Tensor, np.ndarray))
    if not any(tensors):
        if size is None:
            raise TypeError("normal: with a float mean and std, give the size too: normal(0.0, 1.0, (3, 4)) "
                            "(or pass a tensor as mean or std)")
        mean, std = float(mean), float(std)
        if not std >= 0:
            raise _RandomError(f"normal expects std >= 0.0, but found std {std:g}")
        dt = _float_dtype(dtype, "normal")
        return _make(rng.normal(mean, std, _shape((size,), "normal")).astype(dt, copy=False), requires_grad)
    if size is not None:
        raise TypeError("normal: size is only for float mean and std; a tensor mean or std gives the shape")
    m = _float_input(mean, "normal") if tensors[0] else float(mean)
    s = _float_input(std, "normal") if tensors[1] else float(std)
    if tensors[1]:
        if not (s >= 0).all():
            raise _RandomError("normal expects all elements of std >= 0.0"
                               + (f" (std has {s[~(s >= 0)].flat[0]})" if s.size else ""))
    elif not s >= 0:
        raise _RandomError(f"normal expects std >= 0.0, but found std {s:g}")
    try:
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    except ValueError:
        raise _RandomError(f"normal: the shapes of mean {np.shape(m)} and std {np.shape(s)} do not broadcast"
                           ) from None
    dt = m.dtype if tensors[0] else s.dtype  # (PyTorch's: the mean's dtype when it is a tensor)
    return _make(rng.normal(m, s, shape).astype(dtype or dt, copy=False), requires_grad)


def poisson(input: TensorLike, generator: GeneratorLike = None) -> Tensor:
    """One sample of Poisson(rate) per element of `input` (the rates, >= 0), in input's dtype."""
    rates = _float_input(input, "poisson")
    if not (rates >= 0).all():
        bad = rates[~(rates >= 0)].flat[0]
        raise _RandomError(f"poisson: invalid Poisson rate, expected rate to be non-negative (got {bad})")
    try:
        draws = numpy_generator(generator, "poisson").poisson(rates)
    except ValueError as err:  # numpy refuses rates beyond about 9.2e18
        raise _RandomError(f"poisson: {err} (largest rate {rates.max():g})") from None
    return _make(np.asarray(draws).astype(rates.dtype))


# --- in place: fill a tensor with samples (Tensor.uniform_, Tensor.normal_, ...) --------------------------------
def _check_kind(t: Any, op: str, kinds: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(t).__name__}")
    if t.dtype.kind not in kinds:
        if kinds == "f":
            raise TypeError(f"{op}: a continuous distribution, not supported for dtype {t.dtype} (use a "
                            "floating-point tensor)")
        raise TypeError(f"{op}: not supported for dtype {t.dtype}")


def _fill(t: Tensor, op: str, draw: Any, generator: GeneratorLike, kinds: str = "f") -> Tensor:
    """Overwrite `t` with `draw(rng, shape, dtype)`, as an in-place operation: refused on a leaf that requires
    grad while grad mode is on (do it under no_grad, as nn.init does), and a tensor in the graph leaves it
    (its values no longer depend on anything). Nothing is drawn when the call is refused."""
    _check_kind(t, op, kinds)
    rng = numpy_generator(generator, op)

    def compute(graph_tensor: Tensor) -> Tensor | None:
        if graph_tensor.requires_grad:
            return Tensor._wrap(as_stored(np.asarray(draw(rng, t.shape, t.dtype))))
        return None

    def write(arr: np.ndarray) -> None:
        arr[...] = draw(rng, arr.shape, arr.dtype)

    return t._inplace(op, compute, write)


def uniform_(t: Tensor, from_: float = 0.0, to: float = 1.0, *, generator: GeneratorLike = None) -> Tensor:
    low, high = float(from_), float(to)
    _check_kind(t, "uniform_", "f")
    if not low <= high:
        raise _RandomError(f"uniform_ expects to return a [from, to) range, but found from={low:g} > to={high:g}")
    if not (math.isfinite(low) and math.isfinite(high)) or high - low > np.finfo(t.dtype).max:
        raise _RandomError(f"uniform_: [from, to) = [{low:g}, {high:g}) is out of bounds for {t.dtype}")
    return _fill(t, "uniform_", lambda rng, shape, dt: _below(rng.uniform(low, high, shape), high, dt)
                 if high > low else np.full(shape, low, dt), generator)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: GeneratorLike = None) -> Tensor:
    mean, std = float(mean), float(std)
    if not std >= 0:
        raise _RandomError(f"normal expects std >= 0.0, but found std {std:g} (in normal_)")
    return _fill(t, "normal_", lambda rng, shape, dt: rng.normal(mean, std, shape).astype(dt, copy=False), generator)


def bernoulli_(t: Tensor, p: TensorLike | float = 0.5, *, generator: GeneratorLike = None) -> Tensor:
    if isinstance(p, (Tensor, np.ndarray)):
        probs = np.asarray(p._data if isinstance(p, Tensor) else p)
        if np.broadcast_shapes(probs.shape, t.shape) != t.shape:
            raise _RandomError(f"bernoulli_: the probabilities of shape {probs.shape} cannot be broadcast to the "
                               f"tensor's shape {t.shape}")
        _check_probabilities(probs, "bernoulli_")
    else:
        probs = _probability(p, "bernoulli_")
    return _fill(t, "bernoulli_", lambda rng, shape, dt: (rng.random(shape) < probs).astype(dt), generator,
                 kinds="biuf")


def exponential_(t: Tensor, lambd: float = 1.0, *, generator: GeneratorLike = None) -> Tensor:
    """Density lambd * exp(-lambd * x) for x >= 0 (mean 1 / lambd)."""
    lambd = float(lambd)
    if not lambd > 0:
        raise _RandomError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    return _fill(t, "exponential_",
                 lambda rng, shape, dt: (rng.standard_exponential(shape) / lambd).astype(dt, copy=False), generator)


def geometric_(t: Tensor, p: float, *, generator: GeneratorLike = None) -> Tensor:
    """The number of Bernoulli(p) trials up to and including the first success: P(k) = (1 - p)^(k - 1) p,
    k = 1, 2, ..."""
    p = float(p)
    if not 0 < p < 1:
        raise _RandomError(f"geometric_ expects p to be in (0, 1), but got p={p:g}")
    return _fill(t, "geometric_", lambda rng, shape, dt: rng.geometric(p, shape).astype(dt), generator, kinds="iuf")


def log_normal_(t: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: GeneratorLike = None) -> Tensor:
    """exp(X) with X ~ N(mean, std^2) (mean and std are those of the logarithm)."""
    mean, std = float(mean), float(std)
    if not std > 0:
        raise _RandomError(f"log_normal_ expects std > 0.0, but found std={std:g}")
    return _fill(t, "log_normal_", lambda rng, shape, dt: rng.lognormal(mean, std, shape).astype(dt, copy=False),
                 generator)


def cauchy_(t: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: GeneratorLike = None) -> Tensor:
    """Density 1 / (pi sigma (1 + ((x - median) / sigma)^2))."""
    median, sigma = float(median), float(sigma)
    if not sigma > 0:
        raise _RandomError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma:g}")
    return _fill(t, "cauchy_",
                 lambda rng, shape, dt: (median + sigma * rng.standard_cauchy(shape)).astype(dt, copy=False),
                 generator)


def random_(t: Tensor, *bounds: int | None, to: int | None = None, generator: GeneratorLike = None) -> Tensor:
    """Integers drawn uniformly: `random_(from, to)` from [from, to), `random_(to)` from [0, to), `random_()`
    from [0, 2^mantissa] for a float dtype (2^24 for float32) and [0, max] for an integer one."""
    if len(bounds) > 2:
        raise TypeError(f"random_: expected at most 2 bounds (from, to), got {len(bounds)}")
    if len(bounds) == 1 and to is None:
        low, high = 0, bounds[0]
    else:
        low = bounds[0] if bounds else 0
        high = bounds[1] if len(bounds) == 2 else to
    dt = t.dtype
    if high is None:
        if dt.kind == "f":
            high = 2 ** (np.finfo(dt).nmant + 1) + 1
        elif dt.kind in "iu":
            high = int(np.iinfo(dt).max) + 1
        else:
            high = 2
    low, high = _int_bounds(low, high, dt, "random_")
    return _fill(t, "random_", lambda rng, shape, dtype: _integers(rng, low, high, shape, dtype), generator,
                 kinds="biuf")
