"""The report's machine sections: which load generator made the numbers, and from where; the run's
settings under the option table's labels (pure)."""
from support import options

from bench.measure import SETTING_LABELS
from bench.measure.options import settings
from bench.report.machines import environment_section, loadgen_warnings, loadgen_words, settings_section

SOURCE = {"kind": "tarball", "file": "weighttp-0.4.tar.gz",
          "sha256": "b4954f2a1eca118260ffd503a8e3504dd32942e2e61d0fa18ccb6b8166594447"}


def env(loadgen):
    return {"hosts": [{"name": "local", "role": "server+load", "nofile": {}, "loadgen": loadgen}]}


def test_the_tool_its_version_and_its_source_in_one_cell():
    facts = {"tool": "weighttp-0.4", "version": "weighttp 0.4", "source": SOURCE, "replaced": None}
    assert loadgen_words(facts) == "weighttp 0.4, tarball weighttp-0.4.tar.gz (sha256 b4954f2a1eca…)"
    assert "| load generator        | weighttp 0.4, tarball weighttp-0.4.tar.gz" in "\n".join(environment_section(env(facts)))
    assert loadgen_warnings(env(facts)) == []


def test_wrk_standing_in_for_weighttp_is_said_at_the_top_and_in_the_table():
    facts = {"tool": "wrk", "version": "wrk debian/4.1.0-3+b2", "replaced": "weighttp is not installed: run `inv setup`",
             "source": {"kind": "distro", "package": "wrk", "version": "4.1.0-3+b2"}}
    (line, blank) = loadgen_warnings(env(facts))
    assert line.startswith("> ") and blank == ""
    assert ("**The preferred load generator, weighttp, was replaced by wrk debian/4.1.0-3+b2** on local: "
            "weighttp is not installed: run `inv setup`. Its figures are not weighttp's.") in line
    assert loadgen_words(facts) == "wrk debian/4.1.0-3+b2, distro wrk 4.1.0-3+b2 (replaces weighttp)"


def test_the_preferred_generator_is_whichever_setup_loadgens_put_first():
    facts = {"tool": "weighttp-0.5", "version": "weighttp 0.5", "preferred": "h2load",
             "replaced": "h2load is not installed: run `inv setup --only h2load`", "source": SOURCE}
    (line, _) = loadgen_warnings(env(facts))
    assert ("**The preferred load generator, h2load, was replaced by weighttp 0.5** on local: h2load is not "
            "installed: run `inv setup --only h2load`. Its figures are not h2load's.") in line
    assert loadgen_words(facts).endswith(" (replaces h2load)")


def test_an_older_env_without_provenance_still_renders():
    assert loadgen_words({"tool": "wrk", "path": "/usr/bin/wrk", "version": "wrk 4.1"}) == "wrk 4.1"
    assert loadgen_words(None) == "—"


def test_the_settings_show_under_the_labels_of_the_option_table_in_its_order():
    env = {"settings": {"port": 8080, "repeats": 3, "colour": "blue"}}  # colour: a key of another harness
    text = "\n".join(settings_section(env, labels={"repeats": "rounds, at least", "port": "first port"}))
    rows = [line.split("|")[1:3] for line in text.splitlines() if line.startswith("| ") and "setting" not in line]
    assert [[cell.strip() for cell in row] for row in rows] == [["rounds, at least", "3"], ["first port", "8080"],
                                                               ["colour", "blue"]]


def test_every_setting_a_run_writes_has_its_label():
    written = settings(options(server_cpus="1", load_cpus="0"), loadgen="wrk")
    text = "\n".join(settings_section({"settings": written}))
    assert all(f"| {SETTING_LABELS[key]} " in text for key in written)
    assert '{"server": "1", "load": "0"}' in text
