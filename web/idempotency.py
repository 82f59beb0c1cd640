"""`Idempotency-Key` on the API's POSTs: a client that retries (after a timeout, a dropped connection) with the same
key gets the first answer again and creates nothing twice. The key is claimed in the database before the work
(so two instances agree), the answer stored after it; the same key with a different body is refused (422), and a
key still being answered elsewhere is a 409 to retry shortly. Keys are per user (or per client without one)."""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable

from flask import Response, current_app, g, make_response, request

from .errors import ApiError

STALE_AFTER = dt.timedelta(minutes=2)  # a claim whose request died is taken over after this


def idempotent(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        if len(key) > 200 or not key.isprintable():
            raise ApiError(400, "validation_failed", "invalid Idempotency-Key",
                           {"Idempotency-Key": "at most 200 printable characters"})
        store = current_app.extensions["store"]
        user = getattr(g, "user", None)
        owner = f"user:{user.name}" if user else "anonymous"
        fingerprint = hashlib.sha256(request.method.encode() + request.path.encode() + request.get_data()).hexdigest()
        earlier = store.claim_idempotency_key(owner, key, request.path, fingerprint, STALE_AFTER)
        if earlier is not None:
            if earlier["request_hash"] != fingerprint:
                raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
            if earlier["status_code"] is None:
                raise ApiError(409, "request_in_progress", "a request with this Idempotency-Key is still being "
                               "answered; retry shortly", headers={"Retry-After": "1"})
            replay = make_response(earlier["response"], earlier["status_code"])
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        try:
            answer: Response = make_response(view(*args, **kwargs))
        except Exception:
            store.release_idempotency_key(owner, key)
            raise
        if answer.status_code < 500 and answer.is_json:
            store.complete_idempotency_key(owner, key, answer.status_code, answer.get_json())
        else:
            store.release_idempotency_key(owner, key)
        return answer
    return wrapper
