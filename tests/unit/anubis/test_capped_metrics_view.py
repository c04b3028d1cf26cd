"""The results table (``anubis run``, ``anubis results``) says how many values a capped metric did not
store, beside the count of every value found."""

from __future__ import annotations

import math

from anubis.presenting.results import metrics_view
from controller.extraction import MetricExtractor
from schemas.results import Reproducibility, ResultRecord
from schemas.runspec import MetricSpec
from schemas.status import RunStatus


def test_the_table_says_how_many_values_were_not_stored() -> None:
    extractor = MetricExtractor([MetricSpec("loss", "", r"loss=([0-9.]+)", "lower")], clock=lambda: 1.0, max_values=4)
    extractor.feed(b"".join(b"loss=%d\n" % i for i in range(10)))
    extractor.add_event({"loss": math.nan})
    extractor.close()
    record = ResultRecord(
        execution_id="e", run_id="r", family_id="f", benchmark="b", environment="local", backend="local",
        status=RunStatus.SUCCEEDED, reason="", started_at=0.0, finished_at=1.0, metrics=extractor.results(),
        reproducibility=Reproducibility(descriptor_hash="d", image="i"),
    )
    row = metrics_view(record).rows[0]
    assert row["n"].text == "10 (+1 not finite, 7 not stored)" and row["n"].tone == "warn"
    assert row["max"].text.startswith("9") and row["last"].text.startswith("9")  # over every value, not the stored 4
