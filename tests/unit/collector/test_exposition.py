"""Rendering and merging families in the Prometheus text format."""

from __future__ import annotations

from citadel_monitoring.collector.exposition import (
    Family,
    MetricsCache,
    add_histogram,
    join_rendered,
    render_families,
    render_samples,
)


def test_counter_info_and_histogram_names():
    counter = Family("x_requests", "counter", "h").add({"a": "1"}, 2)
    info = Family("x_build", "info", "h").add({"version": "1"}, 1)
    hist = Family("x_seconds", "histogram", "h")
    add_histogram(hist, {"a": "1"}, (0.5, 1.0), [1, 2, 3], 4.5)
    text = join_rendered([render_families([counter, info, hist])])
    assert '# TYPE x_requests_total counter\nx_requests_total{a="1"} 2.0\n' in text
    assert '# TYPE x_build_info gauge\nx_build_info{version="1"} 1.0\n' in text
    assert 'x_seconds_bucket{a="1",le="0.5"} 1.0\n' in text
    assert 'x_seconds_bucket{a="1",le="1.0"} 3.0\n' in text
    assert 'x_seconds_bucket{a="1",le="+Inf"} 6.0\n' in text
    assert 'x_seconds_count{a="1"} 6.0\n' in text and 'x_seconds_sum{a="1"} 4.5\n' in text


def test_label_values_are_escaped():
    text = render_samples(Family("g", "gauge", "").add({"v": 'a"b\\c\nd'}, 1))
    assert text == 'g{v="a\\"b\\\\c\\nd"} 1.0\n'


def test_families_from_several_sources_share_one_header():
    a = render_families([Family("g", "gauge", "help").add({"s": "a"}, 1)])
    b = render_families([Family("g", "gauge", "help").add({"s": "b"}, 2)])
    text = join_rendered([a, b])
    assert text.count("# TYPE g gauge") == 1
    assert 'g{s="a"} 1.0\ng{s="b"} 2.0\n' in text


def test_empty_families_are_left_out():
    assert render_families([Family("g", "gauge", "help")]) == []


def test_a_failure_keeps_the_last_good_data():
    cache = MetricsCache()
    cache.success("s", [Family("g", "gauge", "").add({}, 1)], 0.1)
    cache.failure("s", 0.2)
    (state,) = cache.snapshot()
    assert (state.up, state.errors, state.rendered[0].body) == (False, 1, "g 1.0\n")


def test_the_same_families_object_is_not_rendered_again():
    cache = MetricsCache()
    families = [Family("g", "gauge", "").add({}, 1)]
    cache.success("s", families, 0.1)
    families[0].samples[0] = ("", {}, 2)  # mutated behind the cache's back: not re-rendered
    cache.success("s", families, 0.1)
    assert cache.snapshot()[0].rendered[0].body == "g 1.0\n"
    cache.success("s", [Family("g", "gauge", "").add({}, 3)], 0.1)
    assert cache.snapshot()[0].rendered[0].body == "g 3.0\n"
