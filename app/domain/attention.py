"""What waits for a person (the dashboard's Needs attention): the words that decide which
posts and import lines are in it. Queries read these; no code is retyped elsewhere."""

from datetime import timedelta

# A platform's considered "no" about a video (not a passing failure, nor our key's or plan's
# problem): the post keeps its last stats, and only a person can tell whether to reject it
# or wait (app.platforms.contract.FetchErrorKind; tests/domain/test_attention.py).
REFUSALS = ("not_found", "private", "withheld", "under_review")

# A bulk import line's outcomes that need no one: the video was added, or was tracked
# already. Every other outcome is a line that failed (app.services.post_imports).
IMPORT_ADDED = "added"
IMPORT_ALREADY_TRACKED = "already_tracked"
IMPORT_SETTLED = (IMPORT_ADDED, IMPORT_ALREADY_TRACKED)

# Imports are kept for good; their failed lines wait this long for someone to paste them
# again, put right, and then leave the inbox.
FAILED_LINES_FOR = timedelta(days=7)
