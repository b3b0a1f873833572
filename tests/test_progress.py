"""Progress bars: off, tqdm's own, or plain text on the process's stderr under make (FAIGLIB_PROGRESS=terminal)."""
import io
import sys

from faiglib.core.progress import ENV, notebook_progress, progress_bar


def test_a_disabled_bar_iterates_and_ignores_updates(monkeypatch, capsys):
    monkeypatch.setenv(ENV, "terminal")
    bar = progress_bar(range(3), enabled=False, desc="quiet")
    assert list(bar) == [0, 1, 2]
    bar = progress_bar(enabled=False, total=5)
    bar.update(2)
    bar.set_postfix(loss=1.0)
    bar.close()
    captured = capsys.readouterr()
    assert "quiet" not in captured.err + captured.out


def test_terminal_bars_go_to_the_process_stderr_not_the_notebook(monkeypatch, capsys):
    monkeypatch.setenv(ENV, "terminal")
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", terminal)
    assert list(progress_bar(range(4), enabled=True, desc="FAIG (N=3, left)", unit="image")) == [0, 1, 2, 3]
    assert "FAIG (N=3, left)" in terminal.getvalue() and "4/4" in terminal.getvalue()
    captured = capsys.readouterr()  # sys.stderr is what ipykernel sends to the page
    assert "FAIG" not in captured.err + captured.out


def test_notebooks_show_progress_only_under_make(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert not notebook_progress()
    monkeypatch.setenv(ENV, "terminal")
    assert notebook_progress()
    monkeypatch.setenv(ENV, "yes")
    assert not notebook_progress()
