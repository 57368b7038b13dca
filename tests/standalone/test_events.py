"""Reading server.py's event lines back."""
from bench.standalone.events import read_events, worker_counts


def test_read_events_skips_other_lines_and_worker_counts_keeps_the_last():
    text = "\n".join([
        '{"event":"ready","worker":0,"pid":10}',
        '2026-01-01T00:00:00+0000 [-] 127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 40 "-" "wrk"',
        '{"event":"stats","worker":0,"pid":10,"requests":5,"time":1.0}',
        '{"not":"an event"}',
        '{"event":"stats","worker":1,"pid":11,"requests":7,"time":1.0}',
        '{"event":"stats","worker":0,"pid":10,"requests":9,"ti',  # torn by a crash
        '[1, 2]',
        '{"event":"worker-exit","worker":0,"pid":10,"requests":12}',
        "server.py: port 127.0.0.1:8080 is in use: stop what holds it or pick another --port",
    ])
    events = read_events(text)
    assert [e["event"] for e in events] == ["ready", "stats", "stats", "worker-exit"]
    assert worker_counts(events) == {0: 12, 1: 7}
    assert worker_counts([]) == {}
