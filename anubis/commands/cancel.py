"""``anubis cancel EXECUTION_OR_RUN_ID``: stop a run that is executing on this machine."""

from __future__ import annotations

import click

from anubis.settings import Settings
from controller.local.registry import Registry
from schemas.errors import BackendError


@click.command()
@click.argument("ref", metavar="EXECUTION_OR_RUN_ID")
@click.option("--wait", "wait_seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to wait for the run to stop and record CANCELED.")
@click.pass_obj
def cancel(settings: Settings, ref: str, wait_seconds: float) -> None:
    """Cancel the local run EXECUTION_OR_RUN_ID (an execution id, a run id, or the start of one).

    Its `anubis run` stops the benchmark's processes and records it as CANCELED.
    """
    registry = Registry(settings.data_dir)
    runs = registry.resolve(ref)
    for active in runs:
        registry.cancel(active)
    stuck = [r.execution_id for r in runs if not registry.wait_finished(r.execution_id, wait_seconds)]
    if stuck:
        raise BackendError(
            f"asked {', '.join(stuck)} to stop, but it is still running after {wait_seconds:g} s; "
            "run `anubis cancel` again, or stop its `anubis run` process"
        )
    for active in runs:
        click.echo(f"canceled {active.execution_id}")
