"""Bundles of notebook 13's three models for bench_serving, made from the blend that 13 saved, and test payments.

    python benchmarks/fraud_bundles.py OUT        # after a default run of notebook 13
    python benchmarks/bench_serving.py --scorer OUT/blend --payloads OUT/payments.json --clients sockets \
        --requests 1000 --results benchmarks/results/serving_fraud_blend.md
    (the same with OUT/network and OUT/payments.json; OUT/trees with OUT/payments_trees.json)

OUT/trees serves the gradient boosting alone (history.TreeScorer), OUT/network the GRU alone (its history store
and model.keras), OUT/blend the bundle 13 serves. The payments are the first 20,000 of 13's test period.
"""
import copy
import json
import shutil
import sys
from pathlib import Path

import joblib
import pandas as pd

from dlcourse import course, fraud, history, pipelines, prepare, serving

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
blend_dir = course.generated_dir() / "fraud_model"
scorer = joblib.load(blend_dir / "scorer.joblib")
settings = json.loads((blend_dir / "bundle.json").read_text())
serving.save_bundle(out / "trees", history.TreeScorer(scorer.trees), history.TreeScorer.fields,
                    "gradient boosting v1", max_body_bytes=256_000)
net = copy.copy(scorer)
net.trees, net.blend = None, None
serving.save_bundle(out / "network", net, scorer.fields, "network v1", max_body_bytes=256_000)
shutil.copy(blend_dir / "model.keras", out / "network" / "model.keras")
shutil.copytree(blend_dir, out / "blend", dirs_exist_ok=True)
files = pipelines.feature_files(prepare.feature_set(1_000_000, 42, 4))
stamps = pd.concat([pd.read_parquet(f, columns=["timestamp"]) for f in files])["timestamp"]
test = fraud.load_period(files, after=stamps.quantile(0.8))
fields = scorer.fields
sent = test.frame[list(fields)].head(20_000)
sent = sent.assign(**{f: sent[f].astype("float64").fillna(0.0) for f, k in fields.items() if k == "number"})
(out / "payments.json").write_text(json.dumps(sent.to_dict("records")))
trees_only = list(history.TreeScorer.fields)
(out / "payments_trees.json").write_text(json.dumps(sent[trees_only].to_dict("records")))
print(f"bundles of the three models (from {settings['version']}) and payments in {out}")
