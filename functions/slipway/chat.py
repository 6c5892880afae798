"""The chat topic's message: a Slipway notification as a custom notification of AWS's chat integration.

Amazon Q Developer in chat applications (formerly AWS Chatbot) renders an SNS message in
Slack, Microsoft Teams or Amazon Chime only when it follows its custom-notification schema
(``version`` "1.0", ``source`` "custom", ``content`` and ``metadata``). Each Slipway message
becomes one: a title read at a glance, the reason and stopped-task triage as the
description, the ``slipway`` commands that fit the status as next steps, and one thread per
rollout. Pure: no I/O, so a unit test reaches every rule.
"""

from __future__ import annotations

import json
from typing import Any

from slipway.model import Status
from slipway.notifications import Notification
from slipway.places import Place

VERSION = "1.0"  # the only version the schema accepts
SOURCE = "custom"  # the only source the schema accepts
TEXT_TYPE = "client-markdown"  # the only textType the schema supports
# Slipway's own bounds, not AWS's: the custom-notification page
# (https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html) gives each field's
# meaning and which are required, and no length Slipway could confirm. A title a person reads
# at a glance stays short, and the whole message well inside SNS's 256 KB; longer text is cut
# here, with "...", rather than left to each chat client.
TITLE_LIMIT = 250
DESCRIPTION_LIMIT = 8000
ELLIPSIS = "..."
# Statuses after which on-call may want the previous revision back.
ROLL_BACK_AFTER = frozenset({Status.FAILED, Status.ROLLED_BACK, Status.TIMED_OUT})


def chat_message(notification: Notification, home: Place | None = None) -> dict[str, Any]:
    """The custom notification of ``notification`` (``home``: the stack's own account and Region)."""
    message = notification.placed(home) if home else notification
    title = chat_title(message, home)
    content: dict[str, Any] = {
        "textType": TEXT_TYPE,
        "title": title,
        "description": chat_description(message),
        "keywords": keywords(message),
    }
    steps = next_steps(message)
    if steps:
        content["nextSteps"] = steps
    return {
        "version": VERSION,
        "source": SOURCE,
        "content": content,
        "metadata": {
            "threadId": thread_id(message),
            "summary": title,
            "eventType": message.status,
            "relatedResources": related_resources(message),
            "additionalContext": additional_context(message),
        },
    }


def chat_entry(notification: Notification, entry_id: str, home: Place | None = None) -> dict[str, Any]:
    """A PublishBatch entry for the chat topic: the custom notification, with the main topic's Subject and
    filterable attributes (so a filter policy means the same on both topics)."""
    message = notification.placed(home) if home else notification
    return {
        "Id": entry_id,
        "Subject": message.subject(home),
        "Message": json.dumps(chat_message(message, home)),
        "MessageAttributes": message.attributes(),
    }


def chat_title(notification: Notification, home: Place | None = None) -> str:
    """``STATUS repository:tag on cluster/service`` (with the account and Region when they are not ``home``),
    ``STATUS repository:tag for rule RULE`` without a service; cut to TITLE_LIMIT."""
    n = notification
    image = f"{n.repository or '?'}:{n.tag}" if n.tag else (n.repository or "?")
    if n.service:
        where = f" on {n.cluster}/{n.service}{n.elsewhere(home)}"
    elif n.rule or n.parameter:
        where = f" for rule {n.rule or n.parameter}"
    else:
        where = ""
    return cut(f"{n.status} {image}{where}", TITLE_LIMIT)


def chat_description(notification: Notification) -> str:
    """The reason, then the stopped tasks (or a rule's problems), one bullet each; cut to DESCRIPTION_LIMIT."""
    n = notification
    # A rule's reason is its problems joined: listed once, as bullets.
    lines = [] if n.problems and n.reason == "; ".join(n.problems) else [n.reason or n.status, ""]
    if n.stopped_reasons:
        lines += ["Stopped tasks:", *(f"• {reason}" for reason in n.stopped_reasons)]
    if n.problems:
        lines += ["Problems:", *(f"• {problem}" for problem in n.problems)]
    return cut("\n".join(lines).strip(), DESCRIPTION_LIMIT)


def next_steps(notification: Notification) -> list[str]:
    """The ``slipway`` commands that fit the status: approve what waits for approval, look at the history of
    the service, roll back after a failure."""
    n = notification
    steps: list[str] = []
    waiting = (n.status == Status.PROGRESS and n.hook_id) or (n.status == Status.SKIPPED and n.held == "approval")
    if waiting and n.rollout_id:
        steps.append(f"slipway approve {n.rollout_id}")
    if n.cluster and n.service:
        service = f"{n.cluster}/{n.service}"
        steps.append(f"slipway history {service}")
        if n.status in ROLL_BACK_AFTER:
            steps.append(f"slipway rollback {service}")
    return steps


def thread_id(notification: Notification) -> str:
    """One thread per rollout; a rule's events (and a rule's ERROR) in the rule's thread; else the event's."""
    n = notification
    if n.rollout_id:
        return n.rollout_id
    if n.parameter or n.rule:
        return n.parameter or f"{n.repository}/{n.rule}"
    return n.event_id or n.status


def keywords(notification: Notification) -> list[str]:
    """Tags the chat client shows under the message: the status, the repository and the service."""
    n = notification
    tags = [n.status, n.repository, f"{n.cluster}/{n.service}" if n.service else n.rule]
    return [tag for tag in tags if tag]


def related_resources(notification: Notification) -> list[str]:
    """The revisions and image the message is about."""
    n = notification
    resources = [n.task_definition, n.previous_task_definition, n.rolled_back_to, n.image]
    return list(dict.fromkeys(r for r in resources if r))


CONTEXT_KEYS = ("rollout_id", "repository", "tag", "cluster", "service", "account", "region", "rule", "strategy")


def additional_context(notification: Notification) -> dict[str, str]:
    """The identifiers a reader searches by, as strings (the schema's additionalContext holds strings only)."""
    values = notification.model_dump()
    return {key: str(values[key]) for key in CONTEXT_KEYS if values.get(key) not in (None, "")}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS
