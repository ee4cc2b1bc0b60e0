#!/usr/bin/env python3
"""Scores column classifications against bench/scan/columns.toml.

    python3 bench/scan/score_columns.py --labels bench/scan/columns.toml \
        --pred predicted.jsonl [--out result.json]

A column is flagged when the classifier gives it a category. Recall: labelled
personal-data columns flagged / labelled columns. Precision: flagged columns that are
labelled / flagged columns. Category agreement: flagged labelled columns whose category
is the label's. Columns under [ambiguous] are left out. Standard library only.
"""
import argparse
import json
import tomllib
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--pred", type=Path, required=True)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    labels_doc = tomllib.loads(args.labels.read_text(encoding="utf-8"))
    ambiguous = set(labels_doc.get("ambiguous", {}).get("columns", []))
    labels = {}
    for db, cols in labels_doc.items():
        if db == "ambiguous":
            continue
        for col, cat in cols.items():
            labels[f"{db}.{col}"] = cat
    preds = {}
    for line in args.pred.read_text(encoding="utf-8").splitlines():
        if line.strip():
            p = json.loads(line)
            preds[f"{p['db']}.{p['table']}.{p['column']}"] = p
    missing_labels = sorted(set(labels) - set(preds))
    flagged = {k for k, p in preds.items() if p["category"] and k not in ambiguous}
    tp = sorted(k for k in flagged if k in labels)
    fp = sorted(k for k in flagged if k not in labels)
    fn = sorted(k for k in labels if k not in flagged)
    same = [k for k in tp if preds[k]["category"] == labels[k]]
    result = {
        "columns": len(preds) - len(ambiguous & set(preds)),
        "labelled": len(labels),
        "flagged": len(flagged),
        "recall": len(tp) / len(labels) if labels else None,
        "precision": len(tp) / len(flagged) if flagged else None,
        "category_agreement": len(same) / len(tp) if tp else None,
        "false_positives": {k: preds[k]["category"] for k in fp},
        "false_negatives": {k: labels[k] for k in fn},
        "other_category": {k: [labels[k], preds[k]["category"]] for k in tp if k not in same},
        "labels_without_column": missing_labels,
    }
    print(f"columns {result['columns']}, labelled personal {result['labelled']}, flagged {result['flagged']}")
    print(f"recall {100 * result['recall']:.1f} %  precision {100 * result['precision']:.1f} %  "
          f"same category {100 * result['category_agreement']:.1f} %")
    for name, items in (("missed", result["false_negatives"]), ("flagged, not labelled", result["false_positives"]),
                        ("other category (label, predicted)", result["other_category"])):
        if items:
            print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in items.items()))
    if missing_labels:
        print("labels naming no column: " + ", ".join(missing_labels))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
