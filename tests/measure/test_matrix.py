from bench.measure import servers
from bench.measure.matrix import cases, plan
from bench.records import Cell, Variant

PROFILE = {
    "keepalive": {"duration": 3, "concurrency": 200, "threads": 2},
    "close": {"requests": 1000, "concurrency": 50, "threads": 4},
}
NGINX, TWISTED = servers.kind("nginx"), servers.kind("twisted")


def twisted(*interpreters, modes=("shared",), resources=("fixed", "file"), version="26.4.0") -> list[Variant]:
    return [Variant(interpreter=i, mode=m, resource=r, twisted=version)
            for i in interpreters for m in modes for r in resources]


DEFAULTS = dict(servers=[(NGINX, [Variant()]), (TWISTED, twisted("pypy", "cpython"))], payloads=(40, 10000),
                keepalive=(True, False), workers=(2,), loadgen="wrk", profile=PROFILE)


def test_every_kind_brings_its_variants_into_every_case():
    cells = plan(**DEFAULTS)
    # per payload x keep-alive: nginx + 2 interpreters x 2 resources
    assert len(cells) == 2 * 2 * (1 + 2 * 2)
    assert {c.variant for c in cells if c.server == "nginx"} == {Variant()}
    assert {(c.variant["interpreter"], c.variant["resource"]) for c in cells if c.server == "twisted"} == {
        ("pypy", "fixed"), ("pypy", "file"), ("cpython", "fixed"), ("cpython", "file")}
    assert [len(case) for case in cases(cells)] == [5] * 4


def test_cells_carry_the_load_of_their_half():
    cells = plan(**DEFAULTS)
    alive = next(c for c in cells if c.keepalive)
    closing = next(c for c in cells if not c.keepalive)
    assert (alive.duration, alive.requests, alive.concurrency, alive.threads) == (3.0, None, 200, 2)
    assert (closing.duration, closing.requests, closing.concurrency, closing.threads) == (None, 1000, 50, 4)


def test_order_is_keepalive_first_then_payload_with_the_first_kind_leading():
    cells = plan(**DEFAULTS)
    assert cells[0].server == "nginx" and cells[0].keepalive and cells[0].payload == 40
    assert [c.keepalive for c in cells] == sorted((c.keepalive for c in cells), reverse=True)


def test_single_mode_collapses_a_worker_sweep():
    variants = twisted("cpython", modes=("single", "shared"), resources=("fixed",))
    cells = plan(**{**DEFAULTS, "servers": [(TWISTED, variants)], "payloads": (40,), "keepalive": (True,),
                    "workers": (1, 2, 4)})
    singles = [c for c in cells if c.variant["mode"] == "single"]
    assert len(singles) == 1 and singles[0].workers == 1
    assert sorted(c.workers for c in cells if c.variant["mode"] == "shared") == [1, 2, 4]


def test_each_twisted_version_is_a_cell_of_its_own_in_the_same_case():
    versions = [variant for version in ("22.10.0", "24.3.0", "26.4.0")
                for variant in twisted("pypy", resources=("fixed",), version=version)]
    (case,) = cases(plan(**{**DEFAULTS, "servers": [(NGINX, [Variant()]), (TWISTED, versions)], "payloads": (40,),
                            "keepalive": (True,)}))
    assert [cell.label for cell in case] == ["nginx", "twisted/pypy/shared/fixed/22.10.0",
                                             "twisted/pypy/shared/fixed/24.3.0", "twisted/pypy/shared/fixed/26.4.0"]
    assert len({cell.id for cell in case}) == 4


def test_cell_id_is_stable_and_distinguishes_settings():
    variant = {"interpreter": "pypy", "mode": "shared", "resource": "fixed", "twisted": "26.4.0"}
    a = Cell("twisted", variant, 2, 40, True, "wrk", 100, 1, None, 3.0)
    b = Cell("twisted", dict(reversed(variant.items())), 2, 40, True, "wrk", 100, 1, None, 3.0)
    c = Cell("twisted", {**variant, "twisted": "24.3.0"}, 2, 40, True, "wrk", 100, 1, None, 3.0)
    assert a.id == b.id and a.id != c.id and len(a.id) == 12
    assert Cell.from_dict(a.to_dict()) == a and hash(a) == hash(b)
