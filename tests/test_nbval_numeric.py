"""The numeric-aware nbval comparison (tests/numeric_compare.py): known answers, and a real reference it bites on."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from numeric_compare import numbers_close, reconcile, split_numbers, texts_agree

HERE = Path(__file__).parent


def test_numbers_are_split_from_the_text_around_them():
    pieces, numbers = split_numbers("| msrresnet-8x1 | 4,531 | 1.69e+03 [4.09, 4.35e+04] | +0.00 / -0.01")
    assert numbers == ["8", "1", "4,531", "1.69e+03", "4.09", "4.35e+04", "+0.00", "-0.01"]
    assert pieces[:3] == ["| msrresnet-", "x", " | "] and len(pieces) == len(numbers) + 1


@pytest.mark.parametrize("reference, test, close", [
    ("1689.4", "1689.0", True),       # 0.024 %: the Intel / EPYC difference of the issue
    ("2.38e+03", "2.39e+03", True),    # 0.42 %
    ("6.22e-03", "6.13e-03", True),    # 1.45 %: the largest difference measured (attribution, N = 4)
    ("100.0", "102.9", True),          # 2.9 % < 3 %
    ("100.0", "103.1", False),         # 3.1 % > 3 %
    ("29.05", "30.50", False),         # 5 %
    ("0.0012", "0.0013", True),        # 8 %, but one unit of the last printed digit
    ("0.0012", "0.0014", False),       # two units and 15 %
    ("4,531", "4,532", True),
    ("-0.000", "+0.000", True),
    ("1e+03", "1.05e+03", True),       # one unit of the coarser (100)
])
def test_numbers_close_known_answers(reference, test, close):
    assert numbers_close(reference, test) is close


def test_text_between_numbers_must_match_exactly():
    assert texts_agree("PSNR 29.05 dB", "PSNR 29.06 dB")
    assert not texts_agree("PSNR 29.05 dB", "PSNR 29.05 dB!")
    assert not texts_agree("a 1 b 2", "a 1 b")  # a number missing
    assert not texts_agree("ratio nan", "ratio 1.0")  # non-finite values are text
    assert not texts_agree("verdict: reproduced (2.1)", "verdict: opposite (2.1)")


def test_reconcile_replaces_only_agreeing_strings():
    ref = [{"output_type": "stream", "text": "a 1.000\n"}, {"data": {"text/plain": "b 2.0"}}]
    test = [{"output_type": "stream", "text": "a 1.001\n"}, {"data": {"text/plain": "b 3.0"}}]
    out = reconcile(ref, test)
    assert out[0]["text"] == "a 1.000\n" and out[1]["data"]["text/plain"] == "b 3.0"
    assert test[0]["text"] == "a 1.001\n"  # the test outputs themselves are not modified


def _nbval(folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                           "degradations.ipynb", "--nbval-sanitize-with", "sanitize.cfg"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("factor, passes", [(1.0, True), (1.01, True), (1.05, False)])
def test_nbval_on_a_committed_reference_tolerates_1_percent_and_fails_on_5(tmp_path, factor, passes):
    for name in ("degradations.ipynb", "sanitize.cfg", "conftest.py"):
        shutil.copy(HERE / "nbval" / name, tmp_path / name)
    nb = json.loads((tmp_path / "degradations.ipynb").read_text())
    line = "mean PSNR (dB) of bilinear upsampling: {'clean': "
    hits = [o for c in nb["cells"] for o in c.get("outputs", []) if line in "".join(o.get("text", ""))]
    assert len(hits) == 1
    text = "".join(hits[0]["text"])
    value = float(text.split(line)[1].split(",")[0])
    hits[0]["text"] = text.replace(f"{line}{value:.2f}", f"{line}{value * factor:.2f}")
    assert factor == 1.0 or hits[0]["text"] != text
    (tmp_path / "degradations.ipynb").write_text(json.dumps(nb))
    run = _nbval(tmp_path)
    assert (run.returncode == 0) is passes, run.stdout[-3000:]
    if not passes:
        assert "mean PSNR (dB) of bilinear upsampling" in run.stdout
