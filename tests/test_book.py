"""The book glue: pages for chapters an edition did not execute, the edition table."""
import json

import pytest

from faiglib.report.book import edition_markdown, write_missing_sections


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
