"""Driving the definitions: backfills, training runs, replays and the in-process sensor loop."""
