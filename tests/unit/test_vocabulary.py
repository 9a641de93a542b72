"""Vocabulary defined once (issue #28): each choice list or key the pages share with the rest of the code is the
other side's own definition, not a copy."""
from __future__ import annotations

from typing import get_args

from alerts.rules import COMPARISONS, Rule


def test_rule_editor_choices_are_the_rule_models():
    """The rule editor offers exactly what the rule model accepts (one definition: alerts.rules)."""
    assert get_args(Rule.model_fields["comparison"].annotation) == tuple(COMPARISONS)
