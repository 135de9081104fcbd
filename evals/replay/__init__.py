"""`routeweave replay`: recorded sessions and `eval qa` runs, re-priced with another pool's prices and,
for query-level policies, re-decided on the recorded questions. Offline and free: no model is called.

    recorded.py  which sessions the ids name (eval qa runs or session ids), with their steps and scores
    reprice.py   every step priced at the pool's price of the model that answered it (`answered_by`)
    redecide.py  a policy's choice per recorded question, scored from the recorded outcomes
    report.py    the totals (JSON) and the Markdown table
    cli.py       the command"""
