"""Turns: driving one (driver), writing its events fenced to this replica's lease (writer), running many in the
background (supervisor), approvals and cancels across processes (approvals, cancels), this process's lease
(replica), the recovery of other replicas' expired turns (recovery), and the wake-ups that tell a turn a
decision about it was committed (wake).

The names below are the package's public face; import them from `assistant.turns`.
"""

from assistant.turns.approvals import db_approver
from assistant.turns.driver import RECORD_END_RETRY_S, STOPPED, drive_turn
from assistant.turns.recovery import recover_expired
from assistant.turns.replica import Replica
from assistant.turns.supervisor import Draining, TurnSupervisor
from assistant.turns.wake import TurnBell
from assistant.turns.writer import EventWriter, OnEvent

__all__ = [
    "RECORD_END_RETRY_S",
    "STOPPED",
    "Draining",
    "EventWriter",
    "OnEvent",
    "Replica",
    "TurnBell",
    "TurnSupervisor",
    "db_approver",
    "drive_turn",
    "recover_expired",
]
