"""Vocabulary defined once (issue #28): each choice list or key the pages share with the rest of the code is the
other side's own definition, not a copy."""
from __future__ import annotations

from typing import get_args

from alerts.rules import COMPARISONS, Rule


def test_rule_editor_choices_are_the_rule_models():
    """The rule editor offers exactly what the rule model accepts (one definition: alerts.rules)."""
    assert get_args(Rule.model_fields["comparison"].annotation) == tuple(COMPARISONS)


def test_page_list_is_one_list():
    """The navigation and the deep links are built from core.links.NAVIGATION: every page file exists and
    every link's page is a page of the navigation."""
    from pathlib import Path

    from core import links
    from views.registry import PAGES

    root = Path(__file__).resolve().parents[2]
    assert [Path(p.path).stem for p in PAGES] == [n for n, _t, _i in links.NAVIGATION] == list(links.PAGES)
    assert all((root / p.path).is_file() for p in PAGES)
    assert [p.default for p in PAGES].count(True) == 1 and links.PAGES[Path(PAGES[0].path).stem] == ""
    assert links.url("http://h", "kafka") == "http://h/kafka" and links.url("http://h", "overview") == "http://h/"


def test_link_keys_are_not_retyped_on_the_pages():
    """A widget bound to a URL query parameter takes its key from core.links, never a retyped string."""
    import ast
    from pathlib import Path

    from core import links

    keys = {v for k, v in vars(links).items() if k.isupper() and isinstance(v, str) and k not in ("SEP",)}
    root = Path(__file__).resolve().parents[2]
    retyped = []
    for path in sorted((root / "views").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "key" and isinstance(node.value, ast.Constant) \
                    and node.value.value in keys:
                retyped.append(f"{path.name}:{node.value.lineno} key={node.value.value!r}")
    assert retyped == []
