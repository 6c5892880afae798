"""How a rollout's outcome moves: conditional transitions, pending notices, the sweep's watch list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slipway.aws.store.items import (
    ROLLOUT_FIELDS,
    digest_item,
    from_item,
    history_sk,
    rule_pk,
    service_pk,
    to_item,
    value,
)
from slipway.aws.store.table import Table
from slipway.errors import AwsError, ConditionFailed
from slipway.model import Rollout


class OutcomeTable(Table):
    """Status transitions of history items, and the ``inflight`` list the sweep reads."""

    def transition(self, rollout: Rollout, status: str, allowed_from: frozenset[str], **changes: Any) -> Rollout | None:
        """Move a rollout to ``status`` if it is still in one of ``allowed_from``.

        Returns the updated rollout, or None when the move lost to a newer one
        (a duplicate or out-of-order event). ``notice`` records the status whose
        notification is still to be sent, so a retry after a failed publish resends it.
        """
        values = {"status": status, "notice": status, **changes}
        names = {f"#{k}": k for k in values}
        updates = {f":{k}": v for k, v in values.items()}
        sets = ", ".join(f"#{k} = :{k}" for k in values if values[k] is not None)
        removes = ", ".join(f"#{k}" for k in values if values[k] is None)
        allowed = {f":from{i}": s for i, s in enumerate(sorted(allowed_from))}
        expression = f"SET {sets}" + (f" REMOVE {removes}" if removes else "")
        moved = self._update_rollout(
            rollout,
            expression,
            f"attribute_exists(pk) AND #status IN ({', '.join(allowed)})",
            names,
            {**{k: v for k, v in updates.items() if v is not None}, **allowed},
        )
        if moved is not None:
            self._after_transition(moved)
        return moved

    def _update_rollout(
        self, rollout: Rollout, expression: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> Rollout | None:
        """One conditional UpdateItem of a rollout's history item: the rollout after it, or None when the condition failed."""
        try:
            response = self._call(
                "UpdateItem",
                self._client.update_item,
                TableName=self._table,
                Key=to_item({"pk": service_pk(rollout.key), "sk": history_sk(rollout)}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
                ReturnValues="ALL_NEW",
            )
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                return None
            raise
        return Rollout(**from_item(response["Attributes"], ROLLOUT_FIELDS))

    def _after_transition(self, rollout: Rollout) -> None:
        """Keep the promotion index and the rule's wave in step with a rollout's outcome."""
        expiration = self._expiration()
        self._call(
            "PutItem",
            self._client.put_item,
            TableName=self._table,
            Item=to_item(digest_item(rollout, expiration)),
        )
        if rollout.status != "DEPLOYING":
            self._leave_wave(rollout)

    def _leave_wave(self, rollout: Rollout) -> None:
        try:
            self._conditional(
                "DeleteItem",
                self._client.delete_item,
                TableName=self._table,
                Key=to_item({"pk": rule_pk(rollout.repository, rollout.rule), "sk": f"inflight#{rollout.key}"}),
                ConditionExpression="rollout_id = :r",
                ExpressionAttributeValues={":r": {"S": rollout.rollout_id}},
            )
        except ConditionFailed:
            pass  # gone already, or a newer rollout of the rule holds this service's slot

    def pending_notice(self, rollout: Rollout) -> str | None:
        response = self._call(
            "GetItem",
            self._client.get_item,
            TableName=self._table,
            Key=to_item({"pk": service_pk(rollout.key), "sk": history_sk(rollout)}),
            ConsistentRead=True,
            ProjectionExpression="notice",
        )
        notice = response.get("Item", {}).get("notice")
        return str(value(notice)) if notice else None

    def notice_sent(self, rollout: Rollout, status: str) -> None:
        """Clear the pending notice once its notification is out."""
        try:
            self._conditional(
                "UpdateItem",
                self._client.update_item,
                TableName=self._table,
                Key=to_item({"pk": service_pk(rollout.key), "sk": history_sk(rollout)}),
                UpdateExpression="REMOVE notice",
                ConditionExpression="notice = :s",
                ExpressionAttributeValues={":s": {"S": status}},
            )
        except ConditionFailed:
            pass  # a later status is pending; it owns the notice now

    # -- rollouts still waiting for an outcome --------------------------------
    def untrack(self, rollout: Rollout) -> None:
        self._call(
            "DeleteItem",
            self._client.delete_item,
            TableName=self._table,
            Key=to_item({"pk": "inflight", "sk": f"{rollout.started_at.isoformat()}#{rollout.rollout_id}"}),
        )

    def tracked_before(self, cutoff: datetime) -> list[str]:
        """Ids of watched rollouts started before ``cutoff``, oldest first."""
        items = self._query(
            KeyConditionExpression="pk = :pk AND sk < :cutoff",
            ExpressionAttributeValues={":pk": {"S": "inflight"}, ":cutoff": {"S": cutoff.isoformat()}},
        )
        return [str(value(i["rollout_id"])) for i in items]

    # -- strategy rollouts: their stages, and who acted on them ------------------
    def advance_stage(
        self, rollout: Rollout, stage: str | None, changed_at: datetime, progress: str | None
    ) -> Rollout | None:
        """Record a strategy rollout's new stage (and milestone) if nobody recorded one since ``rollout``.

        With a new ``progress`` milestone, ``notice`` becomes PROGRESS until its message is
        out, so a retry after a failed publish resends it. None when the move lost.
        """
        values: dict[str, Any] = {":at": changed_at, ":d": "DEPLOYING", ":t": "TIMED_OUT"}
        sets = ["stage_changed_at = :at"]
        if stage is not None:
            values[":stage"] = stage
            sets.append("#stage = :stage")
        if progress is not None and progress != rollout.progress:
            values.update({":progress": progress, ":notice": "PROGRESS"})
            sets += ["progress = :progress", "notice = :notice"]
        conditions = ["#status IN (:d, :t)"]
        for name, old in (("#stage", rollout.stage), ("progress", rollout.progress)):
            if old is None:  # never set: absent, or written as null with the rest of the rollout
                values[":null"] = "NULL"
                conditions.append(f"(attribute_not_exists({name}) OR attribute_type({name}, :null))")
            else:
                values[f":old_{name.lstrip('#')}"] = old
                conditions.append(f"{name} = :old_{name.lstrip('#')}")
        expression = "SET " + ", ".join(sets) + (" REMOVE #stage" if stage is None else "")
        names = {"#stage": "stage", "#status": "status"}
        return self._update_rollout(rollout, expression, " AND ".join(conditions), names, values)

    def annotate(self, rollout: Rollout, **changes: str | None) -> Rollout:
        """Write down who acted on a rollout (approved or aborted it) and why."""
        values = {k: v for k, v in changes.items() if v is not None}
        updated = self._update_rollout(
            rollout,
            "SET " + ", ".join(f"#{k} = :{k}" for k in values),
            "attribute_exists(pk)",
            {f"#{k}": k for k in values},
            {f":{k}": v for k, v in values.items()},
        )
        if updated is None:
            raise AwsError("UpdateItem", "RolloutNotFound", f"no rollout {rollout.rollout_id} in the table")
        return updated

    def watched_strategies(self) -> list[str]:
        """Ids of watched blue/green, canary and linear rollouts: the sweep looks at each, every run."""
        items = self._query(
            KeyConditionExpression="pk = :pk",
            FilterExpression="attribute_exists(strategy) AND strategy <> :rolling",
            ExpressionAttributeValues={":pk": {"S": "inflight"}, ":rolling": {"S": "rolling"}},
        )
        return [str(value(i["rollout_id"])) for i in items]
