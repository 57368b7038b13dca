"""The report's machine sections: which load generator made the numbers, and from where (pure)."""
from bench.report.machines import environment_section, loadgen_warnings, loadgen_words

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
