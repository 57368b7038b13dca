"""The `inv bench` task's parameters and help come from the option table: an entry is a flag."""
import copy
import inspect

import pytest
from invoke import Collection, Parser, ParserContext

from bench.measure.options import OPTIONS, Option, help_of, repeated, signature, taking_flags
from bench.measure.options.values import Many, Maybe, Switch, Text, Whole
from bench.tasks import run


def test_a_table_entry_with_help_is_a_flag_with_that_help():
    table = (Option("rounds", Whole(1), "how many rounds", config="bench.rounds"),
             Option("quiet", Switch(), "say less"),
             Option("hosts", Many(Text(), comma=False), "a host; repeat it", flag="host", repeat=True),
             Option("budget", Maybe(Whole(1)), config="bench.budget"))  # no help: invoke.yaml alone
    parameters = signature(table).parameters
    assert list(parameters) == ["c", "rounds", "quiet", "host"]
    assert [parameters[name].default for name in ("rounds", "quiet", "host")] == [None, False, None]
    assert help_of(table) == {"rounds": "how many rounds (invoke.yaml: bench.rounds)", "quiet": "say less",
                              "host": "a host; repeat it"}
    assert repeated(table) == ["host"]

    @taking_flags(table)
    def body(c, **flags):
        return flags

    assert inspect.signature(body) == signature(table)
    assert body(None, rounds="3") == {"rounds": "3", "quiet": False, "host": None}  # what is left out: its default
    with pytest.raises(TypeError):
        body(None, colour="red")


def bench_task():
    """The `inv bench` task, as a copy: Invoke hands each flag's help out once (get_arguments pops it)."""
    return copy.deepcopy(run.bench)


def test_inv_bench_takes_every_flag_of_the_table_with_its_help():
    task = bench_task()
    flags = {option.flag_name for option in OPTIONS if option.help}
    arguments = {argument.name: argument for argument in task.get_arguments()}
    assert set(arguments) == flags
    assert {name: argument.help for name, argument in arguments.items()} == help_of()
    printed = Collection(bench_task()).to_contexts()[0].help_tuples()  # what `inv --help bench` prints
    assert sorted(help for _, help in printed) == sorted(help_of().values())


def test_inv_bench_parses_its_flags_as_before():
    """What the command line gives the task: a value flag, on/off flags and a repeated one."""
    context = ParserContext(name="bench", args=bench_task().get_arguments())
    parsed = Parser(contexts=[context]).parse_argv(
        ["bench", "--concurrency", "50", "--keepalive", "--load-host", "root@a:22", "--load-host", "root@b:22",
         "--server-cpus", "1"])
    given = {argument.name: argument.value for argument in parsed[0].args.values()}
    assert given["concurrency"] == "50" and given["keepalive"] is True and given["close"] is False
    assert given["load_host"] == ["root@a:22", "root@b:22"] and given["server_cpus"] == "1"
    assert given["resume"] is None and given["trust_new_host"] is False
