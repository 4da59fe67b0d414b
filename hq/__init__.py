"""HQ (本部): the ledger (first writer wins, double-vote alerts, the voted-flag stream), its store,
the ingest server and its listener, what HQ checks in a check-in's body, roll publishing, the
records the console and the office read, the revocation list, the enrollment server, HQ's own
procedures (不在者投票, paper backup) and its backup."""
