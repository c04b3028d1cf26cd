"""``--store``: the reading commands read what the cluster controller stored, through an environment's
``[result_store]`` (S3, here moto's server over HTTP), a URL, or ``ANUBIS_STORE``; a baseline reset
is recorded there; a store that is not there is a clear error."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
from e2e.conftest import CHECKOUT, Repo, script_descriptor

from controller.s3_store import S3ResultStore
from controller.sqlite_store import SqliteResultStore

BUCKET = "team-results"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
BENCH = """
import sys
print("speed=" + sys.argv[1], flush=True)
"""


def _s3_store(moto_url: str, prefix: str) -> S3ResultStore:
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    return S3ResultStore(client, BUCKET, prefix)


def _cluster_environment(repo: Repo, moto_url: str, prefix: str) -> None:
    """cpu-cluster as shipped, its results kept in the moto bucket."""
    text = (CHECKOUT / "environments" / "cpu-cluster.toml").read_text(encoding="utf-8")
    start = text.index("[result_store]")
    end = text.index("\n[", start + 1)
    table = f'[result_store]\nkind = "s3"\nbucket = "{BUCKET}"\nprefix = "{prefix}"\nendpoint_url = "{moto_url}"\n'
    (repo.root / "environments" / "cpu-cluster.toml").write_text(text[:start] + table + text[end:], encoding="utf-8")


def _anubis(repo: Repo, *args: str, **env: str) -> tuple[int, str, str]:
    done = subprocess.run(repo.command(*args), cwd=repo.root, env={**repo.env, **CREDENTIALS, **env},
                          capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout, done.stderr


def test_reading_commands_read_the_environments_store(repo: Repo, moto_url: str) -> None:
    # Six executions run here, then moved to the bucket as the controller would have stored them.
    repo.benchmark("steady", script_descriptor("steady", "python3 $(BAI_SCRIPTS_PATH)/src/bench.py 100"),
                   {"bench.py": BENCH})
    for _ in range(6):
        code, _, err = _anubis(repo, "run", "benchmarks/steady")
        assert code == 0, err
    _cluster_environment(repo, moto_url, "cluster-a/")
    s3 = _s3_store(moto_url, "cluster-a/")
    local = repo.data_dir / "results.sqlite3"
    with SqliteResultStore(local) as store:
        records = store.history("steady")
    assert len(records) == 6
    for record in records:
        assert s3.put(record)
    local.unlink()  # nothing left on this machine: what follows can only come from the bucket

    code, out, err = _anubis(repo, "results", "--store", "cpu-cluster", "--output", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["execution_id"] == records[-1].execution_id
    assert shown["verdicts"]["speed"]["verdict"] == "no_change"  # judged against the five before it (min_history)
    code, out, err = _anubis(repo, "history", "steady", "--output", "json", "--store", "cpu-cluster")
    assert code == 0, err
    assert [e["execution_id"] for e in json.loads(out)["executions"]] == [r.execution_id for r in records]
    code, out, err = _anubis(repo, "compare", records[0].execution_id, records[-1].execution_id, "--store", "cpu-cluster")
    assert code == 0, err and "speed" in out

    # The same store by URL, from ANUBIS_STORE, with boto3's own endpoint variable.
    code, out, err = _anubis(repo, "results", "--output", "json", ANUBIS_STORE=f"s3://{BUCKET}/cluster-a",
                             AWS_ENDPOINT_URL=moto_url)
    assert code == 0, err
    assert json.loads(out)["execution_id"] == records[-1].execution_id

    # A reset accepted on the cluster's store is where the controller's next verdict will look.
    code, out, err = _anubis(repo, "baseline", "reset", "steady", "--reason", "new loader", "--by", "ci",
                             "--store", "cpu-cluster")
    assert code == 0, err
    [reset] = s3.resets("steady")
    assert (reset.by, reset.reason) == ("ci", "new loader")
    assert not local.exists()  # nothing was written on this machine
    code, out, err = _anubis(repo, "baseline", "show", "steady", "--store", "cpu-cluster", "--output", "json")
    assert code == 0, err
    assert json.loads(out)["resets"][0]["reason"] == "new loader"


def test_a_store_that_is_not_there_is_a_clear_error(repo: Repo, moto_url: str, tmp_path: Path) -> None:
    code, _, err = _anubis(repo, "results", "--store", "nowhere")
    assert code == 2
    assert "--store 'nowhere' is not a store location (sqlite:PATH, s3://bucket/prefix or the name of an environment)" in err
    assert "known environments: local" in err and "Traceback" not in err

    code, _, err = _anubis(repo, "history", "steady", "--store", "s3://Not_A_Bucket/x")
    assert code == 1 and "does not name an S3 bucket" in err and "Traceback" not in err

    missing = tmp_path / "elsewhere.sqlite3"
    code, _, err = _anubis(repo, "results", "--store", f"sqlite:{missing}")
    assert code == 2 and f"No results are stored at {missing}" in err
    assert not missing.exists()  # reading never creates a store

    code, _, err = _anubis(repo, "results", "--store", "s3://no-such-bucket/", AWS_ENDPOINT_URL=moto_url)
    assert code == 1 and "s3://no-such-bucket/results/" in err and "Traceback" not in err, err
    _s3_store(moto_url, "empty/")
    code, _, err = _anubis(repo, "results", "--store", f"s3://{BUCKET}/empty/", AWS_ENDPOINT_URL=moto_url)
    assert code == 2 and "No results are stored yet" in err and f"s3://{BUCKET}/empty/" in err

    code, _, err = _anubis(repo, "baseline", "reset", "steady", "--store", f"s3://{BUCKET}/empty/",
                           AWS_ENDPOINT_URL=moto_url)
    assert code == 2 and "No executions of benchmark 'steady' are stored in s3://team-results/empty/" in err
