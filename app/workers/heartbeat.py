"""Where workers report that they are alive; /health/ready reads it."""

HEARTBEATS = "viewledger:workers"  # sorted set: worker id -> unix time of its last beat
