#!/usr/bin/env python3
"""Check `leadscore tune` against scikit-learn on the very same features and folds.

`leadscore tune --features-out FEATURES.csv ...` writes one row per contact:
`id, fold, c, converted, base_score, ours_log_odds, <one column per rule>`, where `c`
is the regularisation strength leadscore used for the contact's fold (chosen inside the
other folds, or `--c`) and `ours_log_odds` is leadscore's held-out prediction for the
contact (from the model learned without its fold). This script fits scikit-learn's `LogisticRegression` on the
same rule features with the same held-out split, the same objective (L2 penalty on
standardised features, unpenalised intercept, each fold's C) and prints the held-out ROC AUC
of both, fold by fold and as the mean, plus the largest difference between the two
predictions of any contact.

Run it (after `pip install scikit-learn`):

    cargo run --release -- generate --contacts 5000 --seed 1 --out /tmp/ls
    cargo run --release -- tune --model examples/b2b.toml --contacts /tmp/ls/contacts.csv \
        --events /tmp/ls/events.jsonl --outcomes /tmp/ls/outcomes.csv \
        -o /tmp/ls/tuned.toml --features-out /tmp/ls/features.csv
    python3 bench/tune_sklearn.py /tmp/ls/features.csv

Exit status 1 when the two mean AUCs differ by more than 0.01.
"""

import argparse
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

FIXED = ["id", "fold", "c", "converted", "base_score", "ours_log_odds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("features", help="CSV written by leadscore tune --features-out")
    args = parser.parse_args()

    with open(args.features, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split(",")
    if header[: len(FIXED)] != FIXED:
        sys.exit(f"{args.features}: expected the columns {FIXED} first, found {header[:5]}")
    rules = header[len(FIXED):]
    data = np.genfromtxt(args.features, delimiter=",", skip_header=1, dtype=float,
                         usecols=range(1, len(header)))
    fold = data[:, 0].astype(int)
    c = data[:, 1]
    y = data[:, 2].astype(int)
    base = data[:, 3]
    ours = data[:, 4]
    x = data[:, 5:]

    print(f"{len(y)} contacts, {int(y.sum())} converted, {len(rules)} rule features")
    print(f"{'fold':>4} {'C':>6} {'base':>8} {'leadscore':>10} {'sklearn':>8}")
    base_auc, ours_auc, sk_auc, gaps = [], [], [], []
    for f in sorted(set(fold)):
        train, test = fold != f, fold == f
        if len(set(y[test])) < 2 or len(set(y[train])) < 2:
            continue
        scaler = StandardScaler().fit(x[train])
        # A constant column: StandardScaler leaves it at 0 after centring, as ours does.
        model = LogisticRegression(C=float(c[test][0]), l1_ratio=0, solver="lbfgs", max_iter=10000, tol=1e-10)
        model.fit(scaler.transform(x[train]), y[train])
        sk = model.decision_function(scaler.transform(x[test]))
        base_auc.append(roc_auc_score(y[test], base[test]))
        ours_auc.append(roc_auc_score(y[test], ours[test]))
        sk_auc.append(roc_auc_score(y[test], sk))
        gaps.append(float(np.max(np.abs(sk - ours[test]))))
        print(f"{f:>4} {c[test][0]:>6g} {base_auc[-1]:>8.4f} {ours_auc[-1]:>10.4f} {sk_auc[-1]:>8.4f}")
    mean = lambda v: sum(v) / len(v)
    print(f"mean {'':>6} {mean(base_auc):>8.4f} {mean(ours_auc):>10.4f} {mean(sk_auc):>8.4f}")
    print(f"held-out ROC AUC: leadscore {mean(ours_auc):.4f}, scikit-learn {mean(sk_auc):.4f}, "
          f"base model {mean(base_auc):.4f}")
    print(f"largest difference between the two held-out log-odds of a contact: {max(gaps):.2e}")
    if abs(mean(ours_auc) - mean(sk_auc)) > 0.01:
        print("MISMATCH: the two AUCs differ by more than 0.01")
        sys.exit(1)


if __name__ == "__main__":
    main()
