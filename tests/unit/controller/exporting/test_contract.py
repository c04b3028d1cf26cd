"""The exporters' contract is a type: each takes one ExportContext; the status publishers are found by
their protocol, not by looking for a method name."""

from __future__ import annotations

import inspect

import pytest

from controller.exporting.base import ExportContext, Exporter
from controller.exporting.cloudwatch import CloudWatchExporter
from controller.exporting.elasticsearch import ElasticsearchExporter
from controller.exporting.prometheus import PushgatewayExporter
from controller.kubernetes.sinks import StatusPublisher
from controller.reporting.exporter import GitHubExporter

EXPORTERS = [CloudWatchExporter, ElasticsearchExporter, PushgatewayExporter, GitHubExporter]


@pytest.mark.parametrize("cls", EXPORTERS, ids=lambda c: c.__name__)
def test_every_exporter_takes_one_export_context(cls: type) -> None:
    parameters = list(inspect.signature(cls.export).parameters.values())[1:]
    assert [(p.name, p.annotation) for p in parameters] == [("context", "ExportContext")]


def test_status_publishers_are_told_apart_by_their_protocol() -> None:
    assert isinstance(PushgatewayExporter("http://127.0.0.1:9"), StatusPublisher)
    assert isinstance(PushgatewayExporter("http://127.0.0.1:9"), Exporter)

    class OnlyExports:
        name = "only"

        def export(self, context: ExportContext) -> None:
            pass

    assert isinstance(OnlyExports(), Exporter) and not isinstance(OnlyExports(), StatusPublisher)
