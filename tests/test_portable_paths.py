"""No committed file names a folder of the machine that made it (issue 24, item 7)."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from faiglib.report.book import portable_paths, scrub_notebook_paths, write_results

ROOT = Path(__file__).resolve().parents[1]
# the folders a machine's absolute paths start with here and on the usual Linux / macOS machines
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|tmp|home|root|Users|mnt|scratch)/")


def test_no_committed_text_file_holds_an_absolute_path_of_a_machine():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    offenders = []
    for name in listed.stdout.split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (images, checkpoints)
        offenders += [f"{name}:{i + 1}: {line.strip()[:120]}" for i, line in enumerate(text.splitlines())
                      if MACHINE_PATH.search(line)]
    assert not offenders, "absolute paths of a machine in committed files:\n" + "\n".join(offenders[:20])


def test_the_check_itself_sees_such_a_path():
    slash = "/"  # (spelled apart, or this file would hold the paths it looks for)
    assert MACHINE_PATH.search(f'out = "{slash}work/artifacts-shared"') and MACHINE_PATH.search(f"{slash}home/me/data")
    assert not MACHINE_PATH.search("../shared/data/Set14/HR") and not MACHINE_PATH.search("a/tmp/b")


def test_absolute_paths_in_results_become_repository_relative(tmp_path):
    repo = tmp_path / "clone"
    repo.mkdir()
    data = tmp_path / "shared" / "data" / "Set14" / "HR"
    joined = os.pathsep.join([str(tmp_path / "shared" / "BSD200"), str(tmp_path / "shared" / "T91")])
    assert portable_paths({"data": str(data), "train_data": joined, "n": 3, "note": "a / b", "rel": "x/y"},
                          repo) == {"data": "../shared/data/Set14/HR", "train_data": "../shared/BSD200:../shared/T91",
                                    "n": 3, "note": "a / b", "rel": "x/y"}
    cwd = os.getcwd()
    os.chdir(repo)  # not a git repository: the current directory is the root
    try:
        path = write_results(tmp_path / "results", "smoke", "demo", {"out": str(repo / "artifacts")}, data=str(data))
    finally:
        os.chdir(cwd)
    body = json.loads(path.read_text())
    assert body["data"] == "../shared/data/Set14/HR" and body["out"] == "artifacts"


def test_injected_parameters_of_an_executed_notebook_are_scrubbed(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "outputs": [],
                     "source": [f'out = "{tmp_path}/store"\n', 'profile = "dev"\n']},
                    {"cell_type": "code", "metadata": {}, "outputs": [], "source": ['x = "/kept/as/is"\n']}],
          "metadata": {"papermill": {"parameters": {"out": f"{tmp_path}/store", "profile": "dev"}}},
          "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "clone" / "page.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps(nb))
    scrub_notebook_paths(path, tmp_path / "clone")
    out = json.loads(path.read_text())
    assert "".join(out["cells"][0]["source"]) == 'out = "../store"\nprofile = "dev"\n'
    assert out["cells"][1]["source"] == ['x = "/kept/as/is"\n']  # only what papermill injected
    assert out["metadata"]["papermill"]["parameters"] == {"out": "../store", "profile": "dev"}
