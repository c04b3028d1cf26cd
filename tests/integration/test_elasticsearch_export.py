"""Log lines bulk-indexed by the official client into a fake Elasticsearch over real HTTP."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch
from elasticsearch.exceptions import UnsupportedProductError
from fakes import elasticsearch_api
from fakes.runs import STARTED, make_record, make_spec

from controller.exporting.base import ExportContext, Exporter, LogLine
from controller.exporting.elasticsearch import MAPPINGS, ElasticsearchExporter
from schemas.errors import ReporterError

DAY = "2023.11.14"  # the UTC day of STARTED


@pytest.fixture
def fake() -> Iterator[elasticsearch_api.FakeElasticsearch]:
    with elasticsearch_api.serve() as server:
        yield server
        assert server.unexpected == []


@pytest.fixture
def client(fake: elasticsearch_api.FakeElasticsearch) -> Elasticsearch:
    return Elasticsearch(fake.url, max_retries=0)


def lines(n: int, sources: tuple[str, ...] = ("resnet-abc/main",)) -> Iterator[LogLine]:
    for i in range(n):
        for source in sources:
            yield LogLine(STARTED + i, source, f"step {i} tp={100 + i}\n")


def raw(fake: elasticsearch_api.FakeElasticsearch, method: str, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(fake.url + path, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        assert e.headers["X-Elastic-Product"] == "Elasticsearch"
        return e.code, json.load(e)


def test_lines_are_indexed_with_the_run_labels(fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch) -> None:
    spec = make_spec()
    exporter = ElasticsearchExporter(client)
    assert isinstance(exporter, Exporter)
    exporter.export(ExportContext(spec, make_record(spec), lines(3, ("resnet-abc/main", "resnet-abc/sidecar"))))

    assert list(fake.indices) == [f"anubis-logs-{DAY}"]
    docs = fake.indices[f"anubis-logs-{DAY}"]
    assert len(docs) == 6
    doc = docs["r0123456789a-1a2b3c4d:resnet-abc/sidecar:2"]
    assert doc == {
        "@timestamp": int((STARTED + 1) * 1000),
        "message": "step 1 tp=101",
        "source": "resnet-abc/sidecar",
        "pod": "resnet-abc",
        "container": "sidecar",
        "line": 2,
        "status": "SUCCEEDED",
        "benchmark": "resnet",
        "environment": "cpu-cluster",
        "run_id": "r0123456789a",
        "execution_id": "r0123456789a-1a2b3c4d",
        "family_id": "f0123456789a",
        "action_id": "r0123456789a-1a2b3c4d",
        "task_name": "resnet-train",
        "labels": {"task_name": "resnet-train", "team": "vision", "example.com/tier": "gold"},
    }
    assert set(doc) - {"@timestamp"} <= set(MAPPINGS["properties"])

    found = client.search(index="anubis-logs-*", query={"query_string": {"query": "execution_id:r0123456789a-1a2b3c4d tp"}}, size=100)
    assert found["hits"]["total"]["value"] == 6
    found = client.search(index="anubis-logs-*", query={"match": {"message": "step 2"}})
    assert sorted(h["_source"]["source"] for h in found["hits"]["hits"]) == ["resnet-abc/main", "resnet-abc/sidecar"]


def test_exporting_again_overwrites(fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch) -> None:
    spec = make_spec()
    record = make_record(spec)
    exporter = ElasticsearchExporter(client)
    exporter.export(ExportContext(spec, record, lines(5)))
    exporter.export(ExportContext(spec, record, lines(5)))
    docs = fake.indices[f"anubis-logs-{DAY}"]
    assert len(docs) == 5
    assert {fake.versions[(f"anubis-logs-{DAY}", doc_id)] for doc_id in docs} == {2}
    other = make_record(spec, execution_id="r0123456789a-ffffffff")
    exporter.export(ExportContext(spec, other, lines(5)))  # another execution of the run: its own documents
    assert len(docs) == 10


def test_lines_stream_in_bounded_chunks(fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch) -> None:
    spec = make_spec()
    consumed: list[int] = []

    def generator() -> Iterator[LogLine]:
        for i, line in enumerate(lines(2_500)):
            consumed.append(i)
            yield line

    ElasticsearchExporter(client, chunk_size=400).export(ExportContext(spec, make_record(spec), generator()))
    assert len(fake.bulk_requests) == 7
    assert max(len(b.actions) for b in fake.bulk_requests) == 400
    assert sum(len(b.actions) for b in fake.bulk_requests) == 2_500 == len(fake.documents())
    assert {a for b in fake.bulk_requests for a, _, _ in b.actions} == {"index"}


def test_days_split_into_indices(fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch) -> None:
    spec = make_spec()
    spread = [LogLine(STARTED, "p/c", "a"), LogLine(STARTED + 86_400, "p/c", "b")]
    ElasticsearchExporter(client, index_prefix="bench-logs").export(ExportContext(spec, make_record(spec), spread))
    assert sorted(fake.indices) == ["bench-logs-2023.11.14", "bench-logs-2023.11.15"]


def test_item_level_429_is_retried(fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch) -> None:
    spec = make_spec()
    fake.reject_next_bulk(2)
    ElasticsearchExporter(client, initial_backoff=0.01).export(ExportContext(spec, make_record(spec), lines(10)))
    assert len(fake.documents()) == 10
    assert [len(b.actions) for b in fake.bulk_requests] == [10, 5, 3]  # only the rejected ones again


def test_request_level_429_is_retried(fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch) -> None:
    spec = make_spec()
    fake.reject_next_bulk(1, whole_request=True)
    ElasticsearchExporter(client, initial_backoff=0.01).export(ExportContext(spec, make_record(spec), lines(4)))
    assert len(fake.documents()) == 4 and len(fake.bulk_requests) == 2


def test_429_past_the_retries_is_a_reporter_error(fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch) -> None:
    spec = make_spec()
    fake.reject_next_bulk(3)
    exporter = ElasticsearchExporter(client, max_retries=2, initial_backoff=0.01)
    with pytest.raises(ReporterError, match=r"refused 1 of the 8 log lines .*429 rejected execution"):
        exporter.export(ExportContext(spec, make_record(spec), lines(8)))
    assert len(fake.documents()) == 7  # 8 → 4 → 2 → 1 rejected: what could be indexed is


def test_template_holds_the_mapping(fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch) -> None:
    ElasticsearchExporter(client).put_template()
    assert fake.templates["anubis-logs"]["index_patterns"] == ["anubis-logs-*"]
    assert fake.templates["anubis-logs"]["template"]["mappings"] == MAPPINGS


def test_the_client_refuses_a_server_that_is_not_elasticsearch(fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch) -> None:
    fake.product_header = False
    with pytest.raises(UnsupportedProductError):
        client.info()


def test_fake_refuses_malformed_bulk_bodies(fake: elasticsearch_api.FakeElasticsearch) -> None:
    ndjson = "application/x-ndjson"
    good = b'{"index":{"_index":"a","_id":"1"}}\n{"m":1}\n'
    assert raw(fake, "POST", "/_bulk", good, ndjson)[0] == 200
    for body, reason in [
        (good[:-1], "terminated by a newline"),
        (b'{"index":{"_index":"a"}}\n', "missing the source"),
        (b'{"index":{"_index":"a"}}\nnot json\n', "Malformed source line"),
        (b'{"upsert":{"_index":"a"}}\n{}\n', "found [upsert]"),
        (b'{"index":{"_index":"a","colour":1}}\n{}\n', "unknown parameter [colour]"),
        (b'{"index":{}}\n{}\n', "index is missing"),
        (b'{"index":{"_index":"Upper"}}\n{}\n', "must be lowercase"),
    ]:
        status, answer = raw(fake, "POST", "/_bulk", body, ndjson)
        assert status == 400 and reason in answer["error"]["reason"], (body, answer)
        assert answer["error"]["root_cause"][0]["type"] == "illegal_argument_exception"
    status, answer = raw(fake, "POST", "/_bulk", good, "text/plain")
    assert status == 406
    assert raw(fake, "POST", "/a/_bulk", b'{"create":{"_id":"1"}}\n{"m":2}\n', ndjson)[1]["items"][0]["create"]["status"] == 409


def test_fake_fails_loudly_on_unknown_requests(fake: elasticsearch_api.FakeElasticsearch) -> None:
    status, answer = raw(fake, "POST", "/a/_update_by_query", b"{}", "application/json")
    assert status == 400 and answer["error"]["type"] == "fake_unsupported_request"
    assert fake.unexpected == ["POST /a/_update_by_query"]
    fake.unexpected.clear()  # seen: the fixture's check would fail the test otherwise


# ---- REST API compatibility: the headers the real server checks ---------------------------------------


def test_the_client_sends_the_compatibility_headers_of_its_major(
    fake: elasticsearch_api.FakeElasticsearch, client: Elasticsearch
) -> None:
    import elasticsearch

    major = elasticsearch.__versionstr__.split(".")[0]
    spec = make_spec()
    ElasticsearchExporter(client).export(ExportContext(spec, make_record(spec), lines(3)))
    assert fake.compat_headers
    for accept, content_type in fake.compat_headers:
        assert accept == f"application/vnd.elasticsearch+json; compatible-with={major}"
        assert content_type in ("", f"application/vnd.elasticsearch+x-ndjson; compatible-with={major}",
                                f"application/vnd.elasticsearch+json; compatible-with={major}")


def test_a_server_of_the_previous_major_refuses_the_client(fake: elasticsearch_api.FakeElasticsearch,
                                                           client: Elasticsearch) -> None:
    """What a 9.x client gets from an 8.x server (the reason infra/ and the client share a major)."""
    fake.version = "8.15.0"
    spec = make_spec()
    with pytest.raises(ReporterError, match="Elasticsearch refused") as error:
        ElasticsearchExporter(client).export(ExportContext(spec, make_record(spec), lines(3)))
    assert "Accept version must be either version 8 or 7, but found 9" in str(error.value.__cause__.body)  # type: ignore[union-attr]
    assert fake.indices == {}


@pytest.mark.parametrize(
    ("accept", "content_type", "status", "reason"),
    [
        ("application/vnd.elasticsearch+json; compatible-with=9", "application/vnd.elasticsearch+x-ndjson; compatible-with=9", 200, ""),
        ("application/vnd.elasticsearch+json; compatible-with=8", "application/vnd.elasticsearch+x-ndjson; compatible-with=8", 200, ""),
        ("application/json", "application/x-ndjson", 200, ""),
        ("application/vnd.elasticsearch+json; compatible-with=7", "application/vnd.elasticsearch+x-ndjson; compatible-with=7", 400,
         "Accept version must be either version 9 or 8, but found 7"),
        ("application/vnd.elasticsearch+json; compatible-with=10", "application/vnd.elasticsearch+x-ndjson; compatible-with=10", 400,
         "Accept version must be either version 9 or 8, but found 10"),
        ("application/vnd.elasticsearch+json; compatible-with=9", "application/vnd.elasticsearch+x-ndjson; compatible-with=8", 400,
         "the compatible versions must match"),
        ("application/vnd.elasticsearch+json; compatible-with=9", "application/x-ndjson", 400, "must match"),
        ("application/json", "text/plain", 406, "not supported"),
        ("application/vnd.elasticsearch+json", "application/x-ndjson", 406, "compatible-with is missing"),
    ],
)
def test_the_fake_checks_compatibility_like_elasticsearch_9(
    fake: elasticsearch_api.FakeElasticsearch, accept: str, content_type: str, status: int, reason: str
) -> None:
    body = b'{"index": {"_index": "anubis-logs-x", "_id": "1"}}\n{"message": "hi"}\n'
    request = urllib.request.Request(fake.url + "/_bulk", data=body, method="POST",
                                     headers={"Accept": accept, "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            got, answer, headers = response.status, json.load(response), response.headers
    except urllib.error.HTTPError as e:
        got, answer, headers = e.code, json.load(e), e.headers
    assert got == status, answer
    assert headers["X-Elastic-Product"] == "Elasticsearch"
    if reason:
        assert reason in json.dumps(answer)
    else:
        assert fake.indices["anubis-logs-x"]["1"] == {"message": "hi"}


def test_client_fake_and_infrastructure_share_one_major() -> None:
    """pyproject.toml pins the client, infra/ deploys the server, the fake plays it: one major."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # the client is in the cluster extra (anubis-bench[cluster]): the controller is what exports logs
    dependencies = project["dependencies"] + project["optional-dependencies"]["cluster"]
    (pin,) = [d for d in dependencies if d.startswith("elasticsearch")]
    match = re.fullmatch(r"elasticsearch>=(\d+)\.\d+,<(\d+)", pin.split(";")[0].strip())
    assert match and int(match.group(2)) == int(match.group(1)) + 1, f"pin the client to one major, not {pin!r}"
    variables = (root / "infra/terraform/modules/logging/variables.tf").read_text(encoding="utf-8")
    deployed = re.search(r'variable "elasticsearch_version" \{.*?default\s*=\s*"(\d+)\.\d+\.\d+"', variables, re.S)
    assert deployed, "infra/terraform/modules/logging deploys no pinned Elasticsearch version"
    assert int(deployed.group(1)) == int(match.group(1)) == elasticsearch_api.FakeElasticsearch().major
