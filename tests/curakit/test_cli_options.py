import argparse

from curakit._cli import build_parser
from curakit._cli._options import add_random_state


def test_random_state_flag_and_its_old_name(capsys):
    p = argparse.ArgumentParser()
    add_random_state(p)
    assert p.parse_args([]).random_state == 0
    assert p.parse_args(["--random-state", "4"]).random_state == 4
    assert capsys.readouterr().err == ""
    assert p.parse_args(["--seed", "5"]).random_state == 5
    assert "--seed is renamed --random-state" in capsys.readouterr().err


def test_every_seeded_subcommand_spells_the_flag_the_same():
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    seeded = [name for name, sub in subs.items() if any("--seed" in a.option_strings for a in sub._actions)]
    assert {"build", "retrain", "run", "diagnose", "augment", "demo"} <= set(seeded)
    for name in seeded:
        action = next(a for a in subs[name]._actions if "--seed" in a.option_strings)
        assert action.option_strings == ["--random-state", "--seed"] and action.dest == "random_state", name
