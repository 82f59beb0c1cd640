"""What a caller typed stays text wherever a finding shows it (stewardship.model.markdown_text): one line, at most 200
characters, no markdown or HTML of its own. Short inputs are kept once escaped (the same drug names come back in
every check); long ones are escaped each time, the same way."""
from __future__ import annotations

import pytest

from stewardship.model import SHOWN_INPUT_MAX, markdown_text


@pytest.mark.parametrize("typed, shown", [
    ("ibuprofen 600 mg", "ibuprofen 600 mg"),
    ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert\\(1\\)&gt;"),
    ("[click](javascript:alert(1))", "\\[click\\]\\(javascript\\:alert\\(1\\)\\)"),
    ("**bold** _it_ `code` #1 | ~x~ !{}", "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\#1 \\| \\~x\\~ \\!\\{\\}"),
    ("a & b \\ c", "a &amp; b \\\\ c"),
    ("see www.example.org or WWW.Example.org", "see www\\.example.org or WWW\\.Example.org"),
    ("two\r\nlines\x00\x7fhere ", "two lines here"),
])
def test_typed_text_is_shown_as_text(typed, shown):
    assert markdown_text(typed) == shown
    assert markdown_text(typed) == shown  # the second time from what was kept


def test_long_text_is_cut_and_escaped_like_short_text():
    short = "<b>" + "x" * 20
    long = short + "y" * 1000
    assert markdown_text(long).startswith(markdown_text(short))
    assert markdown_text(long).endswith("…") and len(markdown_text("z" * 1000)) == SHOWN_INPUT_MAX


def test_a_value_that_is_not_text_is_shown_as_its_text():
    assert markdown_text(600) == "600" and markdown_text(None) == "None"
