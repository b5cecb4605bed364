"""The embedded default: a simulated B2B SaaS company with recorded ground truth.

`churnlab simulate` (stage.py) writes the raw data contract (CONTRACTS.md §1) and
`ground_truth.json` (truth.py) to `base.raw_dir`. Modules, in the order data flows:

- spec.py       validated `simulate:` settings
- timegrid.py   day/week indices from one Monday origin, month arithmetic
- world.py      latent state per block of 250 accounts: attributes, users, adoption,
                key-person episodes, NPS cooling, CSM changes, churn drivers
- churn.py      renewal-time churn draw and its calibration to the target rate
- contracts.py  consecutive contract terms, seat changes, cancellation
- history.py    mid-term upgrades, reactivations, export shapes (history / snapshot /
                log_ends_mid_term), the simulator's monthly record of MRR and churn
- observe.py    events, tickets, touchpoints drawn from the latent state
- tables.py     latent state -> the contract's tables
- vocabulary.py the same company in another company's words (`simulate.vocabulary`)
- company.py    one block end to end (deterministic per block)
- messy.py      CSV export with injected faults (`simulate.messy`)
- sinks.py      streaming Parquet / CSV writers (bounded memory)
"""
