"""The gateway access-log source: parsing, label caps, rotation, restart, malformed lines."""

from __future__ import annotations

import json

import pytest

from citadel_monitoring.collector.config import AccessLogConfig, LogFields
from citadel_monitoring.collector.exposition import render_samples
from citadel_monitoring.collector.sources.logs import AccessLogSource, Aggregates


def line(tenant="acme", model="llama", status=200, prompt=10, completion=5, duration=0.7, **extra):
    rec = {
        "tenant": tenant,
        "model": model,
        "status": status,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "duration_seconds": duration,
        **extra,
    }
    return json.dumps(rec) + "\n"


def families(source):
    return {f.sample_name: f for f in source.collect()}


def value(fams, name, suffix="", **labels):
    for sfx, lab, v in fams[name].samples:
        if sfx == suffix and all(lab.get(k) == want for k, want in labels.items()):
            return v
    raise KeyError((name, suffix, labels))


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "access.log"


def make(log_path, tmp_path, **kw):
    config = AccessLogConfig(name="gw", path=log_path, state_file=tmp_path / "state.json", **kw)
    return AccessLogSource(config, render_interval=0)


def test_counts_requests_tokens_errors_and_latency_per_tenant_and_model(log_path, tmp_path):
    log_path.write_text(
        line("acme", duration=0.3)
        + line("acme", status=503, prompt=1, completion=0, duration=30)
        + line("globex", model="mistral", prompt=100, completion=50, duration=2.0)
    )
    fams = families(make(log_path, tmp_path))
    assert value(fams, "citadel_gateway_requests_total", tenant="acme", model="llama") == 2
    assert value(fams, "citadel_gateway_request_errors_total", tenant="acme") == 1
    assert value(fams, "citadel_gateway_request_errors_total", tenant="globex") == 0
    assert value(fams, "citadel_gateway_prompt_tokens_total", tenant="acme") == 11
    assert value(fams, "citadel_gateway_completion_tokens_total", tenant="globex") == 50
    h = "citadel_gateway_request_duration_seconds"
    assert value(fams, h, "_bucket", tenant="acme", le="0.25") == 0
    assert value(fams, h, "_bucket", tenant="acme", le="0.5") == 1
    assert value(fams, h, "_bucket", tenant="acme", le="20.0") == 1
    assert value(fams, h, "_bucket", tenant="acme", le="40.0") == 2
    assert value(fams, h, "_bucket", tenant="acme", le="+Inf") == 2
    assert value(fams, h, "_sum", tenant="acme") == pytest.approx(30.3)
    assert value(fams, h, "_count", tenant="globex") == 1


def test_malformed_lines_are_counted_and_skipped(log_path, tmp_path):
    log_path.write_text(
        "not json\n"
        + '["a list"]\n'
        + '{"tenant": "acme"}\n'
        + line(status="200")
        + line(prompt=-1)
        + '{"tenant": "acme", "model": "m", "status": 200, "prompt_tokens": NaN}\n'
        + line(prompt="many")
        + "\n"
        + line()
    )
    fams = families(make(log_path, tmp_path))
    assert value(fams, "citadel_collector_log_lines_rejected_total", source="log:gw") == 7
    assert value(fams, "citadel_gateway_requests_total", tenant="acme") == 1


def test_field_names_are_configurable(log_path, tmp_path):
    log_path.write_text(json.dumps({"org": "acme", "m": "x", "code": 500, "in": 3, "out": 4, "secs": 1.0}) + "\n")
    fields = LogFields(
        tenant="org", model="m", status="code", prompt_tokens="in", completion_tokens="out", duration_seconds="secs"
    )
    fams = families(make(log_path, tmp_path, fields=fields))
    assert value(fams, "citadel_gateway_request_errors_total", tenant="acme", model="x") == 1
    assert value(fams, "citadel_gateway_completion_tokens_total", tenant="acme") == 4


def test_tenant_and_model_labels_are_capped(log_path, tmp_path):
    log_path.write_text("".join(line(f"t{i}", model=f"m{i % 4}") for i in range(10)))
    fams = families(make(log_path, tmp_path, max_tenants=3, max_models=2))
    tenants = {lab["tenant"] for _, lab, _ in fams["citadel_gateway_requests_total"].samples}
    models = {lab["model"] for _, lab, _ in fams["citadel_gateway_requests_total"].samples}
    assert tenants == {"t0", "t1", "t2", "other"}
    assert models == {"m0", "m1", "other"}
    total = sum(v for _, _, v in fams["citadel_gateway_requests_total"].samples)
    assert total == 10


