import pytest

from drift_gym.placeholders import TemplateError, render, tokens_in


def test_tokens_fill_and_braces_in_data_are_safe():
    text = "def f():\n    return {'a': @@x@@}  # {not a format field}"
    expected = "def f():\n    return {'a': {1}}  # {not a format field}"
    assert render(text, {"x": "{1}"}, where="t") == expected
    assert tokens_in("@@a@@ and @@b_2@@") == {"a", "b_2"}


def test_unknown_token_names_where():
    with pytest.raises(TemplateError, match=r"family x step s: unknown token @@nope@@"):
        render("@@nope@@", {}, where="family x step s")
