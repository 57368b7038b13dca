from bench.measure.matrix import plan
from bench.records import Cell

PROFILE = {
    "keepalive": {"duration": 3, "concurrency": 200, "threads": 2},
    "close": {"requests": 1000, "concurrency": 50, "threads": 4},
}
DEFAULTS = dict(servers=("nginx", "twisted"), interpreters=("pypy", "cpython"), modes=("shared",),
                resources=("fixed", "file"), payloads=(40, 10000), keepalive=(True, False),
                workers=(2,), loadgen="wrk", profile=PROFILE)


def test_default_matrix_has_nginx_and_every_twisted_variant():
    cells = plan(**DEFAULTS)
    # per payload x keep-alive: nginx + 2 interpreters x 2 resources
    assert len(cells) == 2 * 2 * (1 + 2 * 2)
    nginx = [c for c in cells if c.server == "nginx"]
    assert {c.resource for c in nginx} == {"file"}
    assert all(c.interpreter is None and c.mode is None for c in nginx)
    assert {(c.interpreter, c.resource) for c in cells if c.server == "twisted"} == {
        ("pypy", "fixed"), ("pypy", "file"), ("cpython", "fixed"), ("cpython", "file")}


def test_cells_carry_the_load_of_their_half():
    cells = plan(**DEFAULTS)
    alive = next(c for c in cells if c.keepalive)
    closing = next(c for c in cells if not c.keepalive)
    assert (alive.duration, alive.requests, alive.concurrency, alive.threads) == (3.0, None, 200, 2)
    assert (closing.duration, closing.requests, closing.concurrency, closing.threads) == (None, 1000, 50, 4)


def test_order_is_keepalive_first_then_payload_with_nginx_leading():
    cells = plan(**DEFAULTS)
    assert cells[0].server == "nginx" and cells[0].keepalive and cells[0].payload == 40
    assert [c.keepalive for c in cells] == sorted((c.keepalive for c in cells), reverse=True)


def test_single_mode_collapses_a_worker_sweep():
    cells = plan(**{**DEFAULTS, "servers": ("twisted",), "interpreters": ("cpython",), "modes": ("single", "shared"),
                    "resources": ("fixed",), "payloads": (40,), "keepalive": (True,), "workers": (1, 2, 4)})
    singles = [c for c in cells if c.mode == "single"]
    assert len(singles) == 1 and singles[0].workers == 1
    assert sorted(c.workers for c in cells if c.mode == "shared") == [1, 2, 4]


def test_cell_id_is_stable_and_distinguishes_settings():
    a = Cell("twisted", "pypy", "shared", 2, "fixed", 40, True, "wrk", 100, 1, None, 3.0)
    b = Cell("twisted", "pypy", "shared", 2, "fixed", 40, True, "wrk", 100, 1, None, 3.0)
    c = Cell("twisted", "pypy", "shared", 2, "fixed", 40, False, "wrk", 100, 1, None, 3.0)
    assert a.id == b.id and a.id != c.id and len(a.id) == 12
    assert Cell.from_dict(a.to_dict()) == a