def test_a_partial_line_waits_for_its_newline(log_path, tmp_path):
    source = make(log_path, tmp_path)
    text = line()
    log_path.write_text(text[:20])
    assert value(families(source), "citadel_collector_log_lines_read_total") == 0
    with open(log_path, "a") as fh:
        fh.write(text[20:])
    assert value(families(source), "citadel_gateway_requests_total", tenant="acme") == 1


def test_rename_rotation_loses_and_repeats_nothing(log_path, tmp_path):
    source = make(log_path, tmp_path)
    log_path.write_text(line() * 3)
    source.collect()
    with open(log_path, "a") as fh:  # written after the last read, before rotation
        fh.write(line() * 2)
    log_path.rename(tmp_path / "access.log.1")
    log_path.write_text(line("globex") * 4)
    fams = families(source)
    assert value(fams, "citadel_gateway_requests_total", tenant="acme") == 5
    assert value(fams, "citadel_gateway_requests_total", tenant="globex") == 4
    fams = families(source)  # and nothing is counted twice
    assert value(fams, "citadel_gateway_requests_total", tenant="acme") == 5


def test_copytruncate_rotation_starts_over(log_path, tmp_path):
    source = make(log_path, tmp_path)
    log_path.write_text(line() * 3)
    source.collect()
    with open(log_path, "r+") as fh:
        fh.truncate(0)
    with open(log_path, "a") as fh:
        fh.write(line("globex"))
    fams = families(source)
    assert value(fams, "citadel_gateway_requests_total", tenant="globex") == 1


def test_a_restart_resumes_from_the_saved_offset(log_path, tmp_path):
    log_path.write_text(line() * 3)
    first = make(log_path, tmp_path)
    first.collect()
    first.close()
    with open(log_path, "a") as fh:
        fh.write(line("globex") * 2)
    second = make(log_path, tmp_path)
    fams = families(second)
    assert value(fams, "citadel_collector_log_lines_read_total") == 2
    assert "acme" not in {lab["tenant"] for _, lab, _ in fams["citadel_gateway_requests_total"].samples}


def test_a_restart_after_rotation_finishes_the_rotated_file(log_path, tmp_path):
    log_path.write_text(line() * 3)
    first = make(log_path, tmp_path)
    first.collect()
    first.close()
    with open(log_path, "a") as fh:
        fh.write(line() * 2)  # written while the collector was down
    log_path.rename(tmp_path / "access.log.1")
    log_path.write_text(line("globex"))
    fams = families(make(log_path, tmp_path))
    assert value(fams, "citadel_gateway_requests_total", tenant="acme") == 2
    assert value(fams, "citadel_gateway_requests_total", tenant="globex") == 1


def test_a_missing_file_is_not_an_error(log_path, tmp_path):
    fams = families(make(log_path, tmp_path))
    assert value(fams, "citadel_collector_log_lines_read_total") == 0


def test_a_corrupt_state_file_is_ignored(log_path, tmp_path):
    (tmp_path / "state.json").write_text("{oops")
    log_path.write_text(line())
    assert value(families(make(log_path, tmp_path)), "citadel_gateway_requests_total") == 1


def test_aggregates_render_valid_label_values():
    agg = Aggregates(AccessLogConfig(name="gw", path=None))  # type: ignore[arg-type]
    agg.add_lines([line(tenant='we"ird\\one').encode()])
    text = "".join(render_samples(f) for f in agg.families("gw", "log:gw"))
    assert 'tenant="we\\"ird\\\\one"' in text


def test_a_busy_log_is_rendered_at_most_every_render_interval(log_path, tmp_path):
    log_path.write_text(line())
    source = AccessLogSource(AccessLogConfig(name="gw", path=log_path), render_interval=3600)
    first = source.collect()
    with open(log_path, "a") as fh:
        fh.write(line())
    assert source.collect() is first  # counted, not rendered again yet
    assert source.aggregates.lines == 2
    source.render_interval = 0
    second = source.collect()
    assert second is not first
    assert value({f.sample_name: f for f in second}, "citadel_gateway_requests_total") == 2
    assert source.collect() is second  # nothing new: nothing rendered


def test_every_restart_saves_its_own_offset(log_path, tmp_path):
    log_path.write_text(line())
    for round_ in range(3):
        source = make(log_path, tmp_path)
        fams = families(source)
        assert value(fams, "citadel_collector_log_lines_read_total") == 1, round_
        source.close()
        with open(log_path, "a") as fh:
            fh.write(line())


def test_a_large_backlog_is_read_a_chunk_at_a_time(log_path, tmp_path, monkeypatch):
    from citadel_monitoring.collector.sources import logs

    monkeypatch.setattr(logs, "READ_CHUNK", 256)
    log_path.write_text(line() * 50)
    batches = list(make(log_path, tmp_path).tailer.read_new())
    assert len(batches) > 5
    assert sum(len(b) for b in batches) == 50
