"""meibo terminal (名簿対照端末): the signed roll replica, eligibility rules and check-in journal.

Pure modules here (model, config, kana, wareki, eligibility, events) import no I/O; the store
and the command line are the edges.
"""
