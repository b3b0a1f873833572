"""The book glue: pages for chapters an edition did not execute, the edition table."""
import json

import pytest

from faiglib.report.book import edition_markdown, record_section_time, section_times, write_missing_sections


def test_missing_sections_get_a_page_with_the_title_and_executed_ones_do_not(tmp_path):
    (tmp_path / "masking.ipynb").write_text("{}")
    written = write_missing_sections(tmp_path, ["masking", "scale", "nonexistent"], "book/editions/dev")
    assert [p.name for p in written] == ["scale.md", "nonexistent.md"]
    scale = (tmp_path / "scale.md").read_text()
    # the title is the notebook's first heading, so the page sits where the chapter would
    assert scale.startswith("# Scale: do the findings move toward the paper's")
    assert "book/editions/dev" in scale and "make section S=scale" in scale
    assert (tmp_path / "nonexistent.md").read_text().startswith("# nonexistent\n")
    assert not (tmp_path / "masking.md").exists()


def test_missing_sections_need_the_folder(tmp_path):
    with pytest.raises(ValueError, match="not a folder of executed notebooks"):
        write_missing_sections(tmp_path / "absent", ["scale"], "e")


def test_edition_table_lists_each_results_file(tmp_path):
    assert "No results for profile `dev`" in edition_markdown(tmp_path, "dev")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "scale.json").write_text(json.dumps(
        {"device": "cpu", "network": "msrresnet-32x4", "seed": 0, "data": "../shared/data/Set14/HR",
         "commit": "0123456789abcdef"}))
    text = edition_markdown(tmp_path, "dev")
    assert "| scale | cpu | msrresnet-32x4 | 0 | Set14/HR | `0123456789ab` |" in text


def test_section_time_is_recorded_and_shown_in_the_edition_table_and_the_missing_page(tmp_path):
    results = tmp_path / "results"
    path = record_section_time(results, "cpu", "baselines", 754.25)
    assert path == results / "cpu" / "timings" / "baselines.json"
    t = json.loads(path.read_text())
    assert t["seconds"] == pytest.approx(754.25, abs=0.051)  # rounded to 0.1 s
    assert t["cores"] >= 1 and t["torch_threads"] >= 1 and t["cpu"]
    assert section_times(results, "cpu") == {"baselines": t}
    assert section_times(results, "dev") == {}
    with pytest.raises(ValueError, match="non-negative"):
        record_section_time(results, "cpu", "x", -1.0)
    # the results file of Table 2 is table2.json: its row shows the baselines chapter's time
    (results / "cpu" / "table2.json").write_text(json.dumps({"device": "cpu", "network": "n", "seed": 0,
                                                             "data": "embedded:analysis", "commit": "abc"}))
    table = edition_markdown(results, "cpu")
    assert "| table2 | cpu | n | 0 | embedded:analysis | `abc` | 12.6 min |" in table
    assert "torch threads" in table
    # make book's page for a chapter it leaves out: the command and the measured cost
    executed = tmp_path / "sections"
    executed.mkdir()
    write_missing_sections(executed, ["baselines", "scale"], None, results=results, profile="cpu")
    page = (executed / "baselines.md").read_text()
    assert "`make book` does not execute this chapter" in page and "make section S=baselines`" in page
    assert "make book-full`" in page and "took 12.6 min" in page
    assert "Measured" not in (executed / "scale.md").read_text()  # no timing recorded for it
    write_missing_sections(executed, ["levels"], None, results=results, profile="dev")
    assert "make section S=levels PROFILE=dev`" in (executed / "levels.md").read_text()
    # a stored edition's page: the command for the edition's profile and for the default one
    write_missing_sections(executed, ["attention"], "book/editions/dev", results=results, profile="dev")
    page = (executed / "attention.md").read_text()
    assert "not executed for the edition in `book/editions/dev`" in page
    assert "`make section S=attention PROFILE=dev EXECUTED=book/editions/dev`" in page
    assert "`make section S=attention`" in page and "make book-full" in page
