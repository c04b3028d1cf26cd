"""The S3 result store: one object per execution, and an index a reader can list.

Layout under ``s3://<bucket>/<prefix>`` (``prefix`` ends with ``/``, or is empty):

``layout.json``
    ``{"layout": 1}``: the version of this layout, written by the first ``put``. A store whose
    layout is newer than :data:`LAYOUT_VERSION` is refused, as the SQLite store refuses a newer schema.
``records/<execution_id>.json``
    The record, ``ResultRecord.to_dict()`` as JSON (NaN and infinities as JavaScript literals, as the
    SQLite store keeps them), with the time it was stored in the object's metadata (``stored-at``).
    Written once, never replaced.
``index/by-time/<entry>``, ``index/by-benchmark/<benchmark>/<entry>``, ``index/by-run/<run_id>/<entry>``
    One small JSON object per execution in each tree (identity, status, environment, branch, matrix
    point, times). The entry's *name* carries what queries sort and filter on, so ``list_runs``,
    ``history``, ``latest`` and ``find`` list keys and download only the records they return::

        <inverted sort time, µs, 17 digits>_<inverted stored time, ns, 20 digits>_<STATUS>_
        <environment hash>_<matrix point hash>_<branch hash>_<execution_id>.json

    S3 lists keys in ascending order, so inverted times list the newest first and a query stops as
    soon as it has ``limit`` records. The hashes are the first 8 hex digits of SHA-256 of the value
    (the canonical matrix point; ``\\0`` for no branch); a match is checked again on the record.
``resets/<benchmark>/<stored time, ns, 20 digits>-<8 random hex digits>.json``
    One baseline reset (:class:`~controller.store.BaselineReset`) each: its ``benchmark``, ``at``,
    ``by``, ``reason``, ``metric`` and ``environment`` as JSON. Written once (``If-None-Match: *``),
    never rewritten or deleted. Its id is the stored time in the name (see :meth:`S3ResultStore.add_reset`).
    The tree is new beside layout 1 and changes nothing an older reader lists, so the version stays 1.

Never stored twice: the record is written with ``If-None-Match: *`` (S3 conditional writes; moto
supports them), so of two writers of one execution exactly one succeeds, and the other answers
``False``. With ``conditional_writes=False`` (for an S3-compatible store without them) a HEAD comes
first instead, which leaves a race: two writers of one execution at the same instant both write and
both answer ``True`` (the records are the same execution; the second replaces the first).

The index is written after the record. A writer killed between the two leaves a record that no
listing shows; storing that execution again (the controller does, on restart, for any run not yet
marked reported) answers ``False`` and writes the missing index entries, which are the same bytes
every time. Object names are percent-encoded path components, so any id is a valid key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from controller.store import (
    BaselineReset,
    PullRequestFilter,
    canonical_matrix_point,
    check_limit,
    matches_pull_request,
    pick_reference,
    record_time,
)
from schemas.errors import NotFoundError, StoreError
from schemas.results import ResultRecord
from schemas.status import FINAL_STATUSES, RunStatus

log = logging.getLogger(__name__)

LAYOUT_VERSION = 1
#: How many execution ids a prefix search reads before deciding (as the SQLite store does).
PREFIX_CANDIDATES = 100

_SORT_DIGITS = 17
_STORED_DIGITS = 20
_FINAL = frozenset(s.value for s in FINAL_STATUSES)
_ALREADY_THERE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING = {"NoSuchKey", "404", "NotFound"}
_RESET_NAME = re.compile(rf"^(\d{{{_STORED_DIGITS}}})-([0-9a-f]{{8}})\.json$")
#: How many names ``add_reset`` tries when one is taken (only a clash of clocks and random digits).
_RESET_ATTEMPTS = 3
#: How many reset objects ``resets`` downloads at once (fewer than botocore's 10 pooled connections).
_READERS = 8

S3Client = Any  # boto3's client("s3"); typed loosely (no stubs for boto3 are required)


def _part(value: str) -> str:
    return quote(value, safe="-._~")


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def _branch_text(branch: str | None) -> str:
    return "\0" if branch is None else branch


@dataclass(frozen=True)
class IndexEntry:
    """What an index entry's name says about one execution."""

    key: str
    sort_us: int
    stored_ns: int
    status: str
    environment_hash: str
    matrix_point_hash: str
    branch_hash: str
    execution_id: str

    @property
    def sort_time(self) -> float:
        return self.sort_us / 1e6

    @classmethod
    def parse(cls, key: str) -> IndexEntry | None:
        name = key.rsplit("/", 1)[-1]
        if not name.endswith(".json"):
            return None
        parts = name[: -len(".json")].split("_", 6)
        if len(parts) != 7 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        return cls(
            key=key,
            sort_us=10**_SORT_DIGITS - 1 - int(parts[0]),
            stored_ns=10**_STORED_DIGITS - 1 - int(parts[1]),
            status=parts[2],
            environment_hash=parts[3],
            matrix_point_hash=parts[4],
            branch_hash=parts[5],
            execution_id=unquote(parts[6]),
        )


