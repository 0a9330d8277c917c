"""Talking to a running Dagster webserver: asset runs and backfills (GraphQL), job runs.

`DagsterGraphQLClient` launches and watches job runs; it has no backfill method and no asset
selection, so `launchPartitionBackfill`, `launchRun` over a partition range, the backfill status and
a run's events are posted here directly.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx

from adspipe.settings import DEFAULT_DAGSTER_URL

ASSET_JOB = "__ASSET_JOB"  # the implicit job every asset selection runs in
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

REPOSITORIES = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
    ... on PythonError { message }
  }
}
"""

LAUNCH_RUN = """
mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on UnauthorizedError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

RUN_STATUS = """
query RunStatus($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run { status }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

RUN_EVENTS = """
query RunEvents($id: ID!, $cursor: String) {
  logsForRun(runId: $id, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MaterializationEvent { partition assetKey { path } }
        ... on ExecutionStepFailureEvent { stepKey error { message causes { message } } }
        ... on RunFailureEvent { message error { message causes { message } } }
      }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id
      status
      numPartitions
      assetBackfillData {
        assetBackfillStatuses {
          __typename
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted
            numPartitionsInProgress
            numPartitionsMaterialized
            numPartitionsFailed
          }
        }
      }
    }
    ... on PythonError { message }
    ... on BackfillNotFoundError { message }
  }
}
"""

FINISHED_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
FINISHED_BACKFILL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class DagsterApiError(RuntimeError):
    """Dagster could not be reached or refused the request; the message is for the user."""


@dataclass(frozen=True)
class BackfillProgress:
    backfill_id: str
    status: str
    targeted: int
    materialized: int
    failed: int
    in_progress: int

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_BACKFILL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.finished and self.failed == 0 and self.status in ("COMPLETED", "COMPLETED_SUCCESS")


@dataclass
class RunEvents:
    """What a run's event log said so far: partitions materialized per asset, failure messages."""

    cursor: str | None = None
    partitions: dict[str, set[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def days_done(self, asset: str) -> int:
        return len(self.partitions.get(asset, set()))


def check_url(url: str) -> str:
    """The webserver URL, refused early (with the likely fix) when it has no http(s) scheme."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise DagsterApiError(
            f"the Dagster URL must start with http:// or https:// (got {url!r}; "
            f"did you mean http://{url.split('://')[-1]}?)"
        )
    return url.rstrip("/")


class DagsterApi:
    def __init__(self, url: str = DEFAULT_DAGSTER_URL, timeout_s: float = 30.0) -> None:
        self.url = check_url(url)
        self.graphql_url = f"{self.url}/graphql"
        self._http = httpx.Client(timeout=timeout_s)

    def _post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(self.graphql_url, json={"query": query, "variables": variables})
        except httpx.HTTPError as exc:
            raise DagsterApiError(
                f"cannot reach Dagster at {self.graphql_url} ({type(exc).__name__}); is `dagster dev` or the "
                "webserver running? Pass --dagster-url to point elsewhere"
            ) from None
        if response.status_code != 200:
            raise DagsterApiError(
                f"Dagster at {self.graphql_url} answered HTTP {response.status_code}: {response.text[:300]}"
            )
        body = response.json()
        if body.get("errors"):
            raise DagsterApiError(f"Dagster refused the request: {body['errors'][0].get('message')}")
        data: dict[str, Any] = body["data"]
        return data

    def launch_asset_backfill(
        self,
        asset_keys: list[str],
        start: str,
        end: str,
        *,
        title: str,
        tags: dict[str, str],
        run_config: dict[str, Any] | None = None,
    ) -> str:
        """One asset backfill over [start, end] for the assets, created atomically; its id."""
        params: dict[str, Any] = {
            "partitionsByAssets": [
                {"assetKey": {"path": [key]}, "partitions": {"range": {"start": start, "end": end}}}
                for key in asset_keys
            ],
            "title": title,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        if run_config:
            params["runConfigData"] = run_config
        result = self._post(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
            raise DagsterApiError(f"Dagster did not launch the backfill ({result['__typename']}): {detail}")
        return str(result["backfillId"])

    def backfill_progress(self, backfill_id: str) -> BackfillProgress:
        result = self._post(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if result["__typename"] != "PartitionBackfill":
            raise DagsterApiError(f"backfill {backfill_id}: {result.get('message', result['__typename'])}")
        statuses = [
            s
            for s in (result.get("assetBackfillData") or {}).get("assetBackfillStatuses", [])
            if s["__typename"] == "AssetPartitionsStatusCounts"
        ]
        # Each day counts once: the first asset of the chain is the one that calls the API.
        first = statuses[0] if statuses else {}
        return BackfillProgress(
            backfill_id=backfill_id,
            status=result["status"],
            targeted=int(first.get("numPartitionsTargeted", result.get("numPartitions") or 0)),
            materialized=int(first.get("numPartitionsMaterialized", 0)),
            failed=max((int(s["numPartitionsFailed"]) for s in statuses), default=0),
            in_progress=int(first.get("numPartitionsInProgress", 0)),
        )

    def _asset_job_selector(self) -> dict[str, str]:
        """The repository (and its code location) whose implicit asset job exists."""
        result = self._post(REPOSITORIES, {})["repositoriesOrError"]
        if result["__typename"] != "RepositoryConnection":
            raise DagsterApiError(f"Dagster could not list its code locations: {result.get('message')}")
        for repo in result["nodes"]:
            if any(job["name"] == ASSET_JOB for job in repo["jobs"]):
                return {"repositoryName": repo["name"], "repositoryLocationName": repo["location"]["name"]}
        raise DagsterApiError("Dagster has no code location with adspipe's assets loaded; check the UI")

    def launch_asset_run(
        self,
        asset_keys: list[str],
        start: str,
        end: str,
        *,
        tags: dict[str, str],
        run_config: dict[str, Any] | None = None,
    ) -> str:
        """One run over the partition range [start, end] of the assets (and their checks); its id.

        What a backfill launches for a range that fits one run, without waiting for the backfill
        daemon's tick: the run coordinator queues it at once.
        """
        params: dict[str, Any] = {
            "selector": {
                **self._asset_job_selector(),
                "jobName": ASSET_JOB,
                "assetSelection": [{"path": [key]} for key in asset_keys],
            },
            "runConfigData": run_config or {},
            "executionMetadata": {
                "tags": [
                    {"key": k, "value": v}
                    for k, v in {**tags, RANGE_START_TAG: start, RANGE_END_TAG: end}.items()
                ]
            },
        }
        result = self._post(LAUNCH_RUN, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
            raise DagsterApiError(f"Dagster did not launch the run ({result['__typename']}): {detail}")
        return str(result["run"]["runId"])

    def run_status_gql(self, run_id: str) -> str:
        result = self._post(RUN_STATUS, {"id": run_id})["runOrError"]
        if result["__typename"] != "Run":
            raise DagsterApiError(f"run {run_id}: {result.get('message', result['__typename'])}")
        return str(result["status"])

    def run_events(self, run_id: str, seen: RunEvents | None = None) -> RunEvents:
        """The run's events after `seen.cursor`, folded into `seen` (materialized partitions, failures)."""
        seen = seen or RunEvents()
        while True:
            result = self._post(RUN_EVENTS, {"id": run_id, "cursor": seen.cursor})["logsForRun"]
            if result["__typename"] != "EventConnection":
                raise DagsterApiError(f"run {run_id}: {result.get('message', result['__typename'])}")
            for event in result["events"]:
                kind = event["__typename"]
                if kind == "MaterializationEvent" and event.get("partition") and event.get("assetKey"):
                    key = "/".join(event["assetKey"]["path"])
                    seen.partitions.setdefault(key, set()).add(event["partition"])
                elif kind in ("ExecutionStepFailureEvent", "RunFailureEvent"):
                    seen.failures.extend(_error_lines(event))
            seen.cursor = result["cursor"]
            if not result["hasMore"]:
                return seen

    def _run_client(self) -> Any:
        # Imported here: dagster_graphql's client pulls in dagster (seconds), which only the
        # job-run path needs; asset runs and backfills are plain GraphQL posts.
        from dagster_graphql import DagsterGraphQLClient

        parsed = urlparse(self.url)
        return DagsterGraphQLClient(
            parsed.hostname or "127.0.0.1",
            port_number=parsed.port,
            use_https=parsed.scheme == "https",
            path_prefix=parsed.path.rstrip("/"),
        )

    def launch_job(self, job_name: str, run_config: dict[str, Any], tags: dict[str, str]) -> str:
        from dagster_graphql import DagsterGraphQLClientError

        try:
            return self._run_client().submit_job_execution(job_name, run_config=run_config, tags=tags)
        except DagsterGraphQLClientError as exc:
            if _connection_failed(exc):
                # The client wraps a refused connection in an error quoting its whole query.
                raise DagsterApiError(
                    f"cannot reach Dagster at {self.graphql_url} (ConnectionError); is `dagster dev` or the "
                    "webserver running? Pass --dagster-url to point elsewhere"
                ) from None
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
            raise DagsterApiError(
                f"Dagster at {self.graphql_url} did not launch {job_name}: {first_line}"
            ) from None
        except Exception as exc:  # requests' connection errors surface here
            raise DagsterApiError(
                f"cannot reach Dagster at {self.graphql_url} ({type(exc).__name__})"
            ) from None

    def run_status(self, run_id: str) -> str:
        try:
            return str(self._run_client().get_run_status(run_id).value)
        except Exception as exc:
            raise DagsterApiError(
                f"cannot read run {run_id} from {self.graphql_url} ({type(exc).__name__})"
            ) from None


def _error_lines(event: dict[str, Any]) -> list[str]:
    """The messages of a failure event, its error and the error's causes, first lines only."""
    error = event.get("error") or {}
    texts = [error.get("message") or event.get("message") or ""]
    texts += [cause.get("message") or "" for cause in error.get("causes") or []]
    return [line for text in texts if (line := text.strip().splitlines()[0].strip() if text.strip() else "")]


def _connection_failed(exc: BaseException) -> bool:
    """Whether a connection error (refused, unreachable host, DNS) is among the causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # At the bottom of requests' chain: the socket's refused / reset / timed out, or no DNS.
        if isinstance(current, ConnectionError | TimeoutError | socket.gaierror):
            return True
        current = current.__cause__ or current.__context__
    return False
