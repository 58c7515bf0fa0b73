"""`citadel-analytics detect` and `forecast`: the output contracts and every bad-input error."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from citadel_monitoring.analytics.cli import main
from citadel_monitoring.analytics.csvio import parse_duration, parse_timestamp, read_series


def write_series(path, n=24 * 4, step=3600, start="2024-01-01 00:00:00", values=None):
    from datetime import datetime, timedelta

    t0 = datetime.fromisoformat(start)
    vals = values if values is not None else 5 + np.sin(np.arange(n) * 2 * np.pi / 24)
    lines = ["timestamp,value"]
    lines += [f"{(t0 + timedelta(seconds=i * step)).isoformat(sep=' ')},{v:.4f}" for i, v in enumerate(vals)]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_detect_keeps_rows_and_adds_a_causal_score(tmp_path):
    src = write_series(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    assert main(["detect", str(src), "--output", str(out)]) == 0
    rows = read_rows(out)
    original = read_rows(src)
    assert len(rows) == len(original)
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score"]
    assert [r["timestamp"] for r in rows] == [r["timestamp"] for r in original]
    scores = [float(r["anomaly_score"]) for r in rows]
    assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize("detector", ["novelty", "seasonal", "smoothing", "ensemble"])
def test_detect_every_detector_flags_a_spike(tmp_path, detector):
    vals = 5 + np.sin(np.arange(24 * 6) * 2 * np.pi / 24)
    vals[120] = 40.0
    src = write_series(tmp_path / "in.csv", n=len(vals), values=vals)
    out = tmp_path / "out.csv"
    assert main(["detect", str(src), "-o", str(out), "--detector", detector]) == 0
    scores = [float(r["anomaly_score"]) for r in read_rows(out)]
    assert scores[120] >= 0.5
    assert max(scores[:120]) < scores[120]


def test_forecast_writes_future_rows_at_the_input_step(tmp_path):
    src = write_series(tmp_path / "in.csv")
    out = tmp_path / "fc.csv"
    assert main(["forecast", str(src), "--horizon", "6h", "--output", str(out)]) == 0
    rows = read_rows(out)
    assert list(rows[0]) == ["timestamp", "yhat", "yhat_lower", "yhat_upper"]
    assert [r["timestamp"] for r in rows] == [f"2024-01-05 {h:02d}:00:00" for h in range(6)]
    for r in rows:
        assert float(r["yhat_lower"]) <= float(r["yhat"]) <= float(r["yhat_upper"])


def test_forecast_with_a_limit_prints_time_to_exhaustion(tmp_path, capsys):
    src = write_series(tmp_path / "in.csv", n=48, values=np.arange(48) * 2.0)
    out = tmp_path / "fc.csv"
    assert main(["forecast", str(src), "--horizon", "2h", "-o", str(out), "--limit", "190"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("time to exhaustion of limit 190: in 2d")  # (190 - 94) / 2 per hour = 48 h
    assert main(["forecast", str(src), "--horizon", "2h", "-o", str(out), "--limit", "-5"]) == 0
    assert "limit -5: not heading there; trend 2 per hour" in capsys.readouterr().out


def test_forecast_keeps_epoch_timestamps(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("timestamp,value\n" + "".join(f"{1700000000 + 60 * i},{i % 7}\n" for i in range(50)))
    out = tmp_path / "fc.csv"
    assert main(["forecast", str(src), "--horizon", "3m", "-o", str(out)]) == 0
    assert [r["timestamp"] for r in read_rows(out)] == ["1700003000", "1700003060", "1700003120"]


BAD_INPUTS = {
    "empty": ("", "empty file"),
    "header only": ("timestamp,value\n", "no data rows"),
    "missing column": ("time,value\n2024-01-01 00:00:00,1\n", "missing column 'timestamp'"),
    "missing both": ("a,b\n1,2\n", "missing columns 'timestamp', 'value'"),
    "bad timestamp": (
        "timestamp,value\n2024-01-01 00:00:00,1\n2024-13-01 00:00:00,2\n",
        ":3: column 'timestamp': cannot parse '2024-13-01 00:00:00'",
    ),
    "unordered": (
        "timestamp,value\n2024-01-01 00:10:00,1\n2024-01-01 00:05:00,2\n",
        ":3: column 'timestamp': '2024-01-01 00:05:00' is earlier than the previous row's",
    ),
    "non-numeric": ("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,n/a\n", ":3: column 'value': 'n/a'"),
    "not finite": ("timestamp,value\n2024-01-01 00:00:00,inf\n", ":2: column 'value': 'inf' is not a finite number"),
    "ragged": ("timestamp,value\n2024-01-01 00:00:00,1,9\n", ":2: expected 2 fields like the header, got 3"),
    "mixed formats": ("timestamp,value\n1700000000,1\n2024-01-01 00:05:00,2\n", "mixes formats"),
}


@pytest.mark.parametrize("command", ["detect", "forecast"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_clearly_and_leaves_the_output_alone(tmp_path, capsys, command, case):
    text, message = BAD_INPUTS[case]
    src = tmp_path / "bad.csv"
    src.write_text(text)
    out = tmp_path / "out.csv"
    out.write_text("previous good result\n")
    extra = ["--horizon", "1h"] if command == "forecast" else []
    assert main([command, str(src), "--output", str(out), *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("citadel-analytics: error: ")
    assert str(src) in err
    assert message in err
    assert out.read_text() == "previous good result\n"
    assert {p.name for p in tmp_path.iterdir()} == {"bad.csv", "out.csv"}  # no temporary file left


def test_missing_input_file_and_missing_output_directory(tmp_path, capsys):
    assert main(["detect", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv")]) == 1
    assert "nope.csv: no such file" in capsys.readouterr().err
    src = write_series(tmp_path / "in.csv", n=10)
    assert main(["detect", str(src), "-o", str(tmp_path / "no" / "dir" / "o.csv")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_a_failure_while_writing_leaves_no_partial_file(tmp_path, monkeypatch):
    import citadel_monitoring.analytics.cli as cli

    src = write_series(tmp_path / "in.csv")
    out = tmp_path / "out.csv"

    calls = []

    def fmt_then_fail(v):
        calls.append(v)
        if len(calls) > 10:  # ten rows written, then the process fails
            raise RuntimeError("failed half-way through the output")
        return repr(v)

    monkeypatch.setattr(cli, "_fmt", fmt_then_fail)
    with pytest.raises(RuntimeError):
        main(["detect", str(src), "-o", str(out)])
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]


def test_bad_horizon_and_options_are_usage_errors(tmp_path, capsys):
    src = write_series(tmp_path / "in.csv")
    for argv in (
        ["forecast", str(src), "-o", "x.csv", "--horizon", "soon"],
        ["forecast", str(src), "-o", "x.csv", "--horizon", "0h"],
        ["forecast", str(src), "-o", "x.csv", "--horizon", "1h", "--coverage", "1.5"],
        ["detect", str(src), "-o", "x.csv", "--members", "novelty,magic"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "invalid duration 'soon'" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "detect" in capsys.readouterr().out


def test_nab_duplicate_timestamps_are_accepted(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("timestamp,value\n2014-03-09 02:55:00,1\n2014-03-09 03:00:00,2\n2014-03-09 03:00:00,3\n")
    table = read_series(src)
    assert table.step() == 300.0
    assert main(["detect", str(src), "-o", str(tmp_path / "o.csv")]) == 0


def test_timestamp_and_duration_parsing():
    assert parse_timestamp("1970-01-01 00:01:00") == (60.0, False, False)
    assert parse_timestamp("1970-01-01T00:01:00Z") == (60.0, False, True)
    assert parse_timestamp("1970-01-01T01:01:00+01:00")[0] == 60.0
    assert parse_timestamp("1700000000.5") == (1700000000.5, True, False)
    for bad in ("", "yesterday", "nan"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)
    assert parse_duration("90s") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration("7d") == 7 * 86400
    assert math.isclose(parse_duration("1.5h"), 5400)
    for bad in ("", "1", "h", "1x", "-1h", "1h 30m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_detect_knobs_reach_the_detector(tmp_path, monkeypatch):
    import citadel_monitoring.analytics.cli as cli

    seen = {}
    real = cli.make_detector

    def spy(name, step, **knobs):
        det = real(name, step, **knobs)
        seen.update(knobs, name=name, step=step, det=det)
        return det

    monkeypatch.setattr(cli, "make_detector", spy)
    src = write_series(tmp_path / "in.csv")
    out = tmp_path / "o.csv"
    argv = ["detect", str(src), "-o", str(out), "--detector", "novelty", "--memory", "2d", "--onset", "3h"]
    assert main([*argv, "--softness", "0.1", "--step", "30m"]) == 0
    assert seen["step"] == 1800.0 and seen["softness"] == 0.1
    assert seen["det"].novelty.memory == 96  # 2 days of 30-minute steps
    assert seen["det"].gate.span == 6  # 3 hours
    assert main(["detect", str(src), "-o", str(out), "--detector", "novelty"]) == 0
    assert seen["memory_days"] is None and seen["det"].novelty.memory == 4032  # the default, floored