def entry_name(record: ResultRecord, stored_at: float, stored_ns: int) -> str:
    """The file name of ``record``'s index entries (see the module's docstring)."""
    sort_us = min(max(round(record_time(record, stored_at) * 1e6), 0), 10**_SORT_DIGITS - 1)
    stored_ns = min(max(stored_ns, 0), 10**_STORED_DIGITS - 1)
    return "_".join(
        (
            f"{10**_SORT_DIGITS - 1 - sort_us:0{_SORT_DIGITS}d}",
            f"{10**_STORED_DIGITS - 1 - stored_ns:0{_STORED_DIGITS}d}",
            record.status.value,
            _short_hash(record.environment),
            _short_hash(canonical_matrix_point(record.matrix_point)),
            _short_hash(_branch_text(record.branch)),
            _part(record.execution_id),
        )
    ) + ".json"


class S3ResultStore:
    """A :class:`~controller.store.ResultStore` in an S3 bucket (``client`` is boto3's S3 client)."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "results/",
        *,
        conditional_writes: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.lstrip("/")
        self.conditional_writes = conditional_writes
        self._clock = clock
        self._lock = threading.Lock()
        self._last_ns = 0
        self._layout_checked = False
        self._resets_read: dict[str, BaselineReset] = {}  # key: the reset there (never rewritten)

    def __repr__(self) -> str:
        return f"S3ResultStore({self.url!r})"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    # -- keys ------------------------------------------------------------------------------------

    def record_key(self, execution_id: str) -> str:
        return f"{self.prefix}records/{_part(execution_id)}.json"

    def reset_tree(self, benchmark: str) -> str:
        """Where the baseline resets of ``benchmark`` are (a folder: ``bench/`` is not ``bench-2/``)."""
        return f"{self.prefix}resets/{_part(benchmark)}/"

    def _trees(self, record: ResultRecord) -> tuple[str, str, str]:
        return (
            f"{self.prefix}index/by-time/",
            f"{self.prefix}index/by-benchmark/{_part(record.benchmark)}/",
            f"{self.prefix}index/by-run/{_part(record.run_id)}/",
        )

    # -- S3 calls --------------------------------------------------------------------------------

    def _call(self, what: str, operation: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return operation(Bucket=self.bucket, **kwargs)
        except ClientError as e:
            if _code(e) in _MISSING | _ALREADY_THERE:
                raise
            raise StoreError(
                f"The result store {self.url} could not be {what}: {_code(e)} {e}. Check the bucket "
                "name, the region and that the controller's role may read and write it."
            ) from e
        except NoCredentialsError as e:
            raise StoreError(
                f"The result store {self.url} could not be {what}: no AWS credentials. Give some the way "
                "boto3 looks for them (AWS_PROFILE, `aws sso login`, AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or the pod's IAM role)."
            ) from e
        except BotoCoreError as e:
            raise StoreError(f"The result store {self.url} could not be {what}: {e}.") from e

    def _read_json(self, key: str) -> Any | None:
        """The JSON object at ``key``; ``None`` when there is none."""
        try:
            answer = self._call("read", self.client.get_object, Key=key)
        except ClientError:
            return None
        return json.loads(answer["Body"].read())

    def _keys(self, prefix: str, *, delimiter: str | None = None, max_keys: int | None = None) -> Iterator[str]:
        """Keys (or, with ``delimiter``, the common prefixes) under ``prefix``, ascending, lazily."""
        kwargs: dict[str, Any] = {"Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if max_keys:
            kwargs["MaxKeys"] = max_keys
        while True:
            page = self._call("listed", self.client.list_objects_v2, **kwargs)
            if delimiter:
                yield from (p["Prefix"] for p in page.get("CommonPrefixes", []))
            yield from (o["Key"] for o in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def _entries(self, tree: str) -> Iterator[IndexEntry]:
        for key in self._keys(tree):
            entry = IndexEntry.parse(key)
            if entry is None:
                log.warning("ignoring %s in the index of %s: not an index entry", key, self.url)
                continue
            yield entry

    def _check_layout(self, *, writing: bool) -> None:
        if self._layout_checked:
            return
        key = f"{self.prefix}layout.json"
        found = self._read_json(key)
        if found is None and writing:
            try:
                self._call(
                    "written", self.client.put_object, Key=key, Body=json.dumps({"layout": LAYOUT_VERSION}).encode(),
                    ContentType="application/json", **({"IfNoneMatch": "*"} if self.conditional_writes else {}),
                )  # fmt: skip
            except ClientError:
                pass  # another writer created it first
            found = self._read_json(key)
        if found is None:
            return  # an empty store: nothing to check yet
        version = int(found.get("layout", 0)) if isinstance(found, dict) else 0
        if version > LAYOUT_VERSION:
            raise StoreError(
                f"The result store {self.url} has layout version {version}, newer than this version of "
                f"Anubis understands ({LAYOUT_VERSION}). Upgrade Anubis to read it."
            )
        self._layout_checked = True

    # -- writing ---------------------------------------------------------------------------------

    def put(self, record: ResultRecord) -> bool:
        self._check_layout(writing=True)
        stored_at = self._clock()
        stored_ns = self._next_ns(stored_at)
        name = entry_name(record, stored_at, stored_ns)
        body = json.dumps(record.to_dict(), separators=(",", ":")).encode("utf-8")
        key = self.record_key(record.execution_id)
        extra: dict[str, Any] = {}
        if self.conditional_writes:
            extra["IfNoneMatch"] = "*"
        elif self._exists(key):
            return self._already_stored(record)
        try:
            self._call(
                "written", self.client.put_object, Key=key, Body=body, ContentType="application/json",
                Metadata={"stored-at": repr(stored_at), "index-entry": name}, **extra,
            )  # fmt: skip
        except ClientError as e:
            if _code(e) in _ALREADY_THERE:
                return self._already_stored(record)
            raise StoreError(f"The result store {self.url} could not be written: {e}.") from e
        self._write_index(record, name, stored_at)
        log.debug("stored execution %s of run %s in %s", record.execution_id, record.run_id, self.url)
        return True

    def _next_ns(self, stored_at: float) -> int:
        """``stored_at`` in ns, made larger than every earlier one this store gave (unique times)."""
        with self._lock:
            self._last_ns = max(int(stored_at * 1e9), self._last_ns + 1)
            return self._last_ns

    def _exists(self, key: str) -> bool:
        try:
            self._call("read", self.client.head_object, Key=key)
        except ClientError:
            return False
        return True

    def _already_stored(self, record: ResultRecord) -> bool:
        """The execution is stored: make sure its index entries are too (a writer may have died
        between the record and its index), then say it was not stored again."""
        log.debug("execution %s is already stored in %s; not stored again", record.execution_id, self.url)
        head = self._call("read", self.client.head_object, Key=self.record_key(record.execution_id))
        metadata = head.get("Metadata", {})
        name, stored_at = metadata.get("index-entry"), metadata.get("stored-at")
        if name and stored_at:
            stored = self._decode_at(self.record_key(record.execution_id), record.execution_id)
            trees = self._trees(stored)
            if not all(self._exists(tree + name) for tree in trees):
                log.info("repairing the index entries of execution %s in %s", record.execution_id, self.url)
                self._write_index(stored, name, float(stored_at))
        return False

    def _write_index(self, record: ResultRecord, name: str, stored_at: float) -> None:
        entry = json.dumps(
            {
                "execution_id": record.execution_id,
                "run_id": record.run_id,
                "benchmark": record.benchmark,
                "environment": record.environment,
                "status": record.status.value,
                "branch": record.branch,
                "matrix_point": canonical_matrix_point(record.matrix_point),
                "started_at": _finite(record.started_at),
                "finished_at": _finite(record.finished_at),
                "stored_at": stored_at,
                "record": self.record_key(record.execution_id),
            },
            separators=(",", ":"),
        ).encode("utf-8")
        for tree in self._trees(record):
            self._call("written", self.client.put_object, Key=tree + name, Body=entry, ContentType="application/json")

    def add_reset(self, reset: BaselineReset) -> BaselineReset:
        """Record a baseline reset (see :class:`~controller.store.ResetStore`): one new object,
        ``resets/<benchmark>/<stored ns>-<random>.json``, never rewritten.

        The id given is the stored time in ns in the object's name (the store's clock, when it was
        written: not ``at``, which the caller chose). It is the same every time the reset is read,
        by any reader, and it grows in the order a store wrote its resets. One store never gives
        the same time twice (as for ``put``'s index entries); two writers would have to write in
        the same nanosecond to give one id twice, and the random digits still keep both resets.
        """
        if not _unix_time(reset.at):
            raise ValueError(f"a baseline reset's time must be a finite number of unix seconds, not {reset.at!r}")
        self._check_layout(writing=True)
        body = json.dumps(
            {
                "benchmark": reset.benchmark,
                "at": float(reset.at),
                "by": reset.by,
                "reason": reset.reason,
                "metric": reset.metric,
                "environment": reset.environment,
            },
            separators=(",", ":"),
        ).encode("utf-8")
        extra: dict[str, Any] = {"IfNoneMatch": "*"} if self.conditional_writes else {}
        for attempt in range(_RESET_ATTEMPTS):
            stored_ns = self._next_ns(self._clock())
            key = f"{self.reset_tree(reset.benchmark)}{stored_ns:0{_STORED_DIGITS}d}-{secrets.token_hex(4)}.json"
            try:
                self._call(
                    "written", self.client.put_object, Key=key, Body=body, ContentType="application/json", **extra
                )  # fmt: skip
            except ClientError as e:
                if _code(e) in _ALREADY_THERE and attempt + 1 < _RESET_ATTEMPTS:
                    continue  # that name is taken (another writer, same ns, same digits): another one
                raise StoreError(
                    f"The baseline reset could not be written to the result store {self.url}: {e}."
                ) from e
            break
        log.info("baseline of %s reset by %s: %s (%s)", reset.benchmark, reset.by, reset.reason, self.url)
        return BaselineReset(
            benchmark=reset.benchmark,
            at=float(reset.at),
            by=reset.by,
            reason=reset.reason,
            metric=reset.metric,
            environment=reset.environment,
            id=stored_ns,
        )

    # -- reading ---------------------------------------------------------------------------------

    def resets(self, benchmark: str) -> list[BaselineReset]:
        """The baseline resets of ``benchmark``, oldest first (by ``at``, then id), as the SQLite
        store orders them. An object under the resets that cannot be read as one (a stray name,
        not JSON, a field missing or of the wrong type, another benchmark's) is skipped with a
        warning: it never hides the other resets.

        A reset object is never rewritten, so one this store has read is kept and not downloaded
        again: a call lists the benchmark's resets and reads only the new ones (several at once)."""
        self._check_layout(writing=False)
        keys = list(self._keys(self.reset_tree(benchmark)))
        with self._lock:
            known = {key: self._resets_read[key] for key in keys if key in self._resets_read}
        new = [key for key in keys if key not in known]
        if len(new) > 1:
            with ThreadPoolExecutor(max_workers=min(len(new), _READERS)) as pool:
                read = list(pool.map(lambda key: self._read_reset(key, benchmark), new))
        else:
            read = [self._read_reset(key, benchmark) for key in new]
        with self._lock:
            for key, reset in zip(new, read):
                if reset is not None:  # one that cannot be read is read again (it may be mended)
                    self._resets_read[key] = known[key] = reset
        return [known[key] for key in sorted(known, key=lambda key: (known[key].at, known[key].id or 0, key))]

    def _read_reset(self, key: str, benchmark: str) -> BaselineReset | None:
        """The reset at ``key``, or ``None`` (and a warning) when it is not one of ``benchmark``."""
        match = _RESET_NAME.match(key.rsplit("/", 1)[-1])
        problem: str | None = None
        data: Any = None
        if match is None:
            problem = "its name is not <time>-<random>.json"
        else:
            try:
                data = self._read_json(key)
            except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, nested beyond reason
                problem = f"it is not JSON ({e})"
            else:
                problem = _reset_problem(data, benchmark)
        if problem is not None or match is None:
            log.warning("ignoring %s in the baseline resets of %s: %s", key, self.url, problem)
            return None
        return BaselineReset(
            benchmark=data["benchmark"],
            at=float(data["at"]),
            by=data["by"],
            reason=data["reason"],
            metric=data.get("metric"),
            environment=data.get("environment"),
            id=int(match.group(1)),
        )

    def _decode_at(self, key: str, execution_id: str) -> ResultRecord:
        try:
            answer = self._call("read", self.client.get_object, Key=key)
        except ClientError as e:
            raise NotFoundError(
                f"No result of execution {execution_id!r} is stored in {self.url}. "
                "List the stored runs with `anubis history <benchmark>`."
            ) from e
        try:
            return ResultRecord.from_dict(json.loads(answer["Body"].read()))
        except (ValueError, KeyError, TypeError) as e:
            raise StoreError(
                f"The stored result of execution {execution_id!r} in {self.url} cannot be read ({e!r}); "
                "the store may have been written by a newer version of Anubis or edited by hand."
            ) from e

    def get(self, execution_id: str) -> ResultRecord:
        self._check_layout(writing=False)
        return self._decode_at(self.record_key(execution_id), execution_id)

    def find(self, ref: str) -> ResultRecord:
        ref = ref.strip()
        if not ref:
            raise NotFoundError("An empty reference matches no result: give an execution id or a run id.")
        self._check_layout(writing=False)
        try:
            return self._decode_at(self.record_key(ref), ref)
        except NotFoundError:
            pass
        runs_tree = f"{self.prefix}index/by-run/"
        for entry in self._entries(f"{runs_tree}{_part(ref)}/"):
            return self.get(entry.execution_id)  # a run id: its latest execution
        records = f"{self.prefix}records/"
        executions = []
        for key in self._keys(records + _part(ref)):
            if key.endswith(".json"):
                executions.append(unquote(key[len(records) : -len(".json")]))
            if len(executions) >= PREFIX_CANDIDATES:
                break
        runs: dict[str, str] = {}
        for run_prefix in self._keys(runs_tree + _part(ref), delimiter="/"):
            if run_prefix.endswith("/"):
                latest = next(self._entries(run_prefix), None)
                if latest is not None:
                    runs[unquote(run_prefix[len(runs_tree) : -1])] = latest.execution_id
        return self.get(pick_reference(ref, executions, runs))

    def latest(self, benchmark: str | None = None) -> ResultRecord | None:
        found = self.list_runs(benchmark, limit=1)
        return found[0] if found else None

    def list_runs(
        self,
        benchmark: str | None = None,
        status: RunStatus | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> list[ResultRecord]:
        check_limit(limit)
        self._check_layout(writing=False)
        tree = (
            f"{self.prefix}index/by-time/" if benchmark is None
            else f"{self.prefix}index/by-benchmark/{_part(benchmark)}/"
        )  # fmt: skip
        wanted = None if status is None else RunStatus(status).value
        since_us = None if since is None else round(since * 1e6)
        found: list[ResultRecord] = []
        for entry in self._entries(tree):
            if since_us is not None and entry.sort_us < since_us:
                break  # newest first: everything after is older
            if wanted is not None and entry.status != wanted:
                continue
            found.append(self.get(entry.execution_id))
            if len(found) >= limit:
                break
        return found

    def history(
        self,
        benchmark: str,
        *,
        environment: str | None = None,
        matrix_point: Mapping[str, Any] | None = None,
        branch: str | None = None,
        pull_request: PullRequestFilter = None,
        limit: int = 100,
    ) -> list[ResultRecord]:
        check_limit(limit)
        self._check_layout(writing=False)
        point = None if matrix_point is None else canonical_matrix_point(matrix_point)
        found: list[ResultRecord] = []
        for entry in self._entries(f"{self.prefix}index/by-benchmark/{_part(benchmark)}/"):
            if entry.status not in _FINAL:
                continue
            if environment is not None and entry.environment_hash != _short_hash(environment):
                continue
            if point is not None and entry.matrix_point_hash != _short_hash(point):
                continue
            if branch is not None and entry.branch_hash != _short_hash(_branch_text(branch)):
                continue
            record = self.get(entry.execution_id)
            if (
                (environment is not None and record.environment != environment)
                or (point is not None and canonical_matrix_point(record.matrix_point) != point)
                or (branch is not None and record.branch != branch)
            ):
                continue  # a hash collision: not the series asked for
            if not matches_pull_request(record, pull_request):
                continue  # the index does not name the pull request: the record does
            found.append(record)
            if len(found) >= limit:
                break
        return list(reversed(found))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _unix_time(value: Any) -> bool:
    """Whether ``value`` is a finite number (of seconds): not a bool, not too large for a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def _reset_problem(data: Any, benchmark: str) -> str | None:
    """What is wrong with ``data`` as a stored reset of ``benchmark``; ``None`` when nothing is."""
    if data is None:
        return "it is gone"
    if not isinstance(data, dict):
        return "it is not a JSON object"
    if data.get("benchmark") != benchmark:
        return f"it is a reset of {data.get('benchmark')!r}, not of {benchmark!r}"
    if not _unix_time(data.get("at")):
        return f"its time 'at' is {data.get('at')!r:.40}, not a number of unix seconds"
    for name in ("by", "reason"):
        if not isinstance(data.get(name), str):
            return f"its {name!r} is {data.get(name)!r}, not a text"
    for name in ("metric", "environment"):
        if not isinstance(data.get(name), (str, type(None))):
            return f"its {name!r} is {data.get(name)!r}, not a text or null"
    return None


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None
