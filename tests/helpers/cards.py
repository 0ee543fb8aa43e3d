"""The content of a rendered Metaflow card: its base64 JSON payloads, decoded."""

from __future__ import annotations

import base64
import re

from tests.helpers.metaflow_env import session_root

PAYLOAD = re.compile(r'window\.__MF_DATA__\["[^"]+"\] = "([A-Za-z0-9+/=]+)"')


def card_payloads(html: str) -> list[str]:
    """The JSON texts a card's HTML embeds (base64 in ``window.__MF_DATA__[...]``)."""
    return [base64.b64decode(p).decode("utf-8", "replace") for p in PAYLOAD.findall(html)]


def card_text(run_id: str, step: str, task_id: str, card_id: str) -> str:
    """The content (decoded JSON text) of a rendered card of a test run, read from the session datastore.

    (The card client resolves a different root than the writer when the datastore root is moved by
    METAFLOW_DATASTORE_SYSROOT_LOCAL, as it is here; users running from the repo are not affected.)
    """
    root = session_root()
    pattern = f"**/{run_id}/steps/{step}/tasks/{task_id}/cards/*-{card_id}-*.html"
    files = sorted(root.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no card matching {pattern} under {root}")
    payloads = card_payloads(files[-1].read_text())
    if not payloads:
        raise ValueError(f"{files[-1]}: no card payload found")
    return "\n".join(payloads)
