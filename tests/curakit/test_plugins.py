"""curakit.plugins.PluginRegistry: registration order, did-you-mean, move_to_front."""

import pytest

from curakit.exceptions import UnknownNameError
from curakit.plugins import PluginRegistry


def test_move_to_front_fixes_the_order_of_registered_names_only():
    reg = PluginRegistry("thing")
    for name in ("c", "user", "a", "b"):
        reg.register(name)(name.upper())
    assert reg.names() == ["c", "user", "a", "b"]
    reg.move_to_front(("a", "b", "c", "missing"))
    assert reg.names() == ["a", "b", "c", "user"] and list(reg) == reg.names()
    assert reg.get("user") == "USER" and len(reg) == 4
    with pytest.raises(UnknownNameError, match=r"Unknown thing 'usr'\. Did you mean 'user'\?"):
        reg.get("usr")
