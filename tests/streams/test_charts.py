"""The bar charts' geometry: empty, flat, spiky and single-day series, the threshold line and the scale's top."""

from datetime import date, timedelta

import pytest

from streams.charts import HEIGHT, WIDTH, bar_chart, nice_top

START = date(2026, 11, 27)


def days(count: int) -> list[date]:
    return [START + timedelta(days=n) for n in range(count)]


def describe(day, value):
    return f"{day.isoformat()}: {value}"


def test_an_empty_series_draws_no_bar_and_says_it_is_empty():
    chart = bar_chart(days(7), [0] * 7, describe=describe, floor=10)

    assert chart.bars == ()
    assert chart.empty
    assert chart.top == 10


def test_a_day_without_a_rate_draws_no_bar():
    chart = bar_chart(days(3), [None, 2.0, None], describe=describe, threshold=10)

    assert [bar.label for bar in chart.bars] == ["2026-11-28: 2.0"]


def test_a_flat_series_draws_bars_of_one_height_at_the_top():
    chart = bar_chart(days(30), [500] * 30, describe=describe)

    assert len(chart.bars) == 30
    assert {bar.height for bar in chart.bars} == {HEIGHT}
    assert chart.top == 500
    assert all(bar.x >= 0 and bar.x + bar.width <= WIDTH for bar in chart.bars)
    assert [bar.x for bar in chart.bars] == sorted(bar.x for bar in chart.bars)


def test_a_spike_reaches_the_top_and_a_small_day_still_shows():
    values = [10] * 27 + [4000] + [1, 10]
    chart = bar_chart(days(30), values, describe=describe)

    spike = chart.bars[27]
    assert chart.top == 5000
    assert spike.height == pytest.approx(HEIGHT * 4000 / 5000)
    assert spike.y == pytest.approx(HEIGHT - spike.height)
    assert chart.bars[28].height > 0  # one message is not drawn as nothing


def test_a_single_day_fills_the_width():
    chart = bar_chart(days(1), [42], describe=describe)

    (bar,) = chart.bars
    assert bar.width > WIDTH * 0.7
    assert bar.label == "2026-11-27: 42"


def test_a_rate_above_the_threshold_is_a_warning_bar_and_the_line_sits_at_the_threshold():
    chart = bar_chart(days(3), [1.0, 12.0, 10.0], describe=describe, threshold=10)

    assert [bar.warning for bar in chart.bars] == [False, True, False]
    assert chart.top == 20
    assert chart.threshold_y == pytest.approx(HEIGHT / 2)


def test_the_threshold_line_is_inside_the_chart_even_when_every_day_is_far_below():
    chart = bar_chart(days(3), [0.01, 0.02, 0.0], describe=describe, threshold=0.1)

    assert 0 < chart.threshold_y < HEIGHT
    assert chart.top == pytest.approx(0.2)


def test_one_value_per_day_is_required():
    with pytest.raises(ValueError):
        bar_chart(days(2), [1], describe=describe)


@pytest.mark.parametrize("value, top", [(0, 1), (1, 1), (7, 10), (12, 20), (230, 250), (0.13, 0.2), (4000, 5000)])
def test_the_scale_s_top_is_a_round_number_at_or_above_the_highest_value(value, top):
    assert nice_top(value) == pytest.approx(top)


@pytest.mark.parametrize("values, label", [([4000], "5,000"), ([130], "200"), ([0.3], "0.5"), ([0], "10")])
def test_the_scale_s_top_reads_as_a_person_writes_it(values, label):
    assert bar_chart(days(1), values, describe=describe, floor=10 if values == [0] else 0).top_label == label
