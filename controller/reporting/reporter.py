"""The reporter the controller and ``anubis report`` use: reports in, queued GitHub writes out.

``update`` queues a commit status per run (context ``anubis/<benchmark>``) on the source commit and
the pull request's comment (for a run of a merged commit: on each pull request that brought the
commit, found through the commit → pulls API when the outbox flushes); ``flush`` makes the due
writes. Nothing is written directly: a GitHub outage delays the writes, it does not lose them.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.reporting import debounce
from controller.reporting.comment import render_comment
from controller.reporting.outbox import FlushResult, GitHubWriter, Outbox
from controller.reporting.runreport import RunReport
from controller.reporting.statuses import commit_status


class Reporter:
    def __init__(self, writer: GitHubWriter, outbox: Outbox) -> None:
        self.writer = writer
        self.outbox = outbox

    def update(self, commit: str, reports: Sequence[RunReport], *, pull_requests: Sequence[int] | None = None) -> None:
        """Queue the statuses of ``reports`` on ``commit`` and the comment summing all of them.

        ``reports`` are every run of the commit (the comment is rebuilt from all of them);
        ``pull_requests`` None means "whichever pull requests brought the commit"."""
        repo = self.writer.repo
        for report in reports:
            timing = debounce.FINAL_STATUS if report.status.is_final else debounce.PENDING_STATUS
            self.outbox.put_status(repo, commit, commit_status(report), timing)
        body = render_comment(reports, commit=commit)
        if pull_requests is None:
            self.outbox.put_comment(repo, body, debounce.COMMENT, commit=commit)
        for number in pull_requests or ():
            self.outbox.put_comment(repo, body, debounce.COMMENT, number=number)

    def flush(self, *, force: bool = False) -> FlushResult:
        return self.outbox.flush(self.writer, force=force)
