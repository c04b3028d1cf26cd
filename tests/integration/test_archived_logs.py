"""A finished cluster run's logs read back from Elasticsearch (the exporter's documents), paged
with ``search_after``, through the official client against the fake Elasticsearch over HTTP."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

import fakes.elasticsearch_api as fakes
import fakes.runs as runs
import pytest
from elasticsearch import Elasticsearch

from controller.exporting.base import ExportContext, LogLine
from controller.exporting.elasticsearch import ElasticsearchExporter
from controller.logsource import ElasticsearchLogs
from schemas.errors import NotFoundError

SUPPORTS_SEARCH_AFTER = "search_after" in inspect.getsource(fakes.FakeElasticsearch._search)


def _add_search_after(fake: Any) -> None:
    """Until the shared fake pages with ``search_after`` itself: the same rule as Elasticsearch (the
    hits whose sort values come strictly after the given ones), applied over the fake's own sorted
    answer; every other part of the request is still checked by the fake."""
    original = fake._search

    def search(pattern: str, body: bytes) -> tuple[int, Any]:
        request = json.loads(body) if body else {}
        after = request.pop("search_after", None)
        if after is None:
            return original(pattern, body)  # type: ignore[no-any-return]
        size = int(request.pop("size", 10))
        status, answer = original(pattern, json.dumps({**request, "size": 10_000}).encode())
        if status != 200:
            return status, answer
        fields = [next(iter(s)) if isinstance(s, dict) else s for s in request.get("sort", [])]
        orders = [(next(iter(s.values())) if isinstance(s, dict) else "asc") for s in request.get("sort", [])]
        if set(orders) != {"asc"}:
            return 400, {"error": {"type": "fake_unsupported_request", "reason": "search_after with desc"}}
        hits = [h for h in answer["hits"]["hits"] if [h["_source"].get(f) for f in fields] > after]
        answer["hits"]["hits"] = hits[:size]
        return 200, answer

    fake._search = search


@pytest.fixture
def fake() -> Iterator[Any]:
    with fakes.serve() as server:
        if not SUPPORTS_SEARCH_AFTER:
            _add_search_after(server)
        yield server
        assert server.unexpected == []


def _export(client: Elasticsearch, execution_id: str, lines: list[LogLine]) -> None:
    spec = runs.make_spec()
    ElasticsearchExporter(client).export(ExportContext(spec, runs.make_record(spec, execution_id=execution_id), lines))


def test_reads_every_line_in_order_across_pages_and_workers(fake: Any) -> None:
    client = Elasticsearch(fake.url, max_retries=0)
    start = runs.STARTED
    lines = [LogLine(start + i // 2, f"job-abc-worker-{i % 2}/main", f"step {i}") for i in range(25)]
    _export(client, "r-1", lines)
    _export(client, "r-2", [LogLine(start, "other/main", "not this run")])
    source = ElasticsearchLogs(client, page_size=4)
    read = list(source.read("r-1"))
    assert [(line.source, line.text) for line in read] == sorted(
        [(line.source, line.text) for line in lines], key=lambda pair: (int(pair[1].split()[1]) // 2, pair[0])
    )
    assert {line.time for line in read} == {line.time for line in lines}
    searches = [target for method, target in fake.requests if target.endswith("/_search")]
    assert len(searches) == 7  # 25 lines in pages of 4
    worker = list(source.read("r-1", container="main"))
    assert len(worker) == 25
    assert [line.text for line in source.read("r-1", tail=3)] == ["step 22", "step 23", "step 24"]


def test_a_run_without_archived_lines_says_so(fake: Any) -> None:
    client = Elasticsearch(fake.url, max_retries=0)
    _export(client, "r-1", [LogLine(runs.STARTED, "pod/main", "hello")])
    with pytest.raises(NotFoundError, match="no log lines of execution r-9"):
        list(ElasticsearchLogs(client).read("r-9"))
