"""The option table holds together: each entry names what exists, and invoke.yaml has every key it names."""
import re

from support import PROJECT, project_config

from bench.measure.options import FIELDS, OPTIONS
from bench.measure.options.values import configured


def test_each_entry_names_options_and_flags_that_exist_once():
    names = [option.name for option in OPTIONS]
    flags = [option.flag_name for option in OPTIONS if option.help]
    assert len(set(names)) == len(names) and len(set(flags)) == len(flags)
    assert all(option.sets in names for option in OPTIONS if option.sets)
    assert all(option.switch is not None for option in OPTIONS if option.sets)  # only an on/off flag gives a value
    assert not any(option.resumable and not option.field for option in OPTIONS)  # what is not kept cannot match
    assert all(option.help or option.config or option.name == "command" for option in FIELDS)


def test_invoke_yaml_has_every_key_the_table_names_each_with_a_comment():
    config = project_config()
    text = (PROJECT / "invoke.yaml").read_text()
    for option in OPTIONS:
        if option.config:
            configured(config, option.config)  # present, else one line naming it
            if option.config.startswith("bench."):
                key = option.config.split(".")[-1]
                line = re.search(rf"^  {key}:.*$", text, re.MULTILINE).group(0)
                above = text[:text.index(line)].rstrip().splitlines()[-1]
                assert "#" in line or above.strip().startswith("#"), f"{option.config} has no comment in invoke.yaml"
