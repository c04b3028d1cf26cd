"""Exports of finished runs to outside systems, and the controller's own metrics.

``base`` holds what every exporter shares (:class:`~controller.exporting.base.LogLine`, the
:class:`~controller.exporting.base.Exporter` protocol, a run's labels); each outside system has one
module (``prometheus``, ``elasticsearch``, ``cloudwatch``), imported only by whoever uses it so that
the command line does not load the clients it does not need.
"""

from controller.exporting.base import Exporter, LogLine, run_labels, spec_labels

__all__ = ["Exporter", "LogLine", "run_labels", "spec_labels"]
