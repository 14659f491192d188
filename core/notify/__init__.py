"""Notifications to the engineers: composed (`messages`), queued in the caller's transaction
(`outbox`), delivered by e-mail (`email`) and webhook (`webhook`) with retries (`dispatcher`),
by the long-running `service`."""

from __future__ import annotations


class DeliveryError(Exception):
    """One delivery attempt failed; the message says where and why (connection refused, login
    refused, HTTP 503 …), without secrets. The dispatcher retries."""
