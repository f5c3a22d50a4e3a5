"""Every error the HTTP API returns: ``{"error": {"code", "message"}}`` with its status."""

from __future__ import annotations

from fastapi.responses import JSONResponse

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "not_ready",
}


def error_response(status: int, message: str, code: str | None = None) -> JSONResponse:
    code = code or _CODES.get(status, "error")
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})
