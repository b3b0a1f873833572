"""Numeric-aware comparison of printed notebook outputs (the `make nbval` check).

Two CPUs that both run torch correctly sum floats in different orders (AVX-512 vs AVX2 kernels, oneDNN's ISA),
so a printed ratio or bootstrap bound can differ in its 3rd-5th significant figure between an Intel Xeon and an
AMD EPYC. nbval compares printed outputs as strings; this module makes the comparison numeric-aware: the text
between numbers must match exactly, and each pair of printed numbers must agree within

* ``RTOL`` = 3 % of the larger magnitude. The smoke pair is trained anew by every check, and its weights differ
  in the last bits from CPU to CPU; what that does to the printed numbers was measured against the references
  (written on an AVX512-BF16 EPYC): on an AVX2 EPYC, natively and with
  ``ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=AVX2``, the largest difference among numbers printed with
  three or more significant figures was 1.45 % (the attribution chapter's trapezoid completeness gap at N = 4,
  6.22e-03 vs 6.13e-03, the same in float64: a quadrature error of a barely trained pair, not rounding), the
  next 0.55 %; the issue's Intel Xeon run differed by at most 0.4 %. 3 % leaves twice the worst seen, while a
  5 % change of a number printed with three or more significant figures still fails
  (``tests/test_nbval_numeric.py`` perturbs a committed reference);
* or one unit of the last printed digit of the coarser of the two (``0.0012`` vs ``0.0013`` is a rounding
  boundary crossed by a last-bit difference, not a different result).

Non-finite values (``nan``, ``inf``) are text and must match exactly.
"""
from __future__ import annotations

import copy
import os
import re

RTOL = 0.03

# a printed number: optional sign, digits with optional thousands separators, optional fraction and exponent.
# A leading letter or digit is not part of it (``x1`` in ``msrresnet-8x1`` stays a number 1; the text around it
# must match, and identical numbers always agree).
NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|"
                    r"(?<=[\w])(?:\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?")


def _value_and_unit(token: str) -> tuple[float, float]:
    """The number a token prints and one unit of its last printed digit."""
    text = token.replace(",", "").replace("−", "-")
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    scale = 10.0 ** int(exponent) if exponent else 1.0
    return float(text), 10.0 ** -decimals * scale


def numbers_close(reference: str, test: str, rtol: float = RTOL) -> bool:
    """Whether two printed numbers agree: within ``rtol`` of the larger magnitude, or one unit of the last
    printed digit of the coarser one."""
    a, unit_a = _value_and_unit(reference)
    b, unit_b = _value_and_unit(test)
    diff = abs(a - b)
    return diff <= rtol * max(abs(a), abs(b)) or diff <= max(unit_a, unit_b) * (1 + 1e-9)


def split_numbers(text: str) -> tuple[list[str], list[str]]:
    """``(text pieces, number tokens)``: ``pieces[i]`` precedes ``numbers[i]``; one more piece than numbers."""
    pieces, numbers, last = [], [], 0
    for m in NUMBER.finditer(text):
        pieces.append(text[last:m.start()])
        numbers.append(m.group())
        last = m.end()
    pieces.append(text[last:])
    return pieces, numbers


def texts_agree(reference: str, test: str, rtol: float = RTOL) -> bool:
    """Same text between the numbers, and every pair of numbers close (:func:`numbers_close`)."""
    if reference == test:
        return True
    ref_pieces, ref_numbers = split_numbers(reference)
    test_pieces, test_numbers = split_numbers(test)
    return (ref_pieces == test_pieces and len(ref_numbers) == len(test_numbers)
            and all(numbers_close(r, t, rtol) for r, t in zip(ref_numbers, test_numbers)))


def reconcile(reference, test, normalize=lambda text: text):
    """A copy of the ``test`` outputs in which every string that agrees numerically with its counterpart in
    ``reference`` (same position, same output key; both first passed through ``normalize``, e.g. nbval's
    sanitize patterns) is replaced by the reference's string, so that an exact comparison afterwards fails only
    where the outputs really differ."""
    if isinstance(reference, str) and isinstance(test, str):
        return reference if texts_agree(normalize(reference), normalize(test)) else test
    if isinstance(reference, dict) and isinstance(test, dict):
        out = copy.copy(test)
        for key in test:
            if key in reference:
                out[key] = reconcile(reference[key], test[key], normalize)
        return out
    if isinstance(reference, list) and isinstance(test, list) and len(reference) == len(test):
        return [reconcile(r, t, normalize) for r, t in zip(reference, test)]
    return test


def differing_numbers(reference, test, normalize=lambda text: text) -> list[tuple[str, str]]:
    """Every pair of printed numbers that differ as text, where the texts around them agree."""
    if isinstance(reference, str) and isinstance(test, str):
        ref_pieces, ref_numbers = split_numbers(normalize(reference))
        test_pieces, test_numbers = split_numbers(normalize(test))
        if ref_pieces != test_pieces or len(ref_numbers) != len(test_numbers):
            return []
        return [(r, t) for r, t in zip(ref_numbers, test_numbers) if r != t]
    if isinstance(reference, dict) and isinstance(test, dict):
        return [pair for k in test if k in reference for pair in differing_numbers(reference[k], test[k], normalize)]
    if isinstance(reference, list) and isinstance(test, list) and len(reference) == len(test):
        return [pair for r, t in zip(reference, test) for pair in differing_numbers(r, t, normalize)]
    return []


def install() -> None:
    """Make nbval's cell comparison numeric-aware (called by ``tests/nbval/conftest.py``)."""
    from nbval.plugin import IPyNbCell

    if getattr(IPyNbCell.compare_outputs, "numeric_aware", False):
        return
    exact = IPyNbCell.compare_outputs

    log = os.environ.get("NBVAL_NUMERIC_LOG")  # a file: every number pair that differed is appended to it

    def compare_outputs(self, test, ref, skip_compare=None):
        if log:
            with open(log, "a") as fh:
                for r, t in differing_numbers(ref, test, self.sanitize):
                    a, b = _value_and_unit(r)[0], _value_and_unit(t)[0]
                    rel = abs(a - b) / max(abs(a), abs(b))
                    fh.write(f"{self.parent.name}::{self.name}\t{r}\t{t}\t{rel:.3g}\t{numbers_close(r, t)}\n")
        return exact(self, reconcile(ref, test, self.sanitize), ref, skip_compare)

    compare_outputs.numeric_aware = True
    IPyNbCell.compare_outputs = compare_outputs
