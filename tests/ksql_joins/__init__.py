"""Tests of join analysis, planning and the stream-table / table-table operators (J1)."""
