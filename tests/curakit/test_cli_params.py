"""``curakit retrain --param KEY=VALUE``: VALUE is JSON; a bare word only for a text parameter."""

from __future__ import annotations

import pytest

from curakit._cli.retrain import parse_params
from curakit.exceptions import ParameterError


@pytest.mark.parametrize(("items", "strategy", "expected"), [
    (["epochs=3", "lr=0.01", "patience=null"], "scratch_all", {"epochs": 3, "lr": 0.01, "patience": None}),
    (["replay=true", "lr_scale=0.5"], "continue_new", {"replay": True, "lr_scale": 0.5}),
    (["replay=0.25"], "scratch_new", {"replay": 0.25}),
    (["head=fc", "num_classes=4"], "finetune_head", {"head": "fc", "num_classes": 4}),  # head is a str parameter
    (['head="fc"'], "finetune_head", {"head": "fc"}),
    (["epochs=2"], None, {"epochs": 2}),
    ([" epochs =2"], "scratch_all", {"epochs": 2}),
    ([], "scratch_all", {}),
])
def test_values_are_typed(items, strategy, expected):
    assert parse_params(items, strategy) == expected


@pytest.mark.parametrize(("items", "strategy", "pattern"), [
    (["epochs=3O"], "scratch_all",
     r"^The value of --param epochs is not JSON\. Write a number \(--param epochs=3\), true/false, null, a list such "
     r"as \[1, 2\], or a quoted string such as --param epochs='\"text\"'\.$"),
    (["replay=ture"], "continue_new", r"--param replay is not JSON"),  # not the string 'ture'
    (["epochs="], "scratch_all", r"--param epochs is not JSON"),
    (["epochs=abc"], None, r"--param epochs is not JSON"),  # no strategy known: never a bare string
    (["head=fc"], "scratch_all", r"Strategy 'scratch_all' has no parameter 'head'\."),
    (["epoch=2"], "scratch_all", r"has no parameter 'epoch'\. Did you mean 'epochs'\? It takes: epochs, lr"),
    (["x=1"], "do_nothing", r"Strategy 'do_nothing' has no parameter 'x'\. It takes no parameters\."),
    (["epochs"], "scratch_all", r"--param takes KEY=VALUE \(for example --param epochs=3\)\. Got 'epochs' instead\."),
    (["=3"], "scratch_all", r"--param takes KEY=VALUE"),
])
def test_mistakes_are_one_line_errors(items, strategy, pattern):
    with pytest.raises(ParameterError, match=pattern) as info:
        parse_params(items, strategy)
    assert "\n" not in str(info.value)


def test_an_unknown_strategy_is_left_to_retrain_and_values_stay_strict():
    assert parse_params(["epochs=2"], "scratch_al") == {"epochs": 2}  # curate.retrain names 'scratch_all'
    with pytest.raises(ParameterError, match="not JSON"):
        parse_params(["epochs=two"], "scratch_al")
