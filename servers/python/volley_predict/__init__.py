"""Python reference servers of the volley prediction API (docs/predict-api.md).

They must answer exactly like the Rust servers in servers/src: the same
features, the same scores, the same statuses.
"""

# The largest text (REST: request body) either server accepts: 64 KiB.
MAX_TEXT_BYTES = 64 * 1024
